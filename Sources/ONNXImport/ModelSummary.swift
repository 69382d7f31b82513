import Foundation
import ONNXProto
import QuantGraph

/// What is in an ONNX file, read from the protobuf alone (it also describes models the engine
/// cannot run): inputs, outputs, operators, parameters and every quantization parameter.
public struct ModelSummary: Codable, Sendable {
    public struct TensorInfo: Codable, Sendable {
        public var name: String
        public var dataType: String
        /// Dims as numbers, symbolic dims as their names, unknown as "?".
        public var shape: [String]
    }

    public struct OperatorCount: Codable, Sendable {
        public var domain: String
        public var opType: String
        public var count: Int
    }

    /// One quantized tensor: real = scale·(q − zeroPoint), per tensor or per channel along `axis`.
    public struct QuantizedTensor: Codable, Sendable {
        public var tensor: String
        public var node: String
        public var opType: String
        public var scale: [Float]
        public var zeroPoint: [Int]
        public var zeroPointType: String
        public var axis: Int?
    }

    public var file: String
    public var irVersion: Int
    public var opsets: [String: Int]
    public var producer: String
    public var graphName: String
    public var inputs: [TensorInfo]
    public var outputs: [TensorInfo]
    public var operators: [OperatorCount]
    public var nodeCount: Int
    public var initializerCount: Int
    public var parameterCount: Int
    public var parameterBytes: Int
    public var fileBytes: Int
    public var quantizedTensors: [QuantizedTensor]

    /// Reads the summary of an ONNX file; a malformed file throws with its path.
    public static func read(contentsOf url: URL) throws -> ModelSummary {
        let data: Data
        do { data = try Data(contentsOf: url) } catch {
            throw ModelError("\(url.path): cannot read the model: \(error.localizedDescription)")
        }
        do {
            return try ModelSummary(proto: try ONNXModel.decodeModel(data), file: url.path, fileBytes: data.count,
                                    decoder: TensorDecoder(baseDirectory: url.deletingLastPathComponent()))
        } catch let error as ModelError {
            throw ModelError("\(url.path): \(error.message)")
        }
    }

    init(proto: Onnx_ModelProto, file: String, fileBytes: Int, decoder: TensorDecoder) throws {
        self.file = file
        self.fileBytes = fileBytes
        irVersion = Int(proto.irVersion)
        var opsets: [String: Int] = [:]
        for entry in proto.opsetImport { opsets[entry.domain.isEmpty ? "ai.onnx" : entry.domain] = Int(entry.version) }
        self.opsets = opsets
        producer = [proto.producerName, proto.producerVersion].filter { !$0.isEmpty }.joined(separator: " ")
        let graph = proto.graph
        graphName = graph.name
        let initializerNames = Set(graph.initializer.map(\.name))
        inputs = graph.input.filter { !initializerNames.contains($0.name) }.map(Self.info)
        outputs = graph.output.map(Self.info)
        var counts: [String: (String, String, Int)] = [:]
        for node in graph.node {
            let domain = node.domain.isEmpty ? "ai.onnx" : node.domain
            counts["\(domain)::\(node.opType)", default: (domain, node.opType, 0)].2 += 1
        }
        operators = counts.values.map { OperatorCount(domain: $0.0, opType: $0.1, count: $0.2) }
            .sorted { $0.count != $1.count ? $0.count > $1.count : $0.opType < $1.opType }
        nodeCount = graph.node.count
        initializerCount = graph.initializer.count
        var parameters = 0, bytes = 0
        var constants: [String: Onnx_TensorProto] = [:]
        for initializer in graph.initializer {
            let count = initializer.dims.reduce(1) { $0 * Int($1) }
            parameters += count
            bytes += count * (ONNXDataType.dataType(initializer.dataType)?.byteSize ?? 0)
            constants[initializer.name] = initializer
        }
        for node in graph.node where node.opType == "Constant" && node.output.count == 1 {
            if let value = node.attribute.first(where: { $0.name == "value" }) { constants[node.output[0]] = value.t }
        }
        parameterCount = parameters
        parameterBytes = bytes
        quantizedTensors = try Self.quantizationParameters(graph, constants: constants, decoder: decoder)
    }

    static func info(_ value: Onnx_ValueInfoProto) -> TensorInfo {
        guard case .tensorType(let t)? = value.type.value else { return TensorInfo(name: value.name, dataType: "non-tensor", shape: []) }
        let dims: [String] = t.shape.dim.map { dim in
            switch dim.value {
            case .dimValue(let v)?: String(v)
            case .dimParam(let p)?: p
            default: "?"
            }
        }
        return TensorInfo(name: value.name, dataType: ONNXDataType.dataType(t.elemType)?.rawValue ?? ONNXDataType.name(t.elemType), shape: dims)
    }

    /// For each quantizing operator, which (tensor, scale input, zero-point input) triples it has.
    /// Negative tensor indices name outputs: -1 is output 0.
    static let quantizedOperands: [String: [(tensor: Int, scale: Int, zeroPoint: Int)]] = [
        "QuantizeLinear": [(-1, 1, 2)],
        "DequantizeLinear": [(0, 1, 2)],
        "QLinearConv": [(0, 1, 2), (3, 4, 5), (-1, 6, 7)],
        "QLinearMatMul": [(0, 1, 2), (3, 4, 5), (-1, 6, 7)],
        "QLinearAdd": [(0, 1, 2), (3, 4, 5), (-1, 6, 7)],
        "QLinearMul": [(0, 1, 2), (3, 4, 5), (-1, 6, 7)],
        "QGemm": [(0, 1, 2), (3, 4, 5), (-1, 7, 8)],
        "QLinearGlobalAveragePool": [(0, 1, 2), (-1, 3, 4)],
        "QLinearAveragePool": [(0, 1, 2), (-1, 3, 4)],
        "QLinearLeakyRelu": [(0, 1, 2), (-1, 3, 4)],
        "QLinearSigmoid": [(0, 1, 2), (-1, 3, 4)],
        "QLinearSoftmax": [(0, 1, 2), (-1, 3, 4)],
    ]

    /// The axis a per-channel scale runs along: the `axis` attribute of Quantize/DequantizeLinear
    /// (default 1); output channels (axis 0) for QLinearConv and ConvInteger weights; the N axis of
    /// QLinearMatMul's and QGemm's B ([K, N], or [N, K] when transB).
    static func perChannelAxis(_ opType: String, _ tensorIndex: Int, _ attribute: Int?, _ transB: Bool) -> Int {
        switch opType {
        case "QuantizeLinear", "DequantizeLinear": attribute ?? 1
        case "QLinearConv": tensorIndex == 3 ? 0 : 1
        case "QGemm": tensorIndex == 3 ? (transB ? 0 : 1) : 1
        case "QLinearMatMul": tensorIndex == 3 ? 1 : 0
        default: attribute ?? 1
        }
    }

    static func quantizationParameters(_ graph: Onnx_GraphProto, constants: [String: Onnx_TensorProto], decoder: TensorDecoder) throws -> [QuantizedTensor] {
        var result: [QuantizedTensor] = []
        for node in graph.node {
            var triples = quantizedOperands[node.opType] ?? []
            if node.opType == "QLinearConcat" {
                // Y scale and zero point first, then (X, scale, zero point) triples.
                triples = [(-1, 0, 1)] + stride(from: 2, to: node.input.count, by: 3).map { ($0, $0 + 1, $0 + 2) }
            }
            let axisAttribute = node.attribute.first { $0.name == "axis" }.map { Int($0.i) }
            let transB = node.attribute.first { $0.name == "transB" }.map { $0.i != 0 } ?? false
            for (tensorIndex, scaleIndex, zeroIndex) in triples {
                let tensorName = tensorIndex < 0 ? (node.output.first ?? "") : (tensorIndex < node.input.count ? node.input[tensorIndex] : "")
                guard scaleIndex < node.input.count, let scaleProto = constants[node.input[scaleIndex]] else { continue }
                let scale = try decoder.decode(scaleProto).floatValues() ?? []
                var zeroPoint: [Int] = [], zeroType = "uint8"
                if zeroIndex < node.input.count, !node.input[zeroIndex].isEmpty, let zp = constants[node.input[zeroIndex]] {
                    let tensor = try decoder.decode(zp)
                    zeroPoint = tensor.integers() ?? []
                    zeroType = tensor.dataType.rawValue
                }
                let isPerChannel = scale.count > 1
                result.append(QuantizedTensor(tensor: tensorName, node: node.name, opType: node.opType, scale: scale,
                                              zeroPoint: zeroPoint, zeroPointType: zeroType,
                                              axis: isPerChannel ? perChannelAxis(node.opType, tensorIndex, axisAttribute, transB) : nil))
            }
        }
        return result
    }
}
