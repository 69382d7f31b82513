import Evaluation
import Foundation
import FrameSources
import QuantGraph
import Testing

/// `quantwatch eval`'s engine on the real fixtures: int8 models against their float references.
@Suite struct EvaluationTests {
    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("Fixtures")

    static func digits(_ variant: String, layers: Bool) throws -> EvaluationReport {
        var options = EvaluationOptions()
        options.layers = layers
        options.sensitivityFrames = 16
        let evaluator = try Evaluator(int8: fixtures.appendingPathComponent("digits/model.\(variant).onnx"),
                                      reference: fixtures.appendingPathComponent("digits/model.fp32.onnx"), options: options)
        let frames = try FrameLoader.load(fixtures.appendingPathComponent("digits/heldout.npy").path,
                                          expecting: TensorType(.float32, [1, 1, 8, 8]), inputName: "input", preprocessing: nil)
        let labels = try FrameLoader.labels(fixtures.appendingPathComponent("digits/labels.txt"), frameNames: frames.map(\.name))
        return try evaluator.run(frames: frames.map(\.tensor), labels: labels)
    }

    /// Accuracy agrees with what onnxruntime measured for the same models (Fixtures/digits/accuracy.json).
    @Test func accuracyOfBothModelsMatchesTheFixtureRecord() throws {
        let report = try Self.digits("int8.qdq", layers: false)
        struct Record: Decodable { struct Set: Decodable { var accuracy: [String: Double] }; var sets: [String: Set] }
        let record = try JSONDecoder().decode(Record.self, from: Data(contentsOf: Self.fixtures.appendingPathComponent("digits/accuracy.json")))
        let accuracy = try #require(report.accuracy)
        #expect(accuracy.labels == 450)
        #expect(abs(accuracy.int8 - record.sets["heldout"]!.accuracy["int8.qdq"]!) < 1e-5)
        #expect(abs(accuracy.float - record.sets["heldout"]!.accuracy["fp32"]!) < 1e-5)
        #expect(report.outputs.first?.summary.top1Agree == 1.0)
        #expect((report.outputs.first?.summary.sqnrDbMean ?? 0) > 30)
    }

    /// Layers of a well-calibrated model show rounding-like noise: rmse/scale near 1/√12 ≈ 0.289.
    @Test func layerTableShowsRoundingNoiseAndWeightSqnr() throws {
        let report = try Self.digits("int8.qop", layers: true)
        let layers = try #require(report.layers)
        #expect(layers.count >= 5)
        let convs = layers.filter { $0.opType == "QLinearConv" }
        #expect(convs.count == 2)
        for layer in convs {
            let ratio = try #require(layer.rmseOverScale)
            #expect(ratio > 0.2 && ratio < 0.45, "\(layer.floatTensor): rmse/scale \(ratio)")
            #expect((layer.weightSqnrDb ?? 0) > 30, "\(layer.floatTensor): weight SQNR \(layer.weightSqnrDb ?? 0)")
            #expect(layer.local != nil, "\(layer.floatTensor) has no local error")
            // Local error only counts this layer's own rounding: never worse than the accumulated error.
            #expect((layer.local?.sqnrDbPooled ?? 0) >= (layer.accumulated.sqnrDbPooled ?? 0) - 0.5)
        }
        #expect(layers.map(\.rank) == Array(1...layers.count))
        // The ReLU folded into the int8 tensors is compared after the activation, and its floor is not saturation.
        #expect(layers.contains { $0.afterActivation == "/relu1/Relu_output_0" && $0.saturationLow == nil })
    }

    /// The sensitivity list names nodes of the float model, as quantize_static(nodes_to_exclude=) expects.
    @Test func sensitivityNamesFloatModelNodes() throws {
        let report = try Self.digits("int8.qdq", layers: false)
        #expect(!report.sensitivity.isEmpty)
        let floatNodes: Set<String> = ["/conv1/Conv", "/conv2/Conv", "/fc1/Gemm", "/fc2/Gemm"]
        for entry in report.sensitivity { #expect(floatNodes.contains(entry.node), "\(entry.node) is not a node of the float model") }
        #expect(report.sensitivity.map(\.recoveredDb) == report.sensitivity.map(\.recoveredDb).sorted(by: >))
    }

    @Test func jsonUsesTheMetricNamesAndCsvHasOneRowPerItem() throws {
        let report = try Self.digits("int8.qdq", layers: true)
        let json = try report.formatted(.json)
        for key in ["\"sqnr_db_mean\"", "\"top1_agree\"", "\"kl_mean\"", "\"rmse_over_scale\"", "\"recovered_db\"", "\"input_out_of_range\""] {
            #expect(json.contains(key), "JSON lacks \(key)")
        }
        let csv = try report.formatted(.csv).split(separator: "\n")
        #expect(csv.count == 1 + report.outputs.count + (report.layers?.count ?? 0) + report.sensitivity.count)
        #expect(try report.formatted(.table).contains("nodes_to_exclude=["))
    }
}
