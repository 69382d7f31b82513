import QuantGraph
import QuantKernels
import Testing

@Suite struct FoldingTests {
    /// y = Reshape(LeakyRelu(x), Concat(Unsqueeze(Gather(Shape(x), 0)), [-1])) · 2:
    /// the shape computation must fold away at prepare(), leaving only the compute nodes.
    static func shapeChain() -> (GraphBuilder, reshaped: ValueID) {
        var b = GraphBuilder()
        let x = b.input("x", [1, 8, 4, 4])
        let act = b.node("act", UnaryOperator(.leakyRelu(alpha: 0.5)), [x])
        let shape = b.node("shape", ShapeOperator(), [x])
        let zero = b.constant("zero", Tensor(scalar: Int64(0)))
        let batch = b.node("gather", GatherOperator(axis: 0), [shape, zero])
        let axes = b.constant("axes", int64s: [0])
        let batch1 = b.node("unsqueeze", ViewOperator(.unsqueeze(axes: nil), name: "Unsqueeze"), [batch, axes])
        let minusOne = b.constant("minus_one", int64s: [-1])
        let target = b.node("concat", ConcatOperator(axis: 0), [batch1, minusOne])
        let reshaped = b.node("reshape", ViewOperator(.reshape(allowZero: false), name: "Reshape"), [act, target])
        let two = b.constant("two", shape: [1], floats: [2])
        let y = b.node("scale", BinaryOperator(.mul), [reshaped, two])
        b.output(y)
        return (b, reshaped)
    }

    @Test func shapeGatherUnsqueezeConcatChainFoldsAwayCompletely() throws {
        var (b, reshaped) = Self.shapeChain()
        try b.graph.prepare()
        let kinds = b.graph.nodes.map(\.info.opType)
        #expect(kinds == ["LeakyRelu", "Reshape", "Mul"])
        for folded in ["Shape", "Gather", "Unsqueeze", "Concat"] { #expect(!kinds.contains(folded), "\(folded) survived: \(kinds)") }
        #expect(b.graph[reshaped].type == TensorType(.float32, [1, 128]))
        // The folded target shape is now a constant feeding Reshape.
        let reshape = try #require(b.graph.nodes.first { $0.info.opType == "Reshape" })
        let target = try #require(reshape.inputs[1].flatMap { b.graph[$0].constant })
        #expect(target.integers() == [1, -1])
    }

    @Test func foldedShapeChainStillComputesCorrectly() throws {
        let (b, _) = Self.shapeChain()
        let model = try b.compile()
        #expect(model.outputs[0].type == TensorType(.float32, [1, 128]))
        #expect(model.stepCount == 2)  // LeakyRelu and Mul; Reshape is a view
        let x = pseudoRandomFloats(128, seed: 11)
        let out = try run(model, input: Tensor(shape: [1, 8, 4, 4], values: x))
        #expect(maxAbsDifference(out, x.map { ($0 < 0 ? $0 * 0.5 : $0) * 2 }) <= 1e-6)
    }

    @Test func nodeWithAllConstantInputsIsFoldedIntoAConstant() throws {
        var b = GraphBuilder()
        let x = b.input("x", [2, 3])
        let c1 = b.constant("c1", shape: [2, 3], floats: [1, 2, 3, 4, 5, 6])
        let c2 = b.constant("c2", shape: [3], floats: [10, 20, 30])
        let sum = b.node("const_add", BinaryOperator(.add), [c1, c2])
        let y = b.node("add_x", BinaryOperator(.add), [x, sum])
        b.output(y)
        var graph = b.graph
        try graph.prepare()
        #expect(graph.nodes.map(\.info.name) == ["add_x"])
        let folded = try #require(graph[sum].constant)
        #expect(folded.scalars(as: Float.self) == [11, 22, 33, 14, 25, 36])
        let model = try CompiledModel(graph: graph)
        let out = try run(model, input: Tensor(shape: [2, 3], values: [Float](repeating: 1, count: 6)))
        #expect(out == [12, 23, 34, 15, 26, 37])
    }

    @Test func chainOfConstantNodesFoldsTransitively() throws {
        var b = GraphBuilder()
        let x = b.input("x", [4])
        let c = b.constant("c", shape: [4], floats: [-1, 2, -3, 4])
        let r = b.node("relu_c", UnaryOperator(.relu), [c])
        let two = b.constant("two", shape: [1], floats: [2])
        let m = b.node("mul_c", BinaryOperator(.mul), [r, two])
        let y = b.node("add_x", BinaryOperator(.add), [x, m])
        b.output(y)
        var graph = b.graph
        try graph.prepare()
        #expect(graph.nodes.map(\.info.name) == ["add_x"])
        #expect(graph[m].constant?.scalars(as: Float.self) == [0, 4, 0, 8])
    }

    @Test func graphWhoseOutputIsConstantHasNoSteps() throws {
        var b = GraphBuilder()
        _ = b.input("x", [3])
        let c = b.constant("c", shape: [3], floats: [1, 2, 3])
        let y = b.node("neg", BinaryOperator(.sub), [c, c])
        b.output(y)
        let model = try b.compile()
        #expect(model.stepCount == 0)
        model.run()
        #expect(model.output(0).scalars(as: Float.self) == [0, 0, 0])
    }

    @Test func deadNodesAreRemoved() throws {
        var b = GraphBuilder()
        let x = b.input("x", [4])
        let used = b.node("used", UnaryOperator(.sigmoid), [x])
        _ = b.node("unused", UnaryOperator(.tanh), [x])
        b.output(used)
        var graph = b.graph
        try graph.prepare()
        #expect(graph.nodes.map(\.info.name) == ["used"])
    }

    @Test func nodesAreOrderedAfterTheirProducers() throws {
        var b = GraphBuilder()
        let x = b.input("x", [4])
        // Declare the consumer before its producer.
        let early = b.graph.addValue(Value(name: "early"))
        let late = b.graph.addValue(Value(name: "late"))
        b.graph.addNode(Node(info: NodeInfo(name: "consumer", opType: "Sigmoid", opset: 17), op: UnaryOperator(.sigmoid), inputs: [early], outputs: [late]))
        b.graph.addNode(Node(info: NodeInfo(name: "producer", opType: "Tanh", opset: 17), op: UnaryOperator(.tanh), inputs: [x], outputs: [early]))
        b.output(late)
        var graph = b.graph
        try graph.prepare()
        #expect(graph.nodes.map(\.info.name) == ["producer", "consumer"])
    }

    @Test func prepareOnGraphWithCycleThrowsNamingCycle() throws {
        var b = GraphBuilder()
        let x = b.input("x", [4])
        let p = b.graph.addValue(Value(name: "p"))
        let q = b.graph.addValue(Value(name: "q"))
        b.graph.addNode(Node(info: NodeInfo(name: "loop_a", opType: "Add", opset: 17), op: BinaryOperator(.add), inputs: [x, q], outputs: [p]))
        b.graph.addNode(Node(info: NodeInfo(name: "loop_b", opType: "Relu", opset: 17), op: UnaryOperator(.relu), inputs: [p], outputs: [q]))
        b.output(q)
        var graph = b.graph
        let error = try #require(throws: ModelError.self) { try graph.prepare() }
        #expect(error.message.contains("cycle"))
        #expect(error.message.contains("loop_a") || error.message.contains("loop_b"), "\(error.message)")
    }

    @Test func selfLoopIsACycle() throws {
        var b = GraphBuilder()
        let x = b.input("x", [4])
        let p = b.graph.addValue(Value(name: "p"))
        b.graph.addNode(Node(info: NodeInfo(name: "self_add", opType: "Add", opset: 17), op: BinaryOperator(.add), inputs: [x, p], outputs: [p]))
        b.output(p)
        var graph = b.graph
        let error = try #require(throws: ModelError.self) { try graph.prepare() }
        #expect(error.message.contains("cycle") && error.message.contains("self_add"), "\(error.message)")
    }

    @Test func typeErrorInNodeIsWrappedWithNodeIdentity() throws {
        var b = GraphBuilder()
        let x = b.input("x", [2, 3])
        let c = b.constant("c", shape: [4], floats: [1, 2, 3, 4])
        let y = b.node("bad_add", BinaryOperator(.add), [x, c])
        b.output(y)
        var graph = b.graph
        let error = try #require(throws: ModelError.self) { try graph.prepare() }
        #expect(error.message.contains("node 'bad_add'"), "\(error.message)")
        #expect(error.message.contains("ai.onnx::Add"), "\(error.message)")
        #expect(error.message.contains("cannot be broadcast"), "\(error.message)")
    }
}
