import QuantGraph
import QuantKernels
import Testing

@Suite struct MemoryPlanTests {
    static let shape = [1, 8, 32, 32]
    static var count: Int { shape.reduce(1, *) }
    static var bufferBytes: Int { count * 4 }

    /// x → +1 → ×2 → −3 → ÷4 → LeakyRelu(0.5) → +0.25 = y: six elementwise steps, no fusion possible.
    static func chain() -> GraphBuilder {
        var b = GraphBuilder()
        let x = b.input("x", shape)
        let one = b.constant("one", shape: [1], floats: [1])
        let two = b.constant("two", shape: [1], floats: [2])
        let three = b.constant("three", shape: [1], floats: [3])
        let four = b.constant("four", shape: [1], floats: [4])
        let quarter = b.constant("quarter", shape: [1], floats: [0.25])
        let t1 = b.node("add", BinaryOperator(.add), [x, one])
        let t2 = b.node("mul", BinaryOperator(.mul), [t1, two])
        let t3 = b.node("sub", BinaryOperator(.sub), [t2, three])
        let t4 = b.node("div", BinaryOperator(.div), [t3, four])
        let t5 = b.node("leaky", UnaryOperator(.leakyRelu(alpha: 0.5)), [t4])
        let y = b.node("bias", BinaryOperator(.add), [t5, quarter])
        b.output(y)
        return b
    }

    static func expectedChain(_ x: [Float]) -> [Float] {
        x.map { v in
            let t = ((v + 1) * 2 - 3) / 4
            return (t < 0 ? t * 0.5 : t) + 0.25
        }
    }

    static var input: [Float] { (0..<count).map { Float($0 % 17) - 8 } }

    /// Each non-constant value's [first, last] step, with view outputs merged into their source.
    static func lifetimes(_ graph: Graph) -> (root: [Int], first: [Int], last: [Int]) {
        var root = Array(graph.values.indices)
        for node in graph.nodes {
            if let v = node.op.viewOfInput, let source = node.inputs[v], graph[source].constant == nil {
                root[node.outputs[0].index] = root[source.index]
            }
        }
        var first = [Int](repeating: .max, count: graph.values.count), last = [Int](repeating: .min, count: graph.values.count)
        func touch(_ v: ValueID, _ t: Int) {
            let r = root[v.index]
            first[r] = min(first[r], t)
            last[r] = max(last[r], t)
        }
        for input in graph.inputs { touch(input, -1); touch(input, graph.nodes.count) }
        for output in graph.outputs where graph[output].constant == nil { touch(output, graph.nodes.count) }
        for (t, node) in graph.nodes.enumerated() {
            for output in node.outputs { touch(output, t) }
            for case let input? in node.inputs where graph[input].constant == nil { touch(input, t) }
        }
        return (root, first, last)
    }

    /// Checks that no two simultaneously live buffers overlap in the arena.
    static func expectNoLiveOverlap(_ model: CompiledModel, sourceLocation: SourceLocation = #_sourceLocation) throws {
        let graph = model.graph, plan = model.plan
        let (root, first, last) = lifetimes(graph)
        let roots = Set(graph.values.indices.filter { graph.values[$0].constant == nil && root[$0] == $0 && first[$0] != .max })
        for a in roots {
            let offsetA = try #require(plan.offsets[a], "value \(graph.values[a].name) has no offset", sourceLocation: sourceLocation)
            let endA = offsetA + graph.values[a].type!.byteCount
            #expect(endA <= plan.arenaByteCount, sourceLocation: sourceLocation)
            for b in roots where b > a {
                guard first[a] <= last[b] && first[b] <= last[a] else { continue }
                let offsetB = try #require(plan.offsets[b], sourceLocation: sourceLocation)
                let endB = offsetB + graph.values[b].type!.byteCount
                #expect(endA <= offsetB || endB <= offsetA,
                        "\(graph.values[a].name) [\(offsetA), \(endA)) live \(first[a])...\(last[a]) overlaps \(graph.values[b].name) [\(offsetB), \(endB)) live \(first[b])...\(last[b])",
                        sourceLocation: sourceLocation)
            }
        }
    }

    @Test func chainOfSixElementwiseOpsReusesBuffers() throws {
        let model = try Self.chain().compile()
        #expect(model.graph.nodes.count == 6)
        #expect(model.plan.unsharedByteCount == 7 * Self.bufferBytes)
        // Input and output live all run; the five intermediates need only two slots between them.
        #expect(model.plan.arenaByteCount <= 4 * Self.bufferBytes)
        #expect(model.plan.arenaByteCount * 2 < model.plan.unsharedByteCount)
        #expect(model.arenaByteCount == model.plan.arenaByteCount)
    }

    @Test func bufferOfDeadTensorIsReusedByLaterTensor() throws {
        let model = try Self.chain().compile()
        let graph = model.graph
        let intermediates = graph.nodes.dropLast().map { $0.outputs[0] }
        let offsets = intermediates.map { model.plan.offsets[$0.index]! }
        #expect(Set(offsets).count < offsets.count, "intermediate offsets \(offsets) never reuse a buffer")
        // add_out dies at step 1 (mul); sub_out is written at step 2 and may take its place.
        let (_, first, last) = Self.lifetimes(graph)
        var reused = false
        for (i, a) in intermediates.enumerated() {
            for b in intermediates.dropFirst(i + 1) where offsets[intermediates.firstIndex(of: b)!] == offsets[i] {
                #expect(last[a.index] < first[b.index], "\(graph[a].name) and \(graph[b].name) share an offset while both live")
                reused = true
            }
        }
        #expect(reused)
    }

    @Test func simultaneouslyLiveValuesNeverOverlap() throws {
        try Self.expectNoLiveOverlap(try Self.chain().compile())
    }

    @Test func offsetsAreAlignedAndConstantsHaveNone() throws {
        let model = try Self.chain().compile()
        for (i, value) in model.graph.values.enumerated() {
            if value.constant != nil {
                #expect(model.plan.offsets[i] == nil, "constant \(value.name) has an arena offset")
            } else if let offset = model.plan.offsets[i] {
                #expect(offset % MemoryPlan.alignment == 0, "\(value.name) at \(offset)")
            }
        }
    }

    @Test func inputAndOutputStayValidAfterRun() throws {
        let model = try Self.chain().compile()
        let x = Self.input
        try model.setInput(0, Tensor(shape: Self.shape, values: x))
        model.run()
        let expected = Self.expectedChain(x)
        #expect(maxAbsDifference(model.output(0).scalars(as: Float.self), expected) <= 1e-6)
        // The input buffer was not used as scratch by any intermediate.
        let inputAfter = model.inputBuffer(0).withMemoryRebound(to: Float.self) { Array($0) }
        #expect(inputAfter == x)
        // The output bytes stay put until the next run.
        let again = model.outputBuffer(0).withMemoryRebound(to: Float.self) { Array($0) }
        #expect(maxAbsDifference(again, expected) <= 1e-6)
    }

    @Test func reshapeViewSharesItsInputsOffset() throws {
        var b = GraphBuilder()
        let x = b.input("x", Self.shape)
        let t = b.node("sig", UnaryOperator(.leakyRelu(alpha: 0.1)), [x])
        let shape = b.constant("shape", int64s: [1, 8, 1024])
        let r = b.node("reshape", ViewOperator(.reshape(allowZero: false), name: "Reshape"), [t, shape])
        let half = b.constant("half", shape: [1], floats: [0.5])
        let y = b.node("scale", BinaryOperator(.mul), [r, half])
        b.output(y)
        let model = try b.compile()
        #expect(model.graph.nodes.map(\.info.opType) == ["LeakyRelu", "Reshape", "Mul"])
        let tOffset = try #require(model.plan.offsets[t.index])
        #expect(model.plan.offsets[r.index] == tOffset)
        #expect(model.graph[r].type == TensorType(.float32, [1, 8, 1024]))
        // A view runs no step and needs no buffer of its own.
        #expect(model.stepCount == 2)
        #expect(model.plan.unsharedByteCount == 3 * Self.bufferBytes)
        try Self.expectNoLiveOverlap(model)
        let x0 = Self.input
        let out = try run(model, input: Tensor(shape: Self.shape, values: x0))
        let expected = x0.map { ($0 < 0 ? $0 * 0.1 : $0) * 0.5 }
        #expect(maxAbsDifference(out, expected) <= 1e-6)
        #expect(model.outputs[0].type == TensorType(.float32, [1, 8, 1024]))
    }

    /// The source of a view stays live as long as the view is read.
    @Test func viewKeepsItsSourceAliveUntilLastReadOfTheView() throws {
        var b = GraphBuilder()
        let x = b.input("x", [1, 4, 8, 8])
        let a = b.node("a", UnaryOperator(.leakyRelu(alpha: 0.25)), [x])
        let flat = b.node("flat", ViewOperator(.flatten(axis: 1), name: "Flatten"), [a])
        // Several steps that allocate new buffers while `flat` is still needed at the end.
        let k1 = b.constant("k1", shape: [1], floats: [3]), k2 = b.constant("k2", shape: [1], floats: [1])
        let c1 = b.node("c1", BinaryOperator(.mul), [flat, k1])
        let c2 = b.node("c2", BinaryOperator(.add), [c1, k2])
        let c3 = b.node("c3", BinaryOperator(.sub), [c2, flat])
        b.output(c3)
        let model = try b.compile()
        try Self.expectNoLiveOverlap(model)
        let x0 = pseudoRandomFloats(256, seed: 7)
        let out = try run(model, input: Tensor(shape: [1, 4, 8, 8], values: x0))
        let expected = x0.map { v -> Float in let a = v < 0 ? v * 0.25 : v; return (a * 3 + 1) - a }
        #expect(maxAbsDifference(out, expected) <= 1e-5)
    }

    /// Two outputs, one of which is an intermediate others read afterwards: both hold the right values.
    @Test func intermediateGraphOutputIsNotOverwrittenByLaterSteps() throws {
        var b = GraphBuilder()
        let x = b.input("x", [1, 2, 4, 4])
        let two = b.constant("two", shape: [1], floats: [2]), one = b.constant("one", shape: [1], floats: [1])
        let five = b.constant("five", shape: [1], floats: [5])
        let a = b.node("a", BinaryOperator(.mul), [x, two])
        let c = b.node("c", BinaryOperator(.add), [a, one])
        let d = b.node("d", BinaryOperator(.mul), [c, c])
        let e = b.node("e", BinaryOperator(.sub), [d, five])
        b.output(a)
        b.output(e)
        let model = try b.compile()
        try Self.expectNoLiveOverlap(model)
        let x0 = pseudoRandomFloats(32, seed: 3)
        try model.setInput(0, Tensor(shape: [1, 2, 4, 4], values: x0))
        model.run()
        #expect(maxAbsDifference(model.output(0).scalars(as: Float.self), x0.map { $0 * 2 }) <= 1e-6)
        #expect(maxAbsDifference(model.output(1).scalars(as: Float.self), x0.map { let c = $0 * 2 + 1; return c * c - 5 }) <= 1e-5)
    }
}
