import Foundation
import ONNXImport
import QuantGraph
import Testing

/// ModelSummary on the digits fixtures. Expected numbers were computed once with onnx 1.23
/// (`onnx.load`, counting graph.node by (domain, op_type), summing prod(dims) of graph.initializer).
@Suite struct ModelSummaryTests {
    static func summary(_ file: String) throws -> ModelSummary {
        try ModelSummary.read(contentsOf: FixturePaths.url("digits/\(file)"))
    }

    static func counts(_ summary: ModelSummary) -> [String: Int] {
        var result: [String: Int] = [:]
        for op in summary.operators { result["\(op.domain)::\(op.opType)"] = op.count }
        return result
    }

    // MARK: Inputs and outputs

    @Test(arguments: ["model.fp32.onnx", "model.int8.qdq.onnx", "model.int8.qop.onnx"])
    func inputsAndOutputsKeepSymbolicBatchName(_ file: String) throws {
        let s = try Self.summary(file)
        #expect(s.inputs.count == 1)
        #expect(s.inputs.first?.name == "input")
        #expect(s.inputs.first?.dataType == "float32")
        #expect(s.inputs.first?.shape == ["N", "1", "8", "8"])
        #expect(s.outputs.count == 1)
        #expect(s.outputs.first?.name == "probabilities")
        #expect(s.outputs.first?.dataType == "float32")
        #expect(s.outputs.first?.shape == ["N", "10"])
        #expect(s.irVersion == 8)
        #expect(s.opsets["ai.onnx"] == 17)
        #expect(s.graphName == "digits_cnn")
        #expect(s.file.hasSuffix("digits/\(file)"))
        let size = try FileManager.default.attributesOfItem(atPath: FixturePaths.url("digits/\(file)").path)[.size] as? Int
        #expect(s.fileBytes == size)
    }

    // MARK: Operators and parameters

    @Test func floatModelOperatorCountsMatchONNX() throws {
        let s = try Self.summary("model.fp32.onnx")
        #expect(Self.counts(s) == [
            "ai.onnx::Relu": 3, "ai.onnx::BatchNormalization": 2, "ai.onnx::Conv": 2,
            "ai.onnx::Gemm": 2, "ai.onnx::Flatten": 1, "ai.onnx::Softmax": 1,
        ])
        #expect(s.nodeCount == 11)
        #expect(s.initializerCount == 16)
        #expect(s.parameterCount == 9898)
        #expect(s.parameterBytes == 39592)
        #expect(s.opsets == ["ai.onnx": 17])
        #expect(s.producer == "quantwatch-fixtures 1")
        #expect(s.quantizedTensors.isEmpty)
    }

    @Test func operatorsAreSortedByCountThenName() throws {
        let s = try Self.summary("model.fp32.onnx")
        #expect(s.operators.map(\.opType) == ["Relu", "BatchNormalization", "Conv", "Gemm", "Flatten", "Softmax"])
        #expect(s.operators.map(\.count) == [3, 2, 2, 2, 1, 1])
    }

    @Test func qdqModelOperatorCountsMatchONNX() throws {
        let s = try Self.summary("model.int8.qdq.onnx")
        #expect(Self.counts(s) == [
            "ai.onnx::DequantizeLinear": 15, "ai.onnx::QuantizeLinear": 7, "ai.onnx::Conv": 2,
            "ai.onnx::Gemm": 2, "ai.onnx::Flatten": 1, "ai.onnx::Softmax": 1,
        ])
        #expect(s.nodeCount == 28)
        #expect(s.initializerCount == 36)
        #expect(s.parameterCount == 10078)
        #expect(s.parameterBytes == 10888)
        #expect(s.opsets.count == 9)
        #expect(s.opsets["com.microsoft"] == 1)
    }

    @Test func qopModelOperatorCountsMatchONNXIncludingMicrosoftDomain() throws {
        let s = try Self.summary("model.int8.qop.onnx")
        #expect(Self.counts(s) == [
            "com.microsoft::QGemm": 2, "ai.onnx::QLinearConv": 2, "ai.onnx::DequantizeLinear": 1,
            "ai.onnx::Flatten": 1, "com.microsoft::QLinearSoftmax": 1, "ai.onnx::QuantizeLinear": 1,
        ])
        #expect(s.nodeCount == 8)
        #expect(s.initializerCount == 28)
        #expect(s.parameterCount == 9946)
        #expect(s.parameterBytes == 10360)
    }

    // MARK: Quantization parameters

    @Test func qdqWeightsArePerChannelAlongAxisZeroWithInt8ZeroPoints() throws {
        let s = try Self.summary("model.int8.qdq.onnx")
        let expected: [String: Int] = [
            "ConvBnFusion_W_conv1.weight_quantized": 8, "ConvBnFusion_W_conv2.weight_quantized": 16,
            "fc1.weight_quantized": 32, "fc2.weight_quantized": 10,
        ]
        for (name, channels) in expected {
            let q = try #require(s.quantizedTensors.first { $0.tensor == name }, "\(name) missing")
            #expect(q.opType == "DequantizeLinear")
            #expect(q.axis == 0, "\(name)")
            #expect(q.scale.count == channels, "\(name)")
            #expect(q.zeroPoint == [Int](repeating: 0, count: channels), "\(name)")
            #expect(q.zeroPointType == "int8", "\(name)")
            #expect(q.scale.allSatisfy { $0 > 0 }, "\(name)")
        }
    }

    @Test func qdqBiasesArePerChannelInt32() throws {
        let s = try Self.summary("model.int8.qdq.onnx")
        for name in ["ConvBnFusion_BN_B_bn1.bias_quantized", "ConvBnFusion_BN_B_bn2.bias_quantized", "fc1.bias_quantized", "fc2.bias_quantized"] {
            let q = try #require(s.quantizedTensors.first { $0.tensor == name }, "\(name) missing")
            #expect(q.zeroPointType == "int32", "\(name)")
            #expect(q.axis == 0, "\(name)")
        }
    }

    @Test func qdqActivationsArePerTensorInt8() throws {
        let s = try Self.summary("model.int8.qdq.onnx")
        // 7 QuantizeLinear + 15 DequantizeLinear, one (tensor, scale, zero point) each.
        #expect(s.quantizedTensors.count == 22)
        let input = try #require(s.quantizedTensors.first { $0.tensor == "input_QuantizeLinear_Output" && $0.opType == "QuantizeLinear" })
        #expect(input.axis == nil)
        #expect(input.scale.count == 1)
        #expect(abs(input.scale[0] - 1 / 255) < 1e-7)
        #expect(input.zeroPoint == [-128])
        #expect(input.zeroPointType == "int8")
        let activations = s.quantizedTensors.filter { $0.scale.count == 1 }
        #expect(activations.count == 14)
        #expect(activations.allSatisfy { $0.zeroPointType == "int8" && $0.axis == nil })
    }

    @Test func qopActivationsAreUint8() throws {
        let s = try Self.summary("model.int8.qop.onnx")
        let input = try #require(s.quantizedTensors.first { $0.tensor == "input_quantized" && $0.opType == "QuantizeLinear" })
        #expect(input.zeroPointType == "uint8")
        #expect(input.zeroPoint == [0])
        #expect(input.axis == nil)
        for name in ["/bn1/BatchNormalization_output_0_quantized", "/bn2/BatchNormalization_output_0_quantized",
                     "/fc1/Gemm_output_0_quantized", "/fc2/Gemm_output_0_quantized", "probabilities_quantized"] {
            let entries = s.quantizedTensors.filter { $0.tensor == name }
            #expect(!entries.isEmpty, "\(name) missing")
            #expect(entries.allSatisfy { $0.zeroPointType == "uint8" && $0.scale.count == 1 && $0.axis == nil }, "\(name): \(entries)")
        }
        let fc2 = try #require(s.quantizedTensors.first { $0.tensor == "/fc2/Gemm_output_0_quantized" })
        #expect(fc2.zeroPoint == [145])
    }

    @Test func qopWeightsAreInt8PerChannel() throws {
        let s = try Self.summary("model.int8.qop.onnx")
        let expected: [String: (String, Int)] = [
            "ConvBnFusion_W_conv1.weight_quantized": ("QLinearConv", 8), "ConvBnFusion_W_conv2.weight_quantized": ("QLinearConv", 16),
            "fc1.weight_quantized": ("QGemm", 32), "fc2.weight_quantized": ("QGemm", 10),
        ]
        for (name, (opType, channels)) in expected {
            let q = try #require(s.quantizedTensors.first { $0.tensor == name }, "\(name) missing")
            #expect(q.opType == opType)
            #expect(q.zeroPointType == "int8", "\(name)")
            #expect(q.scale.count == channels, "\(name)")
            #expect(q.axis != nil, "\(name)")
        }
    }

    /// QLinearConv's w_scale is per output channel (axis 0 of W, ONNX spec); QGemm with transB=1
    /// stores B as [N, K], so its per-column scales run along axis 0 too. The reported axis must
    /// be the axis whose size equals the number of scales.
    @Test func qopPerChannelWeightAxisMatchesScaleCount() throws {
        let s = try Self.summary("model.int8.qop.onnx")
        let dims: [String: [Int]] = [
            "ConvBnFusion_W_conv1.weight_quantized": [8, 1, 3, 3], "ConvBnFusion_W_conv2.weight_quantized": [16, 8, 3, 3],
            "fc1.weight_quantized": [32, 256], "fc2.weight_quantized": [10, 32],
        ]
        for (name, shape) in dims {
            let q = try #require(s.quantizedTensors.first { $0.tensor == name }, "\(name) missing")
            let axis = try #require(q.axis, "\(name) should be per channel")
            #expect(axis == 0, "\(name) (\(q.opType)): \(q.scale.count) scales for shape \(shape) reported along axis \(axis)")
        }
    }

    // MARK: Errors

    @Test func missingFileNamesPath() {
        let url = FixturePaths.url("digits/no-such-model.onnx")
        expectModelError(url.path, "cannot read") { _ = try ModelSummary.read(contentsOf: url) }
    }

    @Test func truncatedFileNamesPath() throws {
        let full = try Data(contentsOf: FixturePaths.url("digits/model.int8.qdq.onnx"))
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let url = dir.appendingPathComponent("cut.onnx")
        try full.prefix(full.count / 2).write(to: url)
        expectModelError(url.path, "not a valid ONNX model") { _ = try ModelSummary.read(contentsOf: url) }
    }

    /// The summary describes models the engine cannot run (here: Pad in reflect mode).
    @Test func summaryReadsModelsTheEngineRefuses() throws {
        let url = FixturePaths.url("conformance/test_reflect_pad/model.onnx")
        #expect(throws: ModelError.self) { _ = try ONNXModel.load(contentsOf: url) }
        let summary = try ModelSummary.read(contentsOf: url)
        #expect(summary.nodeCount == 1)
        #expect(summary.operators.first?.opType == "Pad")
    }
}
