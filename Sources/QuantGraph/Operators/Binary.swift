import QuantKernels

/// Elementwise Add, Sub, Mul, Div (and PRelu, Max, Min) with numpy broadcasting. Float runs the
/// SIMD kernel; integer types (shape arithmetic, index math) run a plain loop over indices
/// computed at load time.
public struct BinaryOperator: Operator {
    public var op: BinaryFloatOperator
    public var clamp: FloatClamp
    /// PRelu broadcasts the slope to the input's shape only (unidirectional).
    public var unidirectional: Bool

    public init(_ op: BinaryFloatOperator, clamp: FloatClamp = .none, unidirectional: Bool = false) {
        self.op = op
        self.clamp = clamp
        self.unidirectional = unidirectional
    }

    public var kind: String {
        switch op {
        case .add: "Add"
        case .sub: "Sub"
        case .mul: "Mul"
        case .div: "Div"
        case .max: "Max"
        case .min: "Min"
        case .prelu: "PRelu"
        }
    }

    public func outputTypes(for inputs: [Operand?]) throws -> [TensorType] {
        let a = try requireInput(inputs, 0, "A"), b = try requireInput(inputs, 1, "B")
        guard a.type.dataType == b.type.dataType else {
            throw OperatorError("operand types differ: \(a.type.dataType) and \(b.type.dataType)")
        }
        guard a.type.dataType == .float32 || (a.type.dataType.isInteger && op != .prelu) else {
            throw OperatorError("\(kind) on \(a.type.dataType) is not supported (float32, or integers for shape arithmetic)")
        }
        let shape = try broadcastShapes(a.type.shape, b.type.shape)
        if unidirectional && shape != a.type.shape {
            throw OperatorError("slope \(b.type.shape) does not broadcast to the input's shape \(a.type.shape)")
        }
        return [TensorType(a.type.dataType, shape)]
    }

    public func makeStep(_ bd: StepBinding) throws -> Step {
        let a = bd.input(0), b = bd.input(1), y = bd.outputs[0]
        if y.type.dataType == .float32 {
            let plan = BroadcastPlan(output: y.type.shape, lhs: a.type.shape, rhs: b.type.shape)
            let (lhs, rhs, out, op, clamp) = (UnsafePointer(a.floats()), UnsafePointer(b.floats()), y.floats(), op, clamp)
            return { BinaryFloat.run(op, lhs: lhs, rhs: rhs, output: out, plan: plan, clamp: clamp) }
        }
        let index = BroadcastIndex(output: y.type.shape, lhs: a.type.shape, rhs: b.type.shape)
        switch y.type.dataType {
        case .int64: return integerStep(Int64.self, a, b, y, index)
        case .int32: return integerStep(Int32.self, a, b, y, index)
        case .int16: return integerStep(Int16.self, a, b, y, index)
        case .int8: return integerStep(Int8.self, a, b, y, index)
        case .uint8: return integerStep(UInt8.self, a, b, y, index)
        case .uint16: return integerStep(UInt16.self, a, b, y, index)
        case .uint32: return integerStep(UInt32.self, a, b, y, index)
        case .uint64: return integerStep(UInt64.self, a, b, y, index)
        default: throw OperatorError("\(kind) on \(y.type.dataType) is not supported")
        }
    }

    /// Integer arithmetic as ONNX defines it: wrapping add/sub/mul, division truncating toward zero
    /// (a zero divisor gives 0 instead of trapping).
    private func integerStep<T: FixedWidthInteger>(_: T.Type, _ a: BoundValue, _ b: BoundValue, _ y: BoundValue, _ index: BroadcastIndex) -> Step {
        let lhs = a.typed(T.self), rhs = b.typed(T.self), out = y.typed(T.self), op = op
        return {
            for o in 0..<index.lhs.count {
                let l = lhs[index.lhs[o]], r = rhs[index.rhs[o]]
                switch op {
                case .add: out[o] = l &+ r
                case .sub: out[o] = l &- r
                case .mul: out[o] = l &* r
                case .div: out[o] = r == 0 ? 0 : l.dividedReportingOverflow(by: r).partialValue
                case .max: out[o] = Swift.max(l, r)
                case .min: out[o] = Swift.min(l, r)
                case .prelu: out[o] = l < 0 ? l &* r : l
                }
            }
        }
    }
}

/// For each output element, the flat index of the element it reads in each broadcast operand.
/// Built at load time; used by the integer paths (small tensors).
public struct BroadcastIndex: Sendable {
    public let lhs: [Int]
    public let rhs: [Int]

    public init(output: [Int], lhs lhsShape: [Int], rhs rhsShape: [Int]) {
        lhs = Self.indices(output: output, operand: lhsShape)
        rhs = Self.indices(output: output, operand: rhsShape)
    }

    public static func indices(output: [Int], operand: [Int]) -> [Int] {
        let count = output.reduce(1, *)
        let strides = contiguousStrides(operand)
        let offset = output.count - operand.count
        var result = [Int](repeating: 0, count: count)
        for flat in 0..<count {
            var rest = flat, index = 0
            for axis in stride(from: output.count - 1, through: 0, by: -1) {
                let coordinate = rest % output[axis]
                rest /= output[axis]
                let operandAxis = axis - offset
                if operandAxis >= 0 && operand[operandAxis] != 1 { index += coordinate * strides[operandAxis] }
            }
            result[flat] = index
        }
        return result
    }
}

/// ONNX Sum: elementwise sum of one or more float tensors with broadcasting.
public struct SumOperator: Operator {
    public init() {}
    public var kind: String { "Sum" }

    public func outputTypes(for inputs: [Operand?]) throws -> [TensorType] {
        guard !inputs.isEmpty else { throw OperatorError("Sum needs at least one input") }
        var shape: [Int] = []
        for i in inputs.indices { shape = try broadcastShapes(shape, try requireFloat(inputs, i, "data_\(i)").type.shape) }
        return [TensorType(.float32, shape)]
    }

    public func makeStep(_ bd: StepBinding) throws -> Step {
        let y = bd.outputs[0], shape = y.type.shape, out = y.floats()
        let first = bd.input(0)
        if bd.inputs.count == 1 {
            let plan = BroadcastPlan(output: shape, lhs: first.type.shape, rhs: [])
            let x = UnsafePointer(first.floats()), zero = bd.scratch.assumingMemoryBound(to: Float.self)
            return { zero.pointee = 0; BinaryFloat.run(.add, lhs: x, rhs: zero, output: out, plan: plan) }
        }
        // out = in0 + in1, then out += in_k. Each plan's lhs is the running sum.
        var plans: [(BroadcastPlan, UnsafePointer<Float>, UnsafePointer<Float>)] = []
        let second = bd.input(1)
        plans.append((BroadcastPlan(output: shape, lhs: first.type.shape, rhs: second.type.shape), UnsafePointer(first.floats()), UnsafePointer(second.floats())))
        for i in 2..<bd.inputs.count {
            let x = bd.input(i)
            plans.append((BroadcastPlan(output: shape, lhs: shape, rhs: x.type.shape), UnsafePointer(out), UnsafePointer(x.floats())))
        }
        return {
            // Index loop: iterating the array directly allocates an iterator box in debug builds.
            for i in plans.indices { BinaryFloat.run(.add, lhs: plans[i].1, rhs: plans[i].2, output: out, plan: plans[i].0) }
        }
    }

    public func scratchByteCount(inputs _: [Operand?], outputs _: [TensorType]) -> Int { 64 }
}
