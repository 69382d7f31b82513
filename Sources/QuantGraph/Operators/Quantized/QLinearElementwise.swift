import QuantKernels

/// Reads the per-tensor quantization at inputs (scale, zeroPoint) for a tensor of `type`.
func perTensor(_ inputs: [Operand?], scale: Int, zeroPoint: Int, type: DataType, _ what: String) throws -> QuantizationParameters {
    let p = try QuantizationParameters.read(scale: scale < inputs.count ? inputs[scale] : nil,
                                            zeroPoint: zeroPoint < inputs.count ? inputs[zeroPoint] : nil,
                                            defaultType: type, axis: 0, rank: 1, what: what)
    guard p.isPerTensor else { throw OperatorError("\(what) must be quantized per tensor") }
    guard p.dataType == type else { throw OperatorError("\(what) zero point is \(p.dataType); expected \(type)") }
    return p
}

/// Requires an 8-bit quantized tensor at input `i`.
func require8Bit(_ inputs: [Operand?], _ i: Int, _ what: String) throws -> TensorType {
    let t = try requireInput(inputs, i, what).type
    guard t.dataType == .int8 || t.dataType == .uint8 else { throw OperatorError("\(what) is \(t.dataType); expected int8 or uint8") }
    return t
}

/// Dispatches a step builder on an 8-bit element type.
func on8Bit(_ type: DataType, _ body: (any QuantizedScalar.Type) throws -> Step) rethrows -> Step {
    type == .int8 ? try body(Int8.self) : try body(UInt8.self)
}

/// com.microsoft QLinearAdd / QLinearMul (and the fused QDQ Add/Mul): A, A_scale, A_zero_point,
/// B, B_scale, B_zero_point, C_scale, C_zero_point, with broadcasting; arithmetic as onnxruntime's.
public struct QLinearArithmeticOperator: Operator, QuantizedOutput {
    public var op: QuantKernels.QLinearBinaryOperator
    public var activation: FloatClamp

    public init(_ op: QuantKernels.QLinearBinaryOperator, activation: FloatClamp = .none) {
        self.op = op
        self.activation = activation
    }

    public var kind: String { op == .add ? "QLinearAdd" : "QLinearMul" }
    public var counterCount: Int { 1 }

    func plan(_ inputs: [Operand?]) throws -> (a: QuantizationParameters, b: QuantizationParameters, c: QuantizationParameters, shape: [Int]) {
        let a = try require8Bit(inputs, 0, "A"), b = try require8Bit(inputs, 3, "B")
        guard a.dataType == b.dataType else { throw OperatorError("A is \(a.dataType) but B is \(b.dataType)") }
        return (try perTensor(inputs, scale: 1, zeroPoint: 2, type: a.dataType, "A"),
                try perTensor(inputs, scale: 4, zeroPoint: 5, type: a.dataType, "B"),
                try perTensor(inputs, scale: 6, zeroPoint: 7, type: a.dataType, "C"),
                try broadcastShapes(a.shape, b.shape))
    }

    public func outputQuantization(_ inputs: [Operand?]) -> QuantizationParameters? { try? plan(inputs).c }

    public func outputTypes(for inputs: [Operand?]) throws -> [TensorType] {
        let p = try plan(inputs)
        return [TensorType(p.c.dataType, p.shape)]
    }

    public func makeStep(_ bd: StepBinding) throws -> Step {
        let p = try plan(bd.operands)
        let broadcast = BroadcastPlan(output: p.shape, lhs: bd.input(0).type.shape, rhs: bd.input(3).type.shape)
        let counts = bd.saturationCounters, op = op, activation = activation
        return on8Bit(p.c.dataType) { type in Self.step(type, op, p, broadcast, bd, counts, activation) }
    }

    static func step<T: QuantizedScalar>(_: T.Type, _ op: QuantKernels.QLinearBinaryOperator,
                                         _ p: (a: QuantizationParameters, b: QuantizationParameters, c: QuantizationParameters, shape: [Int]),
                                         _ plan: BroadcastPlan, _ bd: StepBinding, _ counts: UnsafeMutablePointer<SaturationCounts>?,
                                         _ activation: FloatClamp) -> Step {
        let parameters = QLinearBinaryParameters(op, T.self, aScale: p.a.scale, aZero: p.a.zeroPoint, bScale: p.b.scale, bZero: p.b.zeroPoint,
                                                 outputScale: p.c.scale, outputZero: p.c.zeroPoint, activation: activation)
        let lhs = UnsafePointer(bd.input(0).typed(T.self)), rhs = UnsafePointer(bd.input(3).typed(T.self)), y = bd.outputs[0].typed(T.self)
        let state = bd.countingState
        return { BinaryInt8.run(lhs: lhs, rhs: rhs, output: y, plan: plan, parameters: parameters, counts: counts, countingState: state) }
    }
}

/// Unary operators on 8-bit data through a 256-entry table built at load: com.microsoft
/// QLinearSigmoid and QLinearLeakyRelu (X, X_scale, X_zero_point, Y_scale, Y_zero_point), and any
/// float unary between a DequantizeLinear and a QuantizeLinear in QDQ models.
public struct QLinearLookupOperator: Operator, QuantizedOutput {
    public enum Function: Sendable, Equatable { case sigmoid, leakyRelu(alpha: Float), float(UnaryFloatOperator) }
    public var function: Function
    public init(_ function: Function) { self.function = function }

    public var kind: String {
        switch function {
        case .sigmoid: "QLinearSigmoid"
        case .leakyRelu: "QLinearLeakyRelu"
        case .float: "QLinearLookup"
        }
    }
    public var counterCount: Int { 1 }

    func plan(_ inputs: [Operand?]) throws -> (x: QuantizationParameters, y: QuantizationParameters) {
        let x = try require8Bit(inputs, 0, "X")
        return (try perTensor(inputs, scale: 1, zeroPoint: 2, type: x.dataType, "X"),
                try perTensor(inputs, scale: 3, zeroPoint: 4, type: x.dataType, "Y"))
    }

    public func outputQuantization(_ inputs: [Operand?]) -> QuantizationParameters? { try? plan(inputs).y }

    public func outputTypes(for inputs: [Operand?]) throws -> [TensorType] {
        _ = try plan(inputs)
        return [inputs[0]!.type]
    }

    public func makeStep(_ bd: StepBinding) throws -> Step {
        let p = try plan(bd.operands)
        let count = bd.outputs[0].type.elementCount, counts = bd.saturationCounters, function = function
        return on8Bit(p.x.dataType) { type in Self.step(type, function, p.x, p.y, bd, count, counts) }
    }

    static func step<T: QuantizedScalar>(_: T.Type, _ function: Function, _ x: QuantizationParameters, _ y: QuantizationParameters,
                                         _ bd: StepBinding, _ count: Int, _ counts: UnsafeMutablePointer<SaturationCounts>?) -> Step {
        let table: LookupTable8 = switch function {
        case .sigmoid: .sigmoid(T.self, inputScale: x.scale, inputZero: x.zeroPoint, outputScale: y.scale, outputZero: y.zeroPoint)
        case let .leakyRelu(alpha): .leakyRelu(T.self, alpha: alpha, inputScale: x.scale, inputZero: x.zeroPoint, outputScale: y.scale, outputZero: y.zeroPoint)
        case let .float(op):
            LookupTable8(T.self, inputScale: x.scale, inputZero: x.zeroPoint, outputScale: y.scale, outputZero: y.zeroPoint,
                         function: { value in var v = value, r: Float = 0; UnaryFloat.run(op, input: &v, output: &r, count: 1); return r })
        }
        let input = UnsafePointer(bd.input(0).typed(T.self)), output = bd.outputs[0].typed(T.self)
        return { table.run(input: input, output: output, count: count, counts: counts) }
    }
}
