import QuantKernels

/// ONNX QuantizeLinear: float32 → int8/uint8/int16/uint16, per tensor or per axis (opset 13+).
/// Its counter is the tensor's `input_out_of_range`: elements whose x/scale + zero point fell
/// outside [qmin, qmax] before the clamp.
public struct QuantizeLinearOperator: Operator {
    public var axis: Int
    /// Output type when no zero point is given (opset 21's output_dtype; uint8 otherwise).
    public var defaultType: DataType
    /// Blocked quantization's block size along `axis` (opset 21); 0 when not blocked.
    public var blockSize: Int

    public init(axis: Int = 1, defaultType: DataType = .uint8, blockSize: Int = 0) {
        self.axis = axis
        self.defaultType = defaultType
        self.blockSize = blockSize
    }

    public var kind: String { "QuantizeLinear" }
    public var counterCount: Int { 1 }

    public func parameters(_ inputs: [Operand?]) throws -> QuantizationParameters {
        let x = try requireFloat(inputs, 0, "x").type
        let p = try QuantizationParameters.read(scale: inputs.count > 1 ? inputs[1] : nil, zeroPoint: inputs.count > 2 ? inputs[2] : nil,
                                                defaultType: defaultType, axis: axis, rank: x.rank, what: "y",
                                                blocked: blockSize > 0 ? (blockSize, x.shape) : nil)
        guard [.int8, .uint8, .int16, .uint16].contains(p.dataType) else {
            throw OperatorError("output type \(p.dataType) is not supported (int8, uint8, int16, uint16)")
        }
        _ = try p.layout(x.shape)
        return p
    }

    public func outputTypes(for inputs: [Operand?]) throws -> [TensorType] {
        [TensorType(try parameters(inputs).dataType, inputs[0]!.type.shape)]
    }

    public func makeStep(_ b: StepBinding) throws -> Step {
        let p = try parameters(b.operands)
        let (outer, channels, inner) = try p.layout(b.input(0).type.shape)
        let scales = FloatBuffer(p.scales), zeros = Int32Buffer(p.zeroPoints)
        let x = UnsafePointer(b.input(0).floats()), counts = b.saturationCounters
        let countLow = b.countsLowSaturation, countHigh = b.countsHighSaturation, state = b.countingState
        func step<Y: QuantizedScalar>(_: Y.Type) -> Step {
            let y = b.outputs[0].typed(Y.self)
            return {
                QuantizeLinear.run(input: x, output: y, scales: scales.pointer, zeroPoints: zeros.pointer,
                                   outer: outer, channels: channels, inner: inner, counts: counts,
                                   countLow: countLow, countHigh: countHigh)
            }
        }
        switch p.dataType {
        case .int8: return step(Int8.self)
        case .uint8: return step(UInt8.self)
        case .int16: return step(Int16.self)
        default: return step(UInt16.self)
        }
    }
}

/// ONNX DequantizeLinear: int8/uint8/int16/uint16/int32 → float32, per tensor or per axis.
/// Not folded at load until the QDQ fusion has run, so quantized weights stay quantized.
public struct DequantizeLinearOperator: Operator {
    public var axis: Int
    /// Blocked quantization's block size along `axis` (opset 21); 0 when not blocked.
    public var blockSize: Int
    public init(axis: Int = 1, blockSize: Int = 0) {
        self.axis = axis
        self.blockSize = blockSize
    }
    public var kind: String { "DequantizeLinear" }
    public var isFoldable: Bool { false }

    public func parameters(_ inputs: [Operand?]) throws -> QuantizationParameters {
        let x = try requireInput(inputs, 0, "x").type
        guard [.int8, .uint8, .int16, .uint16, .int32].contains(x.dataType) else {
            throw OperatorError("input x is \(x.dataType); supported: int8, uint8, int16, uint16, int32")
        }
        let p = try QuantizationParameters.read(scale: inputs.count > 1 ? inputs[1] : nil, zeroPoint: inputs.count > 2 ? inputs[2] : nil,
                                                defaultType: x.dataType, axis: axis, rank: x.rank, what: "x",
                                                blocked: blockSize > 0 ? (blockSize, x.shape) : nil)
        guard p.dataType == x.dataType else { throw OperatorError("zero point is \(p.dataType) but x is \(x.dataType)") }
        _ = try p.layout(x.shape)
        return p
    }

    public func outputTypes(for inputs: [Operand?]) throws -> [TensorType] {
        _ = try parameters(inputs)
        return [TensorType(.float32, inputs[0]!.type.shape)]
    }

    public func makeStep(_ b: StepBinding) throws -> Step {
        let p = try parameters(b.operands)
        let (outer, channels, inner) = try p.layout(b.input(0).type.shape)
        let scales = FloatBuffer(p.scales), zeros = Int32Buffer(p.zeroPoints)
        let y = b.outputs[0].floats()
        func step<X: QuantizedScalar>(_: X.Type) -> Step {
            let x = UnsafePointer(b.input(0).typed(X.self))
            return {
                DequantizeLinear.run(input: x, output: y, scales: scales.pointer, zeroPoints: zeros.pointer,
                                     outer: outer, channels: channels, inner: inner)
            }
        }
        switch p.dataType {
        case .int8: return step(Int8.self)
        case .uint8: return step(UInt8.self)
        case .int16: return step(Int16.self)
        case .uint16: return step(UInt16.self)
        default:
            let x = UnsafePointer(b.input(0).typed(Int32.self))
            return {
                DequantizeLinear.run(input: x, output: y, scales: scales.pointer, zeroPoints: zeros.pointer,
                                     outer: outer, channels: channels, inner: inner)
            }
        }
    }
}
