import QuantGraph
import QuantKernels
import Testing

/// Builds graphs directly with the Graph API.
struct GraphBuilder {
    var graph = Graph()

    mutating func input(_ name: String, _ shape: [Int], _ dataType: DataType = .float32) -> ValueID {
        let id = graph.addValue(Value(name: name, type: TensorType(dataType, shape)))
        graph.inputs.append(id)
        return id
    }

    mutating func constant(_ name: String, _ tensor: Tensor) -> ValueID {
        graph.addValue(Value(name: name, constant: tensor))
    }

    mutating func constant(_ name: String, shape: [Int], floats: [Float]) -> ValueID {
        constant(name, Tensor(shape: shape, values: floats))
    }

    mutating func constant(_ name: String, int64s: [Int64], shape: [Int]? = nil) -> ValueID {
        constant(name, Tensor(shape: shape ?? [int64s.count], values: int64s))
    }

    /// Adds a node with one output, named `name` (the output is `name`_out).
    @discardableResult
    mutating func node(_ name: String, _ op: any Operator, _ inputs: [ValueID?]) -> ValueID {
        let output = graph.addValue(Value(name: "\(name)_out"))
        graph.addNode(Node(info: NodeInfo(name: name, opType: op.kind, opset: 17), op: op, inputs: inputs, outputs: [output]))
        return output
    }

    mutating func output(_ id: ValueID) { graph.outputs.append(id) }

    /// Prepares and compiles a copy of the graph.
    func compile(_ options: CompileOptions = CompileOptions()) throws -> CompiledModel {
        var g = graph
        try g.prepare(options)
        return try CompiledModel(graph: g, options: options)
    }
}

/// Deterministic pseudo-random floats in [-1, 1).
func pseudoRandomFloats(_ count: Int, seed: UInt64) -> [Float] {
    var state = seed &+ 0x9E37_79B9_7F4A_7C15
    return (0..<count).map { _ in
        state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
        return Float(Int64(bitPattern: state >> 11) % 2_000_000) / 1_000_000 - 1
    }
}

/// Runs `model` on one input and returns output `index` as floats.
func run(_ model: CompiledModel, input: Tensor, output index: Int = 0) throws -> [Float] {
    try model.setInput(0, input)
    model.run()
    return model.output(index).scalars(as: Float.self)
}

func maxAbsDifference(_ a: [Float], _ b: [Float]) -> Float {
    precondition(a.count == b.count)
    return zip(a, b).map { abs($0 - $1) }.max() ?? 0
}
