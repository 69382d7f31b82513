import FrameSources
import Foundation
import ONNXImport
import QuantGraph
import QuantKernels
import Testing

/// The saturation counters the int8 kernels keep (METRICS.md: saturation_high/low per int8 tensor,
/// input_out_of_range), read through CompiledModel.
@Suite struct SaturationCounterTests {
    static func model(_ variant: String) throws -> CompiledModel {
        try ONNXModel.load(contentsOf: FixturePaths.url("patches/model.\(variant).onnx")).compile()
    }

    /// The counter of the QuantizeLinear that quantizes the model input.
    static func inputCounter(_ model: CompiledModel) -> Int? {
        model.counters.firstIndex { info in
            guard info.node.opType == "QuantizeLinear", let p = model.graph.producer(of: info.tensor),
                  let input = model.graph.nodes[p].inputs.first ?? nil else { return false }
            return model.graph.inputs.contains(input)
        }
    }

    @Test(arguments: ["int8.qdq", "int8.qop"])
    func everyQuantizedOutputIsCountedOncePerRun(_ variant: String) throws {
        let model = try Self.model(variant)
        #expect(!model.counters.isEmpty)
        try model.setInput(0, Tensor(zeros: model.inputs[0].type))
        model.resetCounters()
        for _ in 0..<3 { model.run() }
        for i in model.counters.indices {
            let info = model.counters[i]
            let id = try #require(model.graph.valueID(named: info.tensor))
            #expect(model.saturationCounts(i).total == 3 * model.graph[id].type!.elementCount, "\(info.tensor)")
        }
        model.resetCounters()
        #expect(model.counters.indices.allSatisfy { model.saturationCounts($0) == SaturationCounts() })
    }

    /// A frame far brighter than the calibration data leaves the input quantizer's range and
    /// saturates activations; a held-out frame does neither (or barely).
    @Test func overexposedFrameIsOutOfRangeAndSaturates() throws {
        let model = try Self.model("int8.qop")
        let preprocessing = try FixtureModelTests.patchesPreprocessing()
        let clean = try preprocessing.tensor(from: PNM.read(contentsOf: FixturePaths.url("patches/frames/0000.ppm")))
        let counter = try #require(Self.inputCounter(model))

        model.resetCounters()
        try model.setInput(0, clean)
        model.run()
        let cleanCounts = model.saturationCounts(counter)
        #expect(cleanCounts.total == clean.elementCount)
        #expect(cleanCounts.high + cleanCounts.low == 0, "held-out frame out of range: \(cleanCounts)")

        let bright = Tensor(shape: clean.shape, values: clean.scalars(as: Float.self).map { $0 * 4 + 2 })
        model.resetCounters()
        try model.setInput(0, bright)
        model.run()
        let brightCounts = model.saturationCounts(counter)
        #expect(brightCounts.high > brightCounts.total / 2, "overexposed frame: \(brightCounts)")
        let saturatedLayers = model.counters.indices.filter { $0 != counter && model.saturationCounts($0).high > 0 }
        #expect(!saturatedLayers.isEmpty)
    }
}
