import QuantKernels

/// Integer convolution: ONNX QLinearConv, and the DequantizeLinear → Conv → QuantizeLinear pattern
/// of QDQ models fused into it. Inputs follow QLinearConv: x, x_scale, x_zero_point, w, w_scale,
/// w_zero_point, y_scale, y_zero_point, B (int32, scale x_scale·w_scale). Weights and every
/// quantization parameter are load-time constants: weights are packed and the per-channel
/// requantization multipliers (x_scale·w_scale[c]) / y_scale computed once.
public struct QLinearConvOperator: Operator {
    public var window: WindowAttributes
    public var groups: Int
    /// A Relu / Clip fused into the requantization clamp (real-valued bounds).
    public var activation: FloatClamp

    public init(window: WindowAttributes, groups: Int = 1, activation: FloatClamp = .none) {
        self.window = window
        self.groups = groups
        self.activation = activation
    }

    public var kind: String { "QLinearConv" }
    public var counterCount: Int { 1 }

    struct Plan {
        var geometry: Conv2DGeometry
        var x: QuantizationParameters, w: QuantizationParameters, y: QuantizationParameters
    }

    func plan(_ inputs: [Operand?]) throws -> Plan {
        let x = try requireInput(inputs, 0, "x").type, w = try requireInput(inputs, 3, "w").type
        guard x.dataType == .int8 || x.dataType == .uint8 else { throw OperatorError("x is \(x.dataType); expected int8 or uint8") }
        guard w.dataType == .int8 || w.dataType == .uint8 else { throw OperatorError("w is \(w.dataType); expected int8 or uint8") }
        let geometry = try ConvOperator.geometry(x: x.shape, w: w.shape, window: window, groups: groups)
        let xp = try QuantizationParameters.read(scale: inputs[1], zeroPoint: inputs[2], defaultType: x.dataType, axis: 1, rank: x.rank, what: "x")
        let wp = try QuantizationParameters.read(scale: inputs[4], zeroPoint: inputs[5], defaultType: w.dataType, axis: 0, rank: w.rank, what: "w")
        let yp = try QuantizationParameters.read(scale: inputs[6], zeroPoint: inputs.count > 7 ? inputs[7] : nil, defaultType: x.dataType, axis: 1, rank: x.rank, what: "y")
        guard xp.isPerTensor, yp.isPerTensor else { throw OperatorError("x and y must be quantized per tensor") }
        guard xp.dataType == x.dataType, wp.dataType == w.dataType else { throw OperatorError("zero point types must match x (\(x.dataType)) and w (\(w.dataType))") }
        guard wp.isPerTensor || wp.scales.count == geometry.outChannels else {
            throw OperatorError("w has \(wp.scales.count) scales; expected 1 or one per output channel (\(geometry.outChannels))")
        }
        guard yp.dataType == .int8 || yp.dataType == .uint8 else { throw OperatorError("y is \(yp.dataType); expected int8 or uint8") }
        if inputs.count > 8, let bias = inputs[8] {
            guard bias.type.dataType == .int32, bias.type.shape == [geometry.outChannels] else {
                throw OperatorError("bias B is \(bias.type); expected int32[\(geometry.outChannels)]")
            }
        }
        return Plan(geometry: geometry, x: xp, w: wp, y: yp)
    }

    public func outputTypes(for inputs: [Operand?]) throws -> [TensorType] {
        let p = try plan(inputs)
        return [TensorType(p.y.dataType, ConvOperator.outputShape(p.geometry, rank: inputs[0]!.type.rank))]
    }

    public func scratchByteCount(inputs: [Operand?], outputs _: [TensorType]) -> Int {
        guard let p = try? plan(inputs) else { return 0 }
        return Conv2DInt8.scratchByteCount(geometry: p.geometry)
    }

    public func makeStep(_ b: StepBinding) throws -> Step {
        let p = try plan(b.operands)
        guard let weights = b.input(3).constant else {
            throw OperatorError("weights w must be known at load time (they are packed when the model loads)")
        }
        let channels = p.geometry.outChannels
        // (x_scale · w_scale[c]) / y_scale, in Float and in this order, as onnxruntime computes it.
        let multipliers = (0..<channels).map { c in (p.x.scale * p.w.scales[p.w.isPerTensor ? 0 : c]) / p.y.scale }
        let weightZeros = (0..<channels).map { c in p.w.zeroPoints[p.w.isPerTensor ? 0 : c] }
        let bias = b.hasInput(8) ? UnsafePointer(b.input(8).typed(Int32.self)) : nil
        let geometry = p.geometry, xZero = p.x.zeroPoint, counts = b.counters, scratch = b.scratch, state = b.countingState
        let acceleration = b.int8Acceleration
        let packed: Conv2DInt8.PackedWeights = switch weights.dataType {
        case .int8: Conv2DInt8.PackedWeights(weights: weights.rawPointer.assumingMemoryBound(to: Int8.self), zeroPoints: weightZeros,
                                             geometry: geometry, acceleration: acceleration)
        default: Conv2DInt8.PackedWeights(weights: weights.rawPointer.assumingMemoryBound(to: UInt8.self), zeroPoints: weightZeros,
                                          geometry: geometry, acceleration: acceleration)
        }
        func step<X: QuantizedScalar, Y: QuantizedScalar>(_: X.Type, _: Y.Type) -> Step {
            var requantization = Requantization.make(Y.self, multipliers: multipliers, zeroPoint: p.y.zeroPoint,
                                                     outputScale: p.y.scale, activation: activation)
            if !b.countsSaturation { requantization.countLow = false; requantization.countHigh = false }
            if !b.countsLowSaturation { requantization.countLow = false }
            if !b.countsHighSaturation { requantization.countHigh = false }
            let x = UnsafePointer(b.input(0).typed(X.self)), y = b.outputs[0].typed(Y.self)
            return {
                Conv2DInt8.run(input: x, inputZero: xZero, packed: packed, bias: bias, output: y, geometry: geometry,
                               requantization: requantization, counts: counts, scratch: scratch, countingState: state)
            }
        }
        switch (p.x.dataType, p.y.dataType) {
        case (.uint8, .uint8): return step(UInt8.self, UInt8.self)
        case (.int8, .int8): return step(Int8.self, Int8.self)
        case (.uint8, _): return step(UInt8.self, Int8.self)
        default: return step(Int8.self, UInt8.self)
        }
    }
}

/// ONNX ConvInteger: int32 output Σ (x − x_zero_point)(w − w_zero_point), no requantization
/// (what `quantize_dynamic` emits, followed by a float scale Mul).
public struct ConvIntegerOperator: Operator {
    public var window: WindowAttributes
    public var groups: Int

    public init(window: WindowAttributes, groups: Int = 1) {
        self.window = window
        self.groups = groups
    }

    public var kind: String { "ConvInteger" }

    func plan(_ inputs: [Operand?]) throws -> (Conv2DGeometry, xZero: Int32, wZeros: [Int32]) {
        let x = try requireInput(inputs, 0, "x").type, w = try requireInput(inputs, 1, "w").type
        guard x.dataType == .int8 || x.dataType == .uint8 else { throw OperatorError("x is \(x.dataType); expected int8 or uint8") }
        guard w.dataType == .int8 || w.dataType == .uint8 else { throw OperatorError("w is \(w.dataType); expected int8 or uint8") }
        let geometry = try ConvOperator.geometry(x: x.shape, w: w.shape, window: window, groups: groups)
        var xZero: Int32 = 0
        if inputs.count > 2, let zero = inputs[2] {
            guard zero.type.elementCount == 1, zero.type.dataType == x.dataType else {
                throw OperatorError("x_zero_point is \(zero.type); expected a \(x.dataType) scalar")
            }
            // Known at load, or computed per run (DynamicQuantizeLinear): then read before each run.
            if let value = zero.constant?.integers() { xZero = Int32(value[0]) }
        }
        var wZeros = [Int32](repeating: 0, count: geometry.outChannels)
        if let zeros = try constantIntegers(inputs, 3, "w_zero_point") {
            guard zeros.count == 1 || zeros.count == geometry.outChannels else {
                throw OperatorError("w_zero_point has \(zeros.count) values; expected 1 or \(geometry.outChannels)")
            }
            wZeros = (0..<geometry.outChannels).map { Int32(zeros[zeros.count == 1 ? 0 : $0]) }
        }
        return (geometry, xZero, wZeros)
    }

    public func outputTypes(for inputs: [Operand?]) throws -> [TensorType] {
        let (g, _, _) = try plan(inputs)
        return [TensorType(.int32, ConvOperator.outputShape(g, rank: inputs[0]!.type.rank))]
    }

    public func scratchByteCount(inputs: [Operand?], outputs _: [TensorType]) -> Int {
        guard let (g, _, _) = try? plan(inputs) else { return 0 }
        return Conv2DInt8.scratchByteCount(geometry: g)
    }

    public func makeStep(_ b: StepBinding) throws -> Step {
        let (geometry, xZero, wZeros) = try plan(b.operands)
        guard let weights = b.input(1).constant else { throw OperatorError("weights w must be known at load time") }
        // ConvInteger's raw accumulators come from the portable kernels (no VNNI weight blocks to pack).
        let packed: Conv2DInt8.PackedWeights = weights.dataType == .int8
            ? Conv2DInt8.PackedWeights(weights: weights.rawPointer.assumingMemoryBound(to: Int8.self), zeroPoints: wZeros,
                                       geometry: geometry, acceleration: .portable)
            : Conv2DInt8.PackedWeights(weights: weights.rawPointer.assumingMemoryBound(to: UInt8.self), zeroPoints: wZeros,
                                       geometry: geometry, acceleration: .portable)
        let y = b.outputs[0].typed(Int32.self), scratch = b.scratch
        let runtimeZero = b.hasInput(2) && b.input(2).constant == nil ? b.input(2).pointer : nil
        if b.input(0).type.dataType == .int8 {
            let x = UnsafePointer(b.input(0).typed(Int8.self))
            return {
                let zero = runtimeZero.map { Int32($0.load(as: Int8.self)) } ?? xZero
                Conv2DInt8.runInt32(input: x, inputZero: zero, packed: packed, output: y, geometry: geometry, scratch: scratch)
            }
        }
        let x = UnsafePointer(b.input(0).typed(UInt8.self))
        return {
            let zero = runtimeZero.map { Int32($0.load(as: UInt8.self)) } ?? xZero
            Conv2DInt8.runInt32(input: x, inputZero: zero, packed: packed, output: y, geometry: geometry, scratch: scratch)
        }
    }
}
