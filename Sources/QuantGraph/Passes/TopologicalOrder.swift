extension Graph {
    /// Checks that every value a node reads is produced (a graph input, a constant or another
    /// node's output), that no value is produced twice, and that there is no cycle; then orders
    /// the nodes so that each runs after its producers (Kahn's algorithm, stable).
    public mutating func sortTopologically() throws {
        var producer = [Int?](repeating: nil, count: values.count)
        for (n, node) in nodes.enumerated() {
            for output in node.outputs {
                if let other = producer[output.index] {
                    throw ModelError("tensor '\(values[output.index].name)' is produced by both node '\(nodes[other].info.name)' and node '\(node.info.name)'")
                }
                if values[output.index].constant != nil || inputs.contains(output) {
                    throw ModelError("node '\(node.info.name)' writes '\(values[output.index].name)', which is a model input or initializer")
                }
                producer[output.index] = n
            }
        }
        var pending = [Int](repeating: 0, count: nodes.count)
        var consumers = [[Int]](repeating: [], count: nodes.count)
        for (n, node) in nodes.enumerated() {
            for case let input? in node.inputs {
                let value = values[input.index]
                if let p = producer[input.index] {
                    pending[n] += 1
                    consumers[p].append(n)
                } else if value.constant == nil && !inputs.contains(input) {
                    throw ModelError("node '\(node.info.name)' (\(node.info.opType)) reads tensor '\(value.name)', which no node, input or initializer provides")
                }
            }
        }
        for output in outputs where producer[output.index] == nil && values[output.index].constant == nil && !inputs.contains(output) {
            throw ModelError("model output '\(values[output.index].name)' is not produced by any node")
        }
        var ready = (0..<nodes.count).filter { pending[$0] == 0 }.reversed() as [Int]
        var order: [Int] = []
        order.reserveCapacity(nodes.count)
        while let n = ready.popLast() {
            order.append(n)
            for c in consumers[n].reversed() {
                pending[c] -= 1
                if pending[c] == 0 { ready.append(c) }
            }
            ready.sort(by: >)
        }
        guard order.count == nodes.count else {
            let stuck = (0..<nodes.count).filter { pending[$0] > 0 }.prefix(5).map { "'\(nodes[$0].info.name)'" }
            throw ModelError("the graph has a cycle through node(s) \(stuck.joined(separator: ", "))")
        }
        nodes = order.map { nodes[$0] }
    }
}
