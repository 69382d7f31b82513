import QuantGraph
import QuantKernels
import Testing

@Suite struct FusionTests {
    static let inputShape = [1, 3, 8, 8]
    /// Values in [-4, 4): large enough that Clip(0, 6) bites.
    static let input = Tensor(shape: inputShape, values: pseudoRandomFloats(3 * 64, seed: 1).map { $0 * 4 })
    /// Values in [-1, 1): keeps BatchNormalization outputs near unit scale, so 1e-5 is a fair absolute bound.
    static let bnInput = Tensor(shape: inputShape, values: pseudoRandomFloats(3 * 64, seed: 1))

    static func options(foldBN: Bool = true, fuse: Bool = true, keep: Set<String> = []) -> CompileOptions {
        var o = CompileOptions()
        o.foldBatchNormalization = foldBN
        o.fuseActivations = fuse
        o.keep = keep
        return o
    }

    /// conv = Conv(x, W[4,3,3,3], b[4]) with pads 1.
    static func conv(_ b: inout GraphBuilder, _ x: ValueID, bias: Bool = true, scale: Float = 1) -> ValueID {
        let w = b.constant("W", shape: [4, 3, 3, 3], floats: pseudoRandomFloats(108, seed: 2).map { $0 * scale })
        let bv = bias ? b.constant("B", shape: [4], floats: [0.5, -0.25, 0.125, -1]) : nil
        return b.node("conv", ConvOperator(window: WindowAttributes(pads: [1, 1, 1, 1])), bias ? [x, w, bv] : [x, w])
    }

    static func batchNorm(_ b: inout GraphBuilder, _ x: ValueID) -> ValueID {
        let gamma = b.constant("gamma", shape: [4], floats: [1.2, 0.5, -0.8, 1])
        let beta = b.constant("beta", shape: [4], floats: [0.1, -0.2, 0.3, 0])
        let mean = b.constant("mean", shape: [4], floats: [0.2, -0.1, 0.05, 1])
        let variance = b.constant("var", shape: [4], floats: [0.9, 2, 0.64, 1])
        return b.node("bn", BatchNormalizationOperator(epsilon: 1e-5), [x, gamma, beta, mean, variance])
    }

    // MARK: Conv + BatchNormalization

    @Test(arguments: [true, false])
    func convThenBatchNormFoldsIntoOneConvWithSameOutput(_ withBias: Bool) throws {
        var b = GraphBuilder()
        let x = b.input("x", Self.inputShape)
        let c = Self.conv(&b, x, bias: withBias)
        let out = Self.batchNorm(&b, c)
        b.output(out)
        let folded = try b.compile(Self.options())
        let unfolded = try b.compile(Self.options(foldBN: false))
        #expect(folded.graph.nodes.map(\.info.opType) == ["Conv"])
        #expect(folded.graph.nodes[0].info.name == "conv+bn")
        #expect(unfolded.graph.nodes.map(\.info.opType) == ["Conv", "BatchNormalization"])
        let a = try run(folded, input: Self.bnInput), e = try run(unfolded, input: Self.bnInput)
        #expect(a.count == 4 * 64)
        #expect(maxAbsDifference(a, e) <= 1e-5, "max difference \(maxAbsDifference(a, e))")
    }

    @Test func convBatchNormReluBecomesOneConvStep() throws {
        var b = GraphBuilder()
        let x = b.input("x", Self.inputShape)
        let convOut = Self.conv(&b, x)
        let bn = Self.batchNorm(&b, convOut)
        let out = b.node("relu", UnaryOperator(.relu), [bn])
        b.output(out)
        let fused = try b.compile(Self.options())
        let plain = try b.compile(Self.options(foldBN: false, fuse: false))
        #expect(fused.graph.nodes.map(\.info.name) == ["conv+bn+relu"])
        #expect(fused.stepCount == 1)
        #expect(plain.stepCount == 3)
        let a = try run(fused, input: Self.bnInput), e = try run(plain, input: Self.bnInput)
        #expect(maxAbsDifference(a, e) <= 1e-5)
        #expect(a.allSatisfy { $0 >= 0 })
    }

    @Test func batchNormWhoseConvOutputIsAlsoReadElsewhereIsNotFolded() throws {
        var b = GraphBuilder()
        let x = b.input("x", Self.inputShape)
        let c = Self.conv(&b, x)
        let bn = Self.batchNorm(&b, c)
        let sum = b.node("sum", BinaryOperator(.add), [bn, c])
        b.output(sum)
        let model = try b.compile(Self.options())
        #expect(model.graph.nodes.map(\.info.opType) == ["Conv", "BatchNormalization", "Add"])
        let reference = try b.compile(Self.options(foldBN: false, fuse: false))
        #expect(maxAbsDifference(try run(model, input: Self.bnInput), try run(reference, input: Self.bnInput)) <= 1e-5)
    }

    /// A tensor named in CompileOptions.keep must hold its own values after a run (taps and
    /// layer comparison): folding the BatchNormalization after it must not leave it unwritten.
    @Test func keptConvOutputBeforeBatchNormHoldsConvValues() throws {
        var b = GraphBuilder()
        let x = b.input("x", Self.inputShape)
        let convOut = Self.conv(&b, x)
        let out = Self.batchNorm(&b, convOut)
        b.output(out)
        let keep: Set<String> = ["conv_out"]
        let reference = try b.compile(Self.options(foldBN: false, keep: keep))
        _ = try run(reference, input: Self.bnInput)
        let expected = try #require(reference.keptValue(named: "conv_out")).bytes.withMemoryRebound(to: Float.self) { Array($0) }
        #expect(expected.contains { $0 != 0 })
        let model = try b.compile(Self.options(keep: keep))
        _ = try run(model, input: Self.bnInput)
        let kept = try #require(model.keptValue(named: "conv_out"), "conv_out was not kept")
        let actual = kept.bytes.withMemoryRebound(to: Float.self) { Array($0) }
        #expect(maxAbsDifference(actual, expected) <= 1e-5,
                "kept conv_out differs from the Conv's output by \(maxAbsDifference(actual, expected)); graph: \(model.graph.nodes.map(\.info.name))")
    }

    // MARK: Activations

    @Test func convThenReluFusesIntoConv() throws {
        var b = GraphBuilder()
        let x = b.input("x", Self.inputShape)
        let c = Self.conv(&b, x)
        let out = b.node("relu", UnaryOperator(.relu), [c])
        b.output(out)
        let fused = try b.compile(Self.options())
        let unfused = try b.compile(Self.options(fuse: false))
        #expect(fused.graph.nodes.count == 1)
        #expect(unfused.graph.nodes.count == 2)
        let conv = try #require(fused.graph.nodes.first?.op as? ConvOperator)
        #expect(conv.clamp == FloatClamp(lower: 0))
        let a = try run(fused, input: Self.input), e = try run(unfused, input: Self.input)
        #expect(a == e)
        #expect(a.contains { $0 == 0 } && a.contains { $0 > 0 })
    }

    @Test func convThenClipZeroSixFusesIntoConv() throws {
        var b = GraphBuilder()
        let x = b.input("x", Self.inputShape)
        let c = Self.conv(&b, x, scale: 4)
        let lo = b.constant("lo", Tensor(scalar: Float(0)))
        let hi = b.constant("hi", Tensor(scalar: Float(6)))
        let out = b.node("clip", ClipOperator(), [c, lo, hi])
        b.output(out)
        let fused = try b.compile(Self.options())
        let unfused = try b.compile(Self.options(fuse: false))
        #expect(fused.graph.nodes.map(\.info.name) == ["conv+clip"])
        #expect(unfused.graph.nodes.count == 2)
        let conv = try #require(fused.graph.nodes.first?.op as? ConvOperator)
        #expect(conv.clamp == FloatClamp(lower: 0, upper: 6))
        let a = try run(fused, input: Self.input), e = try run(unfused, input: Self.input)
        #expect(a == e)
        #expect(a.contains { $0 == 6 } && a.contains { $0 == 0 })
    }

    @Test func convThenClipAttributeFormFusesIntoConv() throws {
        var b = GraphBuilder()
        let x = b.input("x", Self.inputShape)
        let c = Self.conv(&b, x, scale: 4)
        let out = b.node("relu6", UnaryOperator(.clip(lower: 0, upper: 6)), [c])
        b.output(out)
        let fused = try b.compile(Self.options())
        let unfused = try b.compile(Self.options(fuse: false))
        #expect(fused.graph.nodes.count == 1)
        #expect(try run(fused, input: Self.input) == (try run(unfused, input: Self.input)))
    }

    @Test func clipWithRunTimeBoundIsNotFused() throws {
        var b = GraphBuilder()
        let x = b.input("x", Self.inputShape)
        let hi = b.input("hi", [])  // known only when the model runs
        let c = Self.conv(&b, x, scale: 4)
        let y = b.node("clip", ClipOperator(), [c, nil, hi])
        b.output(y)
        let model = try b.compile(Self.options())
        #expect(model.graph.nodes.map(\.info.name) == ["conv", "clip"])
        try model.setInput(0, Self.input)
        try model.setInput(1, Tensor(scalar: Float(0.5)))
        model.run()
        let out = model.output(0).scalars(as: Float.self)
        #expect(out.max() == 0.5)
        #expect(out.contains { $0 < 0 })
    }

    @Test func activationWhoseInputIsAlsoReadElsewhereIsNotFused() throws {
        var b = GraphBuilder()
        let x = b.input("x", Self.inputShape)
        let c = Self.conv(&b, x)
        let r = b.node("relu", UnaryOperator(.relu), [c])
        let y = b.node("residual", BinaryOperator(.add), [r, c])
        b.output(y)
        let model = try b.compile(Self.options())
        #expect(model.graph.nodes.map(\.info.name) == ["conv", "relu", "residual"])
        let conv = try #require(model.graph.nodes.first?.op as? ConvOperator)
        #expect(conv.clamp.isNone)
        let reference = try b.compile(Self.options(fuse: false))
        #expect(try run(model, input: Self.input) == (try run(reference, input: Self.input)))
    }

    @Test func activationWhoseInputIsAGraphOutputIsNotFused() throws {
        var b = GraphBuilder()
        let x = b.input("x", Self.inputShape)
        let c = Self.conv(&b, x)
        let r = b.node("relu", UnaryOperator(.relu), [c])
        b.output(c)
        b.output(r)
        let model = try b.compile(Self.options())
        #expect(model.graph.nodes.count == 2)
        try model.setInput(0, Self.input)
        model.run()
        let pre = model.output(0).scalars(as: Float.self), post = model.output(1).scalars(as: Float.self)
        #expect(pre.contains { $0 < 0 }, "the Conv output must keep its negative values")
        #expect(post == pre.map { max($0, 0) })
    }

    @Test func activationWhoseInputIsKeptIsNotFused() throws {
        var b = GraphBuilder()
        let x = b.input("x", Self.inputShape)
        let c = Self.conv(&b, x)
        let out = b.node("relu", UnaryOperator(.relu), [c])
        b.output(out)
        let model = try b.compile(Self.options(keep: ["conv_out"]))
        #expect(model.graph.nodes.count == 2)
        let post = try run(model, input: Self.input)
        let pre = try #require(model.keptValue(named: "conv_out")).bytes.withMemoryRebound(to: Float.self) { Array($0) }
        #expect(pre.contains { $0 < 0 })
        #expect(post == pre.map { max($0, 0) })
    }

    @Test func reluAfterFloatAddFusesIntoAdd() throws {
        var b = GraphBuilder()
        let x = b.input("x", [2, 8])
        let k = b.constant("k", shape: [8], floats: pseudoRandomFloats(8, seed: 9))
        let s = b.node("add", BinaryOperator(.add), [x, k])
        let out = b.node("relu", UnaryOperator(.relu), [s])
        b.output(out)
        let fused = try b.compile(Self.options())
        let unfused = try b.compile(Self.options(fuse: false))
        #expect(fused.graph.nodes.map(\.info.name) == ["add+relu"])
        let input = Tensor(shape: [2, 8], values: pseudoRandomFloats(16, seed: 10))
        #expect(try run(fused, input: input) == (try run(unfused, input: input)))
    }

    @Test func sigmoidIsNeverFused() throws {
        var b = GraphBuilder()
        let x = b.input("x", Self.inputShape)
        let c = Self.conv(&b, x)
        let out = b.node("sigmoid", UnaryOperator(.sigmoid), [c])
        b.output(out)
        let model = try b.compile(Self.options())
        #expect(model.graph.nodes.count == 2)
    }
}
