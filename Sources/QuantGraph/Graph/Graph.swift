/// Index of a value (tensor) in a graph.
public struct ValueID: Hashable, Sendable, Comparable, CustomStringConvertible {
    public let index: Int
    public init(_ index: Int) { self.index = index }
    public static func < (a: ValueID, b: ValueID) -> Bool { a.index < b.index }
    public var description: String { "%\(index)" }
}

/// A named tensor of the graph: a model input, an initializer (constant) or a node's output.
public struct Value: Sendable {
    public var name: String
    /// Known for inputs and constants from the start, for the rest after type inference.
    public var type: TensorType?
    public var constant: Tensor?

    public init(name: String, type: TensorType? = nil, constant: Tensor? = nil) {
        self.name = name
        self.type = constant?.type ?? type
        self.constant = constant
    }
}

/// One operation: a typed operator applied to values.
public struct Node: Sendable {
    public var info: NodeInfo
    public var op: any Operator
    /// nil marks an absent optional input.
    public var inputs: [ValueID?]
    public var outputs: [ValueID]

    public init(info: NodeInfo, op: any Operator, inputs: [ValueID?], outputs: [ValueID]) {
        self.info = info
        self.op = op
        self.inputs = inputs
        self.outputs = outputs
    }
}

/// The graph IR: values, nodes, and which values are the model's inputs and outputs.
public struct Graph: Sendable {
    public var values: [Value] = []
    public var nodes: [Node] = []
    public var inputs: [ValueID] = []
    public var outputs: [ValueID] = []

    public init() {}

    public subscript(id: ValueID) -> Value {
        get { values[id.index] }
        set { values[id.index] = newValue }
    }

    @discardableResult
    public mutating func addValue(_ value: Value) -> ValueID {
        values.append(value)
        return ValueID(values.count - 1)
    }

    public mutating func addNode(_ node: Node) { nodes.append(node) }

    /// Which node produces each value (nil for inputs and constants).
    public func producers() -> [Int?] {
        var producer = [Int?](repeating: nil, count: values.count)
        for (n, node) in nodes.enumerated() { for output in node.outputs { producer[output.index] = n } }
        return producer
    }

    /// How many node inputs and graph outputs read each value.
    public func useCounts() -> [Int] {
        var uses = [Int](repeating: 0, count: values.count)
        for node in nodes { for case let input? in node.inputs { uses[input.index] += 1 } }
        for output in outputs { uses[output.index] += 1 }
        return uses
    }

    /// Number of operator nodes per kind, for reports.
    public func operatorCounts() -> [(String, Int)] {
        var counts: [String: Int] = [:]
        for node in nodes { counts[node.info.opType, default: 0] += 1 }
        return counts.sorted { $0.value != $1.value ? $0.value > $1.value : $0.key < $1.key }
    }
}
