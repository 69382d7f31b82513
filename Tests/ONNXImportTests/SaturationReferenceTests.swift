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
                                countsLow: Bool) throws -> SaturationCounts {
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

    static func check(_ variant: String, acceleration: Conv2DInt8.Int8Acceleration, floors: Bool) throws {
        let url = FixturePaths.url("patches/model.\(variant).onnx")
        let plain = try ONNXModel.load(contentsOf: url)
        let convs = plain.graph.nodes.filter { $0.op is QLinearConvOperator }
        var options = ImportOptions()
        options.compile.keep = Set(convs.compactMap { $0.inputs[0].map { plain.graph[$0].name } })
        options.compile.int8Acceleration = acceleration
        let loaded = try ONNXModel.load(contentsOf: url, options: options)
        var compileOptions = loaded.compileOptions
        if floors {
            // What `run` and `eval` do: the reference's folded activations are not counted low.
            var unfused = ImportOptions()
            unfused.compile.foldBatchNormalization = false
            unfused.compile.fuseActivations = false
            let floatGraph = try ONNXModel.load(contentsOf: FixturePaths.url("patches/model.fp32.onnx"), options: unfused).graph
            compileOptions.activationFloors = ModelPairing.activationFloors(float: floatGraph, int8: loaded.graph)
            #expect(!compileOptions.activationFloors.isEmpty)
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
                let countsLow = !compileOptions.activationFloors.contains(graph[node.outputs[0]].name)
                let expected = try referenceCounts(graph, node, op: node.op as! QLinearConvOperator, input: input.bytes,
                                                   countsLow: countsLow)
                let actual = model.saturationCounts(counter)
                #expect(actual == expected, "\(variant) frame \(frameIndex) \(node.info.name): \(actual) vs reference \(expected)")
                saturatedSeen += expected.low + expected.high
            }
        }
        #expect(saturatedSeen > 0, "the frames should saturate some convolution")
    }

    @Test(arguments: ["int8.qop", "int8.qdq"])
    func fastKernelsCountExactlyAsTheReference(_ variant: String) throws {
        try Self.check(variant, acceleration: .automatic, floors: false)
    }

    @Test(arguments: ["int8.qop", "int8.qdq"])
    func portableKernelsCountExactlyAsTheReference(_ variant: String) throws {
        try Self.check(variant, acceleration: .portable, floors: false)
    }

    /// With the reference's activation floors (as `run` and `eval` plan the int8 model), the kernels
    /// skip those tensors' low side and still count their high side and every other tensor exactly.
    @Test(arguments: ["int8.qop", "int8.qdq"])
    func activationFloorsAreNotCountedLowAndTheRestIsExact(_ variant: String) throws {
        try Self.check(variant, acceleration: .automatic, floors: true)
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
