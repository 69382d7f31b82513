/// Where every non-constant value lives in one arena, decided once when the model loads.
///
/// Values that are views (Reshape, Flatten, Squeeze, Unsqueeze, Identity) share their source's
/// bytes. Each remaining buffer is live from the step that writes it to the last step that reads
/// it or any view of it; model inputs and outputs are live for the whole run. Offsets are assigned
/// greedily, largest buffer first, at the lowest 64-byte aligned offset that overlaps no buffer
/// whose lifetime intersects (TFLite's "greedy by size" planner).
public struct MemoryPlan: Sendable {
    public static let alignment = 64

    /// Byte offset of each value's bytes in the arena; nil for constants.
    public private(set) var offsets: [Int?]
    public private(set) var arenaByteCount: Int
    /// Sum of all buffer sizes: what the arena would need without reuse.
    public private(set) var unsharedByteCount: Int

    public init(graph: Graph, pinned: Set<ValueID> = []) {
        let count = graph.values.count
        var root = Array(0..<count)
        for node in graph.nodes {
            if let source = node.op.viewOfInput, let input = node.inputs[source], graph[input].constant == nil {
                root[node.outputs[0].index] = root[input.index]
            }
        }
        let end = graph.nodes.count
        var first = [Int](repeating: Int.max, count: count)
        var last = [Int](repeating: Int.min, count: count)
        func touch(_ value: Int, _ time: Int) {
            let r = root[value]
            first[r] = min(first[r], time)
            last[r] = max(last[r], time)
        }
        for input in graph.inputs { touch(input.index, -1); touch(input.index, end) }
        for (t, node) in graph.nodes.enumerated() {
            for output in node.outputs { touch(output.index, t) }
            for case let input? in node.inputs where graph[input].constant == nil { touch(input.index, t) }
        }
        for output in graph.outputs where graph[output].constant == nil { touch(output.index, end) }
        for value in pinned where graph[value].constant == nil { touch(value.index, end) }

        struct Buffer { var value: Int; var size: Int; var first: Int; var last: Int; var offset = 0 }
        var buffers: [Buffer] = []
        for v in 0..<count where root[v] == v && first[v] != Int.max && graph.values[v].constant == nil {
            let size = (graph.values[v].type!.byteCount + Self.alignment - 1) / Self.alignment * Self.alignment
            buffers.append(Buffer(value: v, size: max(size, Self.alignment), first: first[v], last: last[v]))
        }
        buffers.sort { $0.size != $1.size ? $0.size > $1.size : $0.first < $1.first }
        var placed: [Buffer] = []
        var arenaEnd = 0
        for var buffer in buffers {
            let overlapping = placed
                .filter { $0.first <= buffer.last && buffer.first <= $0.last }
                .sorted { $0.offset < $1.offset }
            var offset = 0
            for other in overlapping {
                if offset + buffer.size <= other.offset { break }
                offset = max(offset, other.offset + other.size)
            }
            buffer.offset = offset
            arenaEnd = max(arenaEnd, offset + buffer.size)
            placed.append(buffer)
        }
        var offsets = [Int?](repeating: nil, count: count)
        for buffer in placed { offsets[buffer.value] = buffer.offset }
        for v in 0..<count where graph.values[v].constant == nil && offsets[root[v]] != nil {
            offsets[v] = offsets[root[v]]
        }
        self.offsets = offsets
        arenaByteCount = arenaEnd
        unsharedByteCount = placed.reduce(0) { $0 + $1.size }
    }
}
