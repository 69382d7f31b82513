import QuantKernels

extension Graph {
    /// The part of this graph that computes `outputs` from `inputs` (by name): a new graph whose
    /// inputs are the named tensors (with their types), whose nodes are those on a path between
    /// them, and whose constants are shared. Used to re-run one layer of a float model on another
    /// model's activations (the eval report's *local* error). Returns nil when an output cannot be
    /// computed from the given inputs and constants alone.
    public func subgraph(inputs inputNames: [String], outputs outputNames: [String]) -> Graph? {
        var byName: [String: ValueID] = [:]
        for (i, value) in values.enumerated() { byName[value.name] = ValueID(i) }
        let producer = producers()
        let boundary = Set(inputNames.compactMap { byName[$0] })
        var needed = Set<Int>()
        var stack = outputNames.compactMap { byName[$0] }
        guard stack.count == outputNames.count else { return nil }
        var visited = Set<ValueID>()
        while let id = stack.popLast() {
            guard visited.insert(id).inserted else { continue }
            if boundary.contains(id) || values[id.index].constant != nil { continue }
            guard let p = producer[id.index] else { return nil }  // a model input outside the boundary
            needed.insert(p)
            for case let input? in nodes[p].inputs { stack.append(input) }
        }
        var sub = Graph()
        var map: [ValueID: ValueID] = [:]
        func mapped(_ id: ValueID) -> ValueID {
            if let m = map[id] { return m }
            let m = sub.addValue(values[id.index])
            map[id] = m
            return m
        }
        for name in inputNames {
            guard let id = byName[name] else { return nil }
            sub.inputs.append(mapped(id))
        }
        for (n, node) in nodes.enumerated() where needed.contains(n) {
            var copy = node
            copy.inputs = node.inputs.map { $0.map(mapped) }
            copy.outputs = node.outputs.map(mapped)
            sub.addNode(copy)
        }
        sub.outputs = outputNames.map { mapped(byName[$0]!) }
        return sub
    }

    /// Index of the node that writes the tensor called `name`.
    public func producer(of name: String) -> Int? {
        nodes.firstIndex { node in node.outputs.contains { values[$0.index].name == name } }
    }

    /// Index of the value called `name`.
    public func valueID(named name: String) -> ValueID? {
        values.firstIndex { $0.name == name }.map(ValueID.init)
    }
}
