import Foundation
import FrameSources
import ONNXImport
import QuantGraph
import Testing

/// The fixture models (Fixtures/generate.py) against onnxruntime's recorded fp32 outputs, on every
/// frame of every frame set: |ours − ort| ≤ 1e-4·|ort| + 1e-6 for each output element.
@Suite struct FixtureModelTests {
    static let rtol: Float = 1e-4
    static let atol: Float = 1e-6

    /// A frame set: its frames as model inputs, and the name of its recorded-output file.
    struct FrameSetCase: CustomTestStringConvertible, Sendable {
        var model: String
        var set: String
        var testDescription: String { "\(model)/\(set)" }
    }

    static let digitsSets: [FrameSetCase] = (["heldout"] + driftSets).map { FrameSetCase(model: "digits", set: $0) }
    static let patchesSets: [FrameSetCase] = (["heldout"] + driftSets).map { FrameSetCase(model: "patches", set: $0) }
    static let driftSets: [String] = ["brightness", "gain", "noise", "blur"].flatMap { kind in (1...3).map { "\(kind)-\($0)" } }

    /// The frames of a set, in sorted file-name order, as float32 model inputs.
    static func frames(_ c: FrameSetCase) throws -> [Tensor] {
        let base = FixturePaths.url(c.model)
        if c.model == "digits" {
            let file = c.set == "heldout" ? base.appendingPathComponent("heldout.npy") : base.appendingPathComponent("drift/\(c.set).npy")
            return try FrameSet.loadStacked(file)
        }
        let preprocessing = try patchesPreprocessing()
        let directory = c.set == "heldout" ? base.appendingPathComponent("frames") : base.appendingPathComponent("drift/\(c.set)")
        return try FrameSet.list(directory).map { try preprocessing.tensor(from: PNM.read(contentsOf: $0), source: $0.path) }
    }

    static func patchesPreprocessing() throws -> ImagePreprocessing {
        struct Spec: Decodable { var scale: Float; var mean: [Float]; var std: [Float]; var width: Int; var height: Int }
        let spec = try JSONDecoder().decode(Spec.self, from: Data(contentsOf: FixturePaths.url("patches/preprocessing.json")))
        return ImagePreprocessing(layout: .nchw, width: spec.width, height: spec.height, channels: 3,
                                  scale: spec.scale, mean: spec.mean, std: spec.std)
    }

    /// Runs `model` on every frame and compares with onnxruntime's recorded rows.
    static func check(_ c: FrameSetCase, variant: String) throws {
        let model = try ONNXModel.load(contentsOf: FixturePaths.url("\(c.model)/model.\(variant).onnx"))
        let compiled = try model.compile()
        let inputs = try frames(c)
        let recorded = try NPY.read(contentsOf: FixturePaths.url("\(c.model)/ort/\(variant)/\(c.set).npy"))
        #expect(recorded.shape[0] == inputs.count, "\(c): \(inputs.count) frames but \(recorded.shape[0]) recorded rows")
        let classes = recorded.shape[1]
        let expected = recorded.floatValues()!
        var worst: (frame: Int, index: Int, ours: Float, theirs: Float, excess: Float)?
        for (frame, input) in inputs.enumerated() {
            try compiled.setInput(0, input)
            compiled.run()
            let ours = compiled.output(0).floatValues()!
            #expect(ours.count == classes)
            for j in 0..<classes {
                let theirs = expected[frame * classes + j]
                let excess = abs(ours[j] - theirs) - (atol + rtol * abs(theirs))
                if excess > (worst?.excess ?? 0) || excess.isNaN { worst = (frame, j, ours[j], theirs, excess.isNaN ? .infinity : excess) }
            }
        }
        #expect(worst == nil, "\(c) \(variant): frame \(worst?.frame ?? 0) class \(worst?.index ?? 0): ours \(worst?.ours ?? 0) vs onnxruntime \(worst?.theirs ?? 0)")
    }

    @Test(arguments: digitsSets)
    func digitsFloatModelMatchesOnnxruntime(_ c: FrameSetCase) throws { try Self.check(c, variant: "fp32") }

    @Test(arguments: patchesSets)
    func patchesFloatModelMatchesOnnxruntime(_ c: FrameSetCase) throws { try Self.check(c, variant: "fp32") }

    /// The held-out accuracy of our fp32 run of `digits` is at least 95% (the fixture's promise).
    @Test func digitsFloatModelReachesHeldOutAccuracy() throws {
        let model = try ONNXModel.load(contentsOf: FixturePaths.url("digits/model.fp32.onnx")).compile()
        let frames = try FrameSet.loadStacked(FixturePaths.url("digits/heldout.npy"))
        let labels = try String(contentsOf: FixturePaths.url("digits/labels.txt"), encoding: .utf8)
            .split(separator: "\n").map { Int($0.split(separator: " ").last!)! }
        #expect(labels.count == frames.count)
        var correct = 0
        for (frame, label) in zip(frames, labels) {
            try model.setInput(0, frame)
            model.run()
            let p = model.output(0).floatValues()!
            if p.indices.max(by: { p[$0] < p[$1] }) == label { correct += 1 }
        }
        #expect(Double(correct) / Double(labels.count) >= 0.95, "accuracy \(correct)/\(labels.count)")
    }
}
