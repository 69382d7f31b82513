import Foundation
import FrameSources
import ONNXImport
import QuantGraph
import Testing

/// Every int8 fixture model (QDQ per-channel int8, QOperator uint8, mixed precision, dynamic) on
/// every fixture frame, against onnxruntime's recorded int8 outputs: each output element within one
/// quantization step of onnxruntime's, at least 99% of them identical, and the top-1 class identical.
@Suite struct Int8FixtureTests {
    struct Case: CustomTestStringConvertible, Sendable {
        var model: String
        var variant: String
        var set: String
        var testDescription: String { "\(model)/\(variant)/\(set)" }
    }

    static let cases: [Case] = ["digits", "patches"].flatMap { model in
        ["int8.qdq", "int8.qop", "int8.mixed", "int8.dynamic"].flatMap { variant in
            (["heldout"] + FixtureModelTests.driftSets).map { Case(model: model, variant: variant, set: $0) }
        }
    }

    /// The step of the model's output: the scale of the DequantizeLinear that produces it. A model
    /// whose output is computed in float (dynamic quantization) gets a float tolerance instead.
    static func outputStep(_ model: CompiledModel) -> Float? {
        let graph = model.graph
        guard let output = graph.outputs.first, let p = graph.producer(of: graph[output].name),
              graph.nodes[p].op is DequantizeLinearOperator, let scale = graph.nodes[p].inputs[1],
              let value = graph[scale].constant else { return nil }
        return value.scalars(as: Float.self).first
    }

    @Test(arguments: cases)
    func int8ModelMatchesOnnxruntime(_ c: Case) throws {
        let compiled = try ONNXModel.load(contentsOf: FixturePaths.url("\(c.model)/model.\(c.variant).onnx")).compile()
        let frames = try FixtureModelTests.frames(FixtureModelTests.FrameSetCase(model: c.model, set: c.set))
        let recorded = try NPY.read(contentsOf: FixturePaths.url("\(c.model)/ort/\(c.variant)/\(c.set).npy"))
        let expected = recorded.floatValues()!, classes = recorded.shape[1]
        let step = Self.outputStep(compiled)
        var identical = 0, total = 0, topMismatches: [Int] = []
        var worst: (frame: Int, index: Int, ours: Float, theirs: Float)?
        for (frame, input) in frames.enumerated() {
            try compiled.setInput(0, input)
            compiled.run()
            let ours = compiled.output(0).floatValues()!
            let theirs = Array(expected[frame * classes..<(frame + 1) * classes])
            for j in 0..<classes {
                total += 1
                let difference = abs(ours[j] - theirs[j])
                let tolerance = step.map { $0 * 1.0001 } ?? (1e-4 * abs(theirs[j]) + 1e-6)
                let same = step != nil ? ours[j] == theirs[j] : difference <= 1e-6 * abs(theirs[j]) + 1e-7
                if same { identical += 1 }
                if difference > tolerance, difference > abs((worst?.ours ?? 0) - (worst?.theirs ?? 0)) { worst = (frame, j, ours[j], theirs[j]) }
            }
            let argmax = { (v: [Float]) in v.indices.max { v[$0] < v[$1] || (v[$0] == v[$1] && $0 > $1) }! }
            if argmax(ours) != argmax(theirs) { topMismatches.append(frame) }
        }
        #expect(worst == nil, "\(c): frame \(worst?.frame ?? 0) class \(worst?.index ?? 0): ours \(worst?.ours ?? 0) vs onnxruntime \(worst?.theirs ?? 0) (step \(step ?? 0))")
        #expect(Double(identical) >= 0.99 * Double(total), "\(c): only \(identical) of \(total) elements identical")
        #expect(topMismatches.isEmpty, "\(c): top-1 differs on frames \(topMismatches.prefix(10))")
    }
}

/// The int8 convolutions' VNNI kernels (taken automatically on x86-64 CPUs that have them) against
/// the portable Swift kernels on whole fixture models: identical output bytes and saturation counts
/// on every held-out frame. On a machine without VNNI both runs take the portable kernels.
@Suite struct Int8KernelPathTests {
    static let models = ["patches/model.int8.qop.onnx", "patches/model.int8.qdq.onnx", "patches/model.int8.mixed.onnx",
                         "digits/model.int8.qop.onnx", "digits/model.int8.qdq.onnx"]

    @Test(arguments: models)
    func vnniAndPortableKernelsAgree(_ path: String) throws {
        let model = try ONNXModel.load(contentsOf: FixturePaths.url(path))
        // QOperator models: every convolution's output is kept and compared too (keeping tensors of a
        // QDQ model would change what is fused, so those compare outputs and counters only).
        var options = model.compileOptions
        let convolutionOutputs = model.graph.nodes.filter { $0.info.opType == "QLinearConv" }.flatMap { $0.outputs.map { model.graph[$0].name } }
        if path.contains("qop") { options.keep.formUnion(convolutionOutputs) }
        var portableOptions = options
        portableOptions.int8Acceleration = .portable
        let automatic = try model.compile(options), portable = try model.compile(portableOptions)
        let name = String(path.prefix { $0 != "/" })
        let frames = try FixtureModelTests.frames(FixtureModelTests.FrameSetCase(model: name, set: "heldout"))
        for (frame, input) in frames.enumerated() {
            try automatic.setInput(0, input)
            try portable.setInput(0, input)
            automatic.run()
            portable.run()
            let same = automatic.outputBuffer(0).elementsEqual(portable.outputBuffer(0))
            #expect(same, "\(path) frame \(frame): outputs differ")
            if !same { return }
            for name in options.keep {
                let a = automatic.keptValue(named: name), b = portable.keptValue(named: name)
                #expect(a != nil && b != nil && a!.bytes.elementsEqual(b!.bytes), "\(path) frame \(frame): \(name) differs")
            }
        }
        if path.contains("qop") { #expect(options.keep.count >= 2, "\(path): \(options.keep.count) convolution outputs kept") }
        for i in 0..<automatic.counters.count {
            #expect(automatic.saturationCounts(i) == portable.saturationCounts(i),
                    "\(path) counter \(i) (\(automatic.counters[i].tensor)): \(automatic.saturationCounts(i)) vs \(portable.saturationCounts(i))")
        }
    }
}
