import QuantKernels

extension Graph {
    /// The quantization of a quantized tensor, read from the operator that writes it
    /// (QuantizeLinear, QLinearConv, QLinearMatMul/QGemm …): its output scale and zero point.
    /// nil for float tensors and for tensors whose parameters are not known at load.
    public func quantization(of id: ValueID) -> QuantizationParameters? {
        guard let type = values[id.index].type, type.dataType.isQuantized else { return nil }
        let producer = nodes.first { $0.outputs.contains(id) }
        guard let node = producer else { return nil }
        let operands = operands(of: node)
        switch node.op {
        case let q as QuantizeLinearOperator: return try? q.parameters(operands)
        case is QLinearConvOperator:
            return try? QuantizationParameters.read(scale: operands[6], zeroPoint: operands.count > 7 ? operands[7] : nil,
                                                    defaultType: type.dataType, axis: 1, rank: type.rank, what: "y")
        case is QLinearMatMulOperator:
            return try? QuantizationParameters.read(scale: operands[7], zeroPoint: operands.count > 8 ? operands[8] : nil,
                                                    defaultType: type.dataType, axis: 1, rank: type.rank, what: "y")
        case let op where op.viewOfInput != nil || op is TransposeOperator:
            return node.inputs[0].flatMap { quantization(of: $0) }
        default:
            return (node.op as? QuantizedOutput)?.outputQuantization(operands)
        }
    }
}

/// Implemented by quantized operators whose output parameters `Graph.quantization(of:)` should report.
public protocol QuantizedOutput {
    func outputQuantization(_ inputs: [Operand?]) -> QuantizationParameters?
}

extension CompiledModel {
    /// Reads a kept tensor (see `CompileOptions.keep`) as float: quantized tensors are dequantized
    /// with their own parameters (real = scale·(q − zero point)), float tensors copied. Returns
    /// false when the tensor was not kept or is of another type. `output` must hold the tensor's
    /// element count. Allocates nothing.
    public func readDequantized(_ name: String, into output: UnsafeMutableBufferPointer<Float>) -> Bool {
        guard let (type, bytes) = keptValue(named: name), output.count >= type.elementCount else { return false }
        let count = type.elementCount
        if type.dataType == .float32 {
            output.baseAddress!.update(from: bytes.baseAddress!.assumingMemoryBound(to: Float.self), count: count)
            return true
        }
        guard let parameters = tapQuantization[name] else { return false }
        let (outer, channels, inner) = parameters.layout
        func dequantize<X: QuantizedScalar>(_: X.Type) {
            DequantizeLinear.run(input: bytes.baseAddress!.assumingMemoryBound(to: X.self), output: output.baseAddress!,
                                 scales: parameters.scales.pointer, zeroPoints: parameters.zeroPoints.pointer,
                                 outer: outer, channels: channels, inner: inner)
        }
        switch type.dataType {
        case .int8: dequantize(Int8.self)
        case .uint8: dequantize(UInt8.self)
        case .int16: dequantize(Int16.self)
        case .uint16: dequantize(UInt16.self)
        default: return false
        }
        return true
    }
}

/// Dequantization parameters of a kept tensor, prepared at compile time.
final class TapQuantization: @unchecked Sendable {
    let scales: FloatBuffer
    let zeroPoints: Int32Buffer
    let layout: (outer: Int, channels: Int, inner: Int)

    init?(_ p: QuantizationParameters, shape: [Int]) {
        guard let layout = try? p.layout(shape) else { return nil }
        scales = FloatBuffer(p.scales)
        zeroPoints = Int32Buffer(p.zeroPoints)
        self.layout = layout
    }
}
