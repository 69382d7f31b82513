import FrameSources
import Foundation
import ONNXImport
import QuantGraph
import QuantKernels
import QuantMetrics
import Testing

/// The saturation counts the fast convolution kernels produce inside their requantization epilogues
/// (VNNI C on CPUs that have it, the portable Swift kernels otherwise) against the scalar reference
/// (`Conv2DInt8.reference`: `Requantization.apply` on every output, the rule in Requantize.swift), on
/// the real patches models and frames: every QLinearConv step, every frame, low, high and total.
@Suite struct SaturationReferenceTests {
    /// Held-out frames and strongly drifted ones (which saturate many layers).
    static func frames() throws -> [Tensor] {
        let preprocessing = try FixtureModelTests.patchesPreprocessing()
        let base = FixturePaths.url("patches")
        var urls = Array(try FrameSet.list(base.appendingPathComponent("frames")).prefix(2))
        for set in ["brightness-3", "gain-3", "noise-3"] {
            urls += Array(try FrameSet.list(base.appendingPathComponent("drift/\(set)")).prefix(2))
        }
        return try urls.map { try preprocessing.tensor(from: PNM.read(contentsOf: $0), source: $0.path) }
    }

    /// The reference counts of one QLinearConv node on its (kept) input bytes.
    static func referenceCounts(_ graph: Graph, _ node: Node, op: QLinearConvOperator, input: UnsafeRawBufferPointer,
                                countsLow: Bool, countsHigh: Bool) throws -> SaturationCounts {
        func constant(_ i: Int) -> Tensor? { i < node.inputs.count ? node.inputs[i].flatMap { graph[$0].constant } : nil }
        let xID = try #require(node.inputs[0])
        let xType = try #require(graph[xID].type)
        let w = try #require(constant(3))
        let xScale = try #require(constant(1)?.floatValues()?.first)
        let xZero = Int32(constant(2)?.integers()?.first ?? 0)
        let wScales = try #require(constant(4)?.floatValues())
        let wZeros = (constant(5)?.integers() ?? [0]).map { Int32($0) }
        let yScale = try #require(constant(6)?.floatValues()?.first)
        let yZeroTensor = constant(7)
        let yZero = Int32(yZeroTensor?.integers()?.first ?? 0)
        let yType = graph[node.outputs[0]].type!.dataType
        let bias = constant(8)
        let g = try ConvOperator.geometry(x: xType.shape, w: w.shape, window: op.window, groups: op.groups)
        let multipliers = (0..<g.outChannels).map { c in (xScale * wScales[wScales.count == 1 ? 0 : c]) / yScale }
        var counts = SaturationCounts()
        func run<X: QuantizedScalar, W: QuantizedScalar, Y: QuantizedScalar>(_: X.Type, _: W.Type, _: Y.Type) {
            var r = Requantization.make(Y.self, multipliers: multipliers, zeroPoint: yZero, outputScale: yScale, activation: op.activation)
            if !countsLow { r.countLow = false }
            if !countsHigh { r.countHigh = false }
            let output = UnsafeMutablePointer<Y>.allocate(capacity: g.batch * g.outChannels * g.outHeight * g.outWidth)
            defer { output.deallocate() }
            wZeros.withUnsafeBufferPointer { zeros in
                Conv2DInt8.reference(
                    input: input.baseAddress!.assumingMemoryBound(to: X.self), inputZero: xZero,
                    weights: w.rawPointer.assumingMemoryBound(to: W.self), weightZeros: zeros.baseAddress!, weightZeroCount: zeros.count,
                    bias: bias.map { UnsafePointer($0.storage.pointer.assumingMemoryBound(to: Int32.self)) },
                    output: output, geometry: g, requantization: r, counts: &counts)
            }
        }
        switch (xType.dataType, w.dataType, yType) {
        case (.uint8, .int8, .uint8): run(UInt8.self, Int8.self, UInt8.self)
        case (.uint8, .uint8, .uint8): run(UInt8.self, UInt8.self, UInt8.self)
        case (.int8, .int8, .int8): run(Int8.self, Int8.self, Int8.self)
        case (.uint8, .int8, .int8): run(UInt8.self, Int8.self, Int8.self)
        case (.int8, .int8, .uint8): run(Int8.self, Int8.self, UInt8.self)
        default: Issue.record("untested types \(xType.dataType) \(w.dataType) \(yType)")
        }
        return counts
    }

    static func check(_ variant: String, acceleration: Conv2DInt8.Int8Acceleration, bounds: Bool) throws {
        let url = FixturePaths.url("patches/model.\(variant).onnx")
        let plain = try ONNXModel.load(contentsOf: url)
        let convs = plain.graph.nodes.filter { $0.op is QLinearConvOperator }
        var options = ImportOptions()
        options.compile.keep = Set(convs.compactMap { $0.inputs[0].map { plain.graph[$0].name } })
        options.compile.int8Acceleration = acceleration
        let loaded = try ONNXModel.load(contentsOf: url, options: options)
        var compileOptions = loaded.compileOptions
        if bounds {
            // What `run` and `eval` do: the reference's folded activations' floors and ceilings are not counted.
            var unfused = ImportOptions()
            unfused.compile.foldBatchNormalization = false
            unfused.compile.fuseActivations = false
            let floatGraph = try ONNXModel.load(contentsOf: FixturePaths.url("patches/model.fp32.onnx"), options: unfused).graph
            compileOptions.activationBounds = ModelPairing.activationBounds(float: floatGraph, int8: loaded.graph)
            #expect(!compileOptions.activationBounds.floors.isEmpty && !compileOptions.activationBounds.ceilings.isEmpty)
        }
        let model = try loaded.compile(compileOptions)
        let graph = model.graph
        let convNodes = graph.nodes.filter { $0.op is QLinearConvOperator }
        #expect(convNodes.count == convs.count)
        var saturatedSeen = 0
        for (frameIndex, frame) in try frames().enumerated() {
            model.resetCounters()
            try model.setInput(0, frame)
            model.run()
            for node in convNodes {
                let counter = try #require(model.counters.firstIndex { $0.node.name == node.info.name })
                let inputName = graph[try #require(node.inputs[0])].name
                let input = try #require(model.keptValue(named: inputName), "\(inputName) not kept")
                let output = graph[node.outputs[0]].name
                let expected = try referenceCounts(graph, node, op: node.op as! QLinearConvOperator, input: input.bytes,
                                                   countsLow: !compileOptions.activationBounds.floors.contains(output),
                                                   countsHigh: !compileOptions.activationBounds.ceilings.contains(output))
                let actual = model.saturationCounts(counter)
                #expect(actual == expected, "\(variant) frame \(frameIndex) \(node.info.name): \(actual) vs reference \(expected)")
                saturatedSeen += expected.low + expected.high
            }
        }
        #expect(saturatedSeen > 0, "the frames should saturate some convolution")
    }

    @Test(arguments: ["int8.qop", "int8.qdq"])
    func fastKernelsCountExactlyAsTheReference(_ variant: String) throws {
        try Self.check(variant, acceleration: .automatic, bounds: false)
    }

    @Test(arguments: ["int8.qop", "int8.qdq"])
    func portableKernelsCountExactlyAsTheReference(_ variant: String) throws {
        try Self.check(variant, acceleration: .portable, bounds: false)
    }

    /// With the reference's activation bounds (as `run` and `eval` plan the int8 model), the kernels
    /// skip the floors' low side and the ceilings' high side and count everything else exactly.
    @Test(arguments: ["int8.qop", "int8.qdq"])
    func activationBoundsAreNotCountedAndTheRestIsExact(_ variant: String) throws {
        try Self.check(variant, acceleration: .automatic, bounds: true)
    }

    /// Which ends are folded activations on patches (every conv but the projections ends in a Relu6,
    /// Clip(0, 6)): every Relu6 output's floor; its ceiling where the int8 range ends at 6 (scale
    /// 6/255, zero point 0: 6 maps to 255 = qmax), not on the stem, whose calibrated range ends at
    /// 255 · 0.020933 = 5.34 < 6, so values above qmax there are real saturation, still counted.
    @Test func relu6CeilingsWithinTheRangeAreFoldedAndOthersAreNot() throws {
        var unfused = ImportOptions()
        unfused.compile.foldBatchNormalization = false
        unfused.compile.fuseActivations = false
        let floatGraph = try ONNXModel.load(contentsOf: FixturePaths.url("patches/model.fp32.onnx"), options: unfused).graph
        let int8 = try ONNXModel.load(contentsOf: FixturePaths.url("patches/model.int8.qop.onnx")).graph
        let bounds = ModelPairing.activationBounds(float: floatGraph, int8: int8)
        let stem = "/stem/bn/BatchNormalization_output_0_quantized"
        let expand = "/blocks.0/expand/bn/BatchNormalization_output_0_quantized"
        let project = "/blocks.0/project/bn/BatchNormalization_output_0_quantized"
        #expect(bounds.floors.count == 12 && bounds.ceilings.count == 11)
        #expect(bounds.floors.contains(stem) && !bounds.ceilings.contains(stem))
        #expect(bounds.floors.contains(expand) && bounds.ceilings.contains(expand))
        #expect(!bounds.floors.contains(project) && !bounds.ceilings.contains(project))
        #expect(bounds.ceilings.isSubset(of: bounds.floors))
    }

    /// qdq: onnxruntime removed the Relu6 of the convolutions it left in float and quantizes their
    /// output with the Relu6's range (the float reference still has the Clip). Planned with the
    /// reference's bounds, those QuantizeLinear steps skip the floor and ceiling (0, not ReLU's
    /// negatives) and still total every element; planned without, the negatives count as low.
    @Test func quantizersOfFoldedActivationsSkipTheirBounds() throws {
        let url = FixturePaths.url("patches/model.int8.qdq.onnx")
        var unfused = ImportOptions()
        unfused.compile.foldBatchNormalization = false
        unfused.compile.fuseActivations = false
        let floatGraph = try ONNXModel.load(contentsOf: FixturePaths.url("patches/model.fp32.onnx"), options: unfused).graph
        let loaded = try ONNXModel.load(contentsOf: url)
        var options = loaded.compileOptions
        options.activationBounds = ModelPairing.activationBounds(float: floatGraph, int8: loaded.graph)
        let bounded = try loaded.compile(options), plain = try loaded.compile()
        let quantizers = bounded.counters.indices.filter {
            bounded.counters[$0].node.opType == "QuantizeLinear" && options.activationBounds.floors.contains(bounded.counters[$0].tensor)
        }
        #expect(!quantizers.isEmpty)
        #expect(quantizers.allSatisfy { options.activationBounds.ceilings.contains(bounded.counters[$0].tensor) })
        for frame in try Self.frames() {
            for model in [bounded, plain] {
                try model.setInput(0, frame)
                model.run()
            }
        }
        for i in quantizers {
            let counts = bounded.saturationCounts(i)
            let j = try #require(plain.counters.firstIndex { $0.tensor == bounded.counters[i].tensor })
            #expect(counts.low == 0 && counts.high == 0 && counts.total == plain.saturationCounts(j).total && counts.total > 0)
            #expect(plain.saturationCounts(j).low > 0, "\(bounded.counters[i].tensor): ReLU's negatives, counted without the bounds")
        }
    }

    /// `saturationCounters = false` (bench --no-counters) counts no saturation and no input out of range.
    @Test func countersOffCountNoSaturation() throws {
        let loaded = try ONNXModel.load(contentsOf: FixturePaths.url("patches/model.int8.qop.onnx"))
        var options = loaded.compileOptions
        options.saturationCounters = false
        let model = try loaded.compile(options)
        for frame in try Self.frames() {
            try model.setInput(0, frame)
            model.run()
        }
        #expect(model.counters.indices.allSatisfy { model.saturationCounts($0).low == 0 && model.saturationCounts($0).high == 0 })
    }
}
