import QuantKernels

/// Elementwise float activations: Relu, LeakyRelu, Sigmoid, HardSigmoid, HardSwish, Tanh,
/// and Clip with bounds known at load time.
public struct UnaryOperator: Operator {
    public var op: UnaryFloatOperator
    public init(_ op: UnaryFloatOperator) { self.op = op }

    public var kind: String {
        switch op {
        case .relu: "Relu"
        case .leakyRelu: "LeakyRelu"
        case .clip: "Clip"
        case .sigmoid: "Sigmoid"
        case .hardSigmoid: "HardSigmoid"
        case .hardSwish: "HardSwish"
        case .tanh: "Tanh"
        case .identity: "Identity"
        }
    }

    /// The clamp this activation is, when it can be fused into a producer's epilogue.
    public var asClamp: FloatClamp? {
        switch op {
        case .relu: FloatClamp(lower: 0)
        case let .clip(lower, upper): FloatClamp(lower: lower, upper: upper)
        default: nil
        }
    }

    public func outputTypes(for inputs: [Operand?]) throws -> [TensorType] {
        [try requireFloat(inputs, 0, "X").type]
    }

    public func makeStep(_ b: StepBinding) throws -> Step {
        let x = UnsafePointer(b.input(0).floats()), y = b.outputs[0].floats()
        let count = b.outputs[0].type.elementCount, op = op
        return { UnaryFloat.run(op, input: x, output: y, count: count) }
    }
}

/// ONNX Clip from opset 11: bounds are optional inputs. Bounds known at load become a
/// `UnaryOperator`; bounds computed at run time are read before each run.
public struct ClipOperator: Operator {
    public init() {}
    public var kind: String { "Clip" }

    public func outputTypes(for inputs: [Operand?]) throws -> [TensorType] {
        let x = try requireInput(inputs, 0, "input")
        guard x.type.dataType == .float32 || x.type.dataType.isInteger else {
            throw OperatorError("input 0 (input) is \(x.type.dataType); expected float32 or an integer type")
        }
        for i in 1..<min(inputs.count, 3) {
            if let bound = inputs[i], bound.type.dataType != x.type.dataType || bound.type.elementCount != 1 {
                throw OperatorError("input \(i) (\(i == 1 ? "min" : "max")) is \(bound.type); expected a \(x.type.dataType) scalar")
            }
        }
        return [x.type]
    }

    /// The bounds when both are known at load time (an absent bound is unbounded).
    public func constantClamp(_ inputs: [Operand?]) -> FloatClamp? {
        func bound(_ i: Int, _ absent: Float) -> Float? {
            guard i < inputs.count, let operand = inputs[i] else { return absent }
            return operand.constant?.scalars(as: Float.self).first
        }
        guard let lower = bound(1, -.infinity), let upper = bound(2, .infinity) else { return nil }
        return FloatClamp(lower: lower, upper: upper)
    }

    public func makeStep(_ b: StepBinding) throws -> Step {
        switch b.input(0).type.dataType {
        case .float32: break
        case .int8: return integerStep(Int8.self, b)
        case .uint8: return integerStep(UInt8.self, b)
        case .int16: return integerStep(Int16.self, b)
        case .uint16: return integerStep(UInt16.self, b)
        case .int32: return integerStep(Int32.self, b)
        case .uint32: return integerStep(UInt32.self, b)
        case .int64: return integerStep(Int64.self, b)
        case .uint64: return integerStep(UInt64.self, b)
        default: throw OperatorError("Clip on \(b.input(0).type.dataType) is not supported")
        }
        let x = UnsafePointer(b.input(0).floats()), y = b.outputs[0].floats()
        let count = b.outputs[0].type.elementCount
        let lowerPointer = b.hasInput(1) ? UnsafePointer(b.input(1).floats()) : nil
        let upperPointer = b.hasInput(2) ? UnsafePointer(b.input(2).floats()) : nil
        return {
            let lower = lowerPointer?.pointee ?? -.infinity, upper = upperPointer?.pointee ?? .infinity
            UnaryFloat.run(.clip(lower: lower, upper: upper), input: x, output: y, count: count)
        }
    }

    /// Integer Clip: min(max(x, lower), upper), absent bounds being the type's limits.
    private func integerStep<T: FixedWidthInteger>(_: T.Type, _ b: StepBinding) -> Step {
        let x = UnsafePointer(b.input(0).typed(T.self)), y = b.outputs[0].typed(T.self)
        let count = b.outputs[0].type.elementCount
        let lowerPointer = b.hasInput(1) ? UnsafePointer(b.input(1).typed(T.self)) : nil
        let upperPointer = b.hasInput(2) ? UnsafePointer(b.input(2).typed(T.self)) : nil
        return {
            let lower = lowerPointer?.pointee ?? T.min, upper = upperPointer?.pointee ?? T.max
            for i in 0..<count { y[i] = Swift.min(Swift.max(x[i], lower), upper) }
        }
    }
}
