import QuantKernels

/// Pooling on 8-bit quantized data: MaxPool (the same scale and zero point in and out, no
/// arithmetic), com.microsoft QLinearAveragePool and QLinearGlobalAveragePool
/// (X, x_scale, x_zero_point, y_scale, y_zero_point) with onnxruntime's arithmetic.
public struct QLinearPoolOperator: Operator, QuantizedOutput {
    public enum Kind: Sendable, Equatable { case max, average(countIncludePad: Bool), globalAverage }
    public var pool: Kind
    public var window: WindowAttributes

    public init(_ pool: Kind, window: WindowAttributes = WindowAttributes()) {
        self.pool = pool
        self.window = window
    }

    public var kind: String {
        switch pool {
        case .max: "MaxPool"
        case .average: "QLinearAveragePool"
        case .globalAverage: "QLinearGlobalAveragePool"
        }
    }
    public var counterCount: Int { pool == .max ? 0 : 1 }

    func geometry(_ x: TensorType) throws -> Pool2DGeometry? {
        if pool == .globalAverage { return nil }
        let floatInput = Operand(type: TensorType(.float32, x.shape))
        return try PoolOperator(.max, window: window).geometry([floatInput])
    }

    func parameters(_ inputs: [Operand?]) throws -> (x: QuantizationParameters, y: QuantizationParameters)? {
        guard pool != .max else { return nil }
        let x = try require8Bit(inputs, 0, "X")
        return (try perTensor(inputs, scale: 1, zeroPoint: 2, type: x.dataType, "X"),
                try perTensor(inputs, scale: 3, zeroPoint: 4, type: x.dataType, "Y"))
    }

    public func outputQuantization(_ inputs: [Operand?]) -> QuantizationParameters? { (try? parameters(inputs))??.y }

    public func outputTypes(for inputs: [Operand?]) throws -> [TensorType] {
        let x = try require8Bit(inputs, 0, "X")
        _ = try parameters(inputs)
        if pool == .globalAverage {
            guard x.rank >= 3 else { throw OperatorError("X has shape \(x.shape); expected rank ≥ 3") }
            return [TensorType(x.dataType, [x.shape[0], x.shape[1]] + [Int](repeating: 1, count: x.rank - 2))]
        }
        let g = try geometry(x)!
        return [TensorType(x.dataType, x.rank == 4 ? [g.batch, g.channels, g.outHeight, g.outWidth] : [g.batch, g.channels, g.outWidth])]
    }

    public func makeStep(_ bd: StepBinding) throws -> Step {
        let x = bd.input(0).type
        let g = try geometry(x), p = try parameters(bd.operands), counts = bd.saturationCounters, pool = pool
        if case .average = pool, let g, g.dilationHeight != 1 || g.dilationWidth != 1 {
            throw OperatorError("dilated QLinearAveragePool is not supported")
        }
        return on8Bit(x.dataType) { type in Self.step(type, pool, g, p, bd, counts) }
    }

    static func step<T: QuantizedScalar>(_: T.Type, _ pool: Kind, _ g: Pool2DGeometry?, _ p: (x: QuantizationParameters, y: QuantizationParameters)?,
                                         _ bd: StepBinding, _ counts: UnsafeMutablePointer<SaturationCounts>?) -> Step {
        let input = UnsafePointer(bd.input(0).typed(T.self)), output = bd.outputs[0].typed(T.self)
        switch pool {
        case .max:
            let g = g!
            return { PoolInt8.max(input: input, output: output, geometry: g) }
        case let .average(countIncludePad):
            let g = g!, p = p!
            let parameters = AveragePoolInt8Parameters(T.self, xScale: p.x.scale, xZero: p.x.zeroPoint, yScale: p.y.scale, yZero: p.y.zeroPoint)
            return { PoolInt8.average(input: input, output: output, geometry: g, countIncludePad: countIncludePad, parameters: parameters, counts: counts) }
        case .globalAverage:
            let p = p!, shape = bd.input(0).type.shape
            let planes = shape[0] * shape[1], spatial = shape.dropFirst(2).reduce(1, *)
            let parameters = AveragePoolInt8Parameters(T.self, xScale: p.x.scale, xZero: p.x.zeroPoint, yScale: p.y.scale, yZero: p.y.zeroPoint)
            return { PoolInt8.globalAverage(input: input, output: output, planes: planes, spatial: spatial, parameters: parameters, counts: counts) }
        }
    }
}

/// com.microsoft QLinearSoftmax (X, X_scale, x_zero_point, y_scale, y_zero_point), with the axis
/// semantics of the `opset` attribute (before 13: coerced to 2-D at axis), as onnxruntime computes it.
public struct QLinearSoftmaxOperator: Operator, QuantizedOutput {
    public var axis: Int
    public var coerceTo2D: Bool
    public init(axis: Int, coerceTo2D: Bool) {
        self.axis = axis
        self.coerceTo2D = coerceTo2D
    }

    public var kind: String { "QLinearSoftmax" }
    public var counterCount: Int { 1 }

    func plan(_ inputs: [Operand?]) throws -> (x: QuantizationParameters, y: QuantizationParameters, outer: Int, axisSize: Int, inner: Int) {
        let x = try require8Bit(inputs, 0, "X")
        let a = try normalizeAxis(axis, rank: x.rank)
        let outer = x.shape.prefix(a).reduce(1, *)
        let (axisSize, inner) = coerceTo2D ? (x.shape.dropFirst(a).reduce(1, *), 1) : (x.shape[a], x.shape.dropFirst(a + 1).reduce(1, *))
        return (try perTensor(inputs, scale: 1, zeroPoint: 2, type: x.dataType, "X"),
                try perTensor(inputs, scale: 3, zeroPoint: 4, type: x.dataType, "Y"), outer, axisSize, inner)
    }

    public func outputQuantization(_ inputs: [Operand?]) -> QuantizationParameters? { try? plan(inputs).y }

    public func outputTypes(for inputs: [Operand?]) throws -> [TensorType] {
        _ = try plan(inputs)
        return [inputs[0]!.type]
    }

    public func makeStep(_ bd: StepBinding) throws -> Step {
        let p = try plan(bd.operands), counts = bd.saturationCounters
        return on8Bit(p.x.dataType) { type in Self.step(type, p, bd, counts) }
    }

    static func step<T: QuantizedScalar>(_: T.Type, _ p: (x: QuantizationParameters, y: QuantizationParameters, outer: Int, axisSize: Int, inner: Int),
                                         _ bd: StepBinding, _ counts: UnsafeMutablePointer<SaturationCounts>?) -> Step {
        let parameters = SoftmaxInt8Parameters(T.self, xScale: p.x.scale, yScale: p.y.scale, yZero: p.y.zeroPoint, reduceLength: p.axisSize)
        let input = UnsafePointer(bd.input(0).typed(T.self)), output = bd.outputs[0].typed(T.self)
        let (outer, axisSize, inner) = (p.outer, p.axisSize, p.inner)
        return { SoftmaxInt8.run(input: input, output: output, outer: outer, axisSize: axisSize, inner: inner, parameters: parameters, counts: counts) }
    }
}

/// com.microsoft QLinearConcat: Y_scale, Y_zero_point, then (X, X_scale, X_zero_point) per input;
/// each input is requantized to Y's parameters through a table, or copied when they are equal.
public struct QLinearConcatOperator: Operator, QuantizedOutput {
    public var axis: Int
    public init(axis: Int) { self.axis = axis }
    public var kind: String { "QLinearConcat" }
    public var counterCount: Int { 1 }

    func plan(_ inputs: [Operand?]) throws -> (y: QuantizationParameters, xs: [QuantizationParameters], shape: [Int], type: DataType) {
        guard inputs.count >= 5, (inputs.count - 2) % 3 == 0 else {
            throw OperatorError("expected Y_scale, Y_zero_point and (X, X_scale, X_zero_point) triples; got \(inputs.count) inputs")
        }
        let first = try require8Bit(inputs, 2, "X0")
        let y = try perTensor(inputs, scale: 0, zeroPoint: 1, type: first.dataType, "Y")
        var xs: [QuantizationParameters] = []
        var floatInputs: [Operand?] = []
        for i in stride(from: 2, to: inputs.count, by: 3) {
            let x = try require8Bit(inputs, i, "X\((i - 2) / 3)")
            xs.append(try perTensor(inputs, scale: i + 1, zeroPoint: i + 2, type: first.dataType, "X\((i - 2) / 3)"))
            floatInputs.append(Operand(type: TensorType(.float32, x.shape)))
        }
        let shape = try ConcatOperator(axis: axis).outputTypes(for: floatInputs)[0].shape
        return (y, xs, shape, first.dataType)
    }

    public func outputQuantization(_ inputs: [Operand?]) -> QuantizationParameters? { try? plan(inputs).y }

    public func outputTypes(for inputs: [Operand?]) throws -> [TensorType] {
        let p = try plan(inputs)
        return [TensorType(p.type, p.shape)]
    }

    public func makeStep(_ bd: StepBinding) throws -> Step {
        let p = try plan(bd.operands), counts = bd.saturationCounters
        let a = try normalizeAxis(axis, rank: p.shape.count)
        let outer = p.shape.prefix(a).reduce(1, *), inner = p.shape.dropFirst(a + 1).reduce(1, *)
        let outputBlock = p.shape[a] * inner
        return on8Bit(p.type) { type in Self.step(type, p.y, p.xs, bd, outer, inner, outputBlock, a, counts) }
    }

    static func step<T: QuantizedScalar>(_: T.Type, _ y: QuantizationParameters, _ xs: [QuantizationParameters], _ bd: StepBinding,
                                         _ outer: Int, _ inner: Int, _ outputBlock: Int, _ axis: Int,
                                         _ counts: UnsafeMutablePointer<SaturationCounts>?) -> Step {
        let output = bd.outputs[0].typed(T.self)
        var parts: [(UnsafePointer<T>, QLinearConcatInput, Int, Int)] = []
        var offset = 0
        for (j, x) in xs.enumerated() {
            let input = bd.input(2 + 3 * j)
            let block = input.type.shape[axis] * inner
            parts.append((UnsafePointer(input.typed(T.self)),
                          QLinearConcatInput(T.self, inputScale: x.scale, inputZero: x.zeroPoint, outputScale: y.scale, outputZero: y.zeroPoint),
                          block, offset))
            offset += block
        }
        return {
            for i in parts.indices {  // index loop: no iterator allocation in debug builds
                let (input, plan, block, offset) = parts[i]
                ConcatInt8.run(input: input, output: output, plan: plan, outer: outer, inputBlock: block, outputBlock: outputBlock, offset: offset, counts: counts)
            }
        }
    }
}

/// ONNX DynamicQuantizeLinear: uint8 y with its scale and zero point computed from x's range per run.
public struct DynamicQuantizeLinearOperator: Operator {
    public init() {}
    public var kind: String { "DynamicQuantizeLinear" }
    public var counterCount: Int { 1 }

    public func outputTypes(for inputs: [Operand?]) throws -> [TensorType] {
        let x = try requireFloat(inputs, 0, "x").type
        return [TensorType(.uint8, x.shape), TensorType(.float32, []), TensorType(.uint8, [])]
    }

    public func makeStep(_ bd: StepBinding) throws -> Step {
        let x = UnsafePointer(bd.input(0).floats()), y = bd.outputs[0].typed(UInt8.self)
        let scale = bd.outputs.count > 1 ? bd.outputs[1].floats() : nil
        let zero = bd.outputs.count > 2 ? bd.outputs[2].typed(UInt8.self) : nil
        let count = bd.outputs[0].type.elementCount, counts = bd.saturationCounters
        return {
            let (s, z) = DynamicQuantizeLinear.run(input: x, output: y, count: count, counts: counts)
            scale?.pointee = s
            zero?.pointee = UInt8(truncatingIfNeeded: z)
        }
    }
}
