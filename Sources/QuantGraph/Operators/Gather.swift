import QuantKernels

/// ONNX Gather along one axis, any element type; int64 or int32 indices, negative ones counted
/// from the end. Indices known at load are checked there; run-time ones out of range give zeros.
public struct GatherOperator: Operator {
    public var axis: Int
    public init(axis: Int) { self.axis = axis }
    public var kind: String { "Gather" }

    public func outputTypes(for inputs: [Operand?]) throws -> [TensorType] {
        let data = try requireInput(inputs, 0, "data").type
        let indices = try requireInput(inputs, 1, "indices")
        guard indices.type.dataType == .int64 || indices.type.dataType == .int32 else {
            throw OperatorError("indices are \(indices.type.dataType); expected int64 or int32")
        }
        let a = try normalizeAxis(axis, rank: data.rank)
        if let values = indices.constant?.integers(), let bad = values.first(where: { $0 < -data.shape[a] || $0 >= data.shape[a] }) {
            throw OperatorError("index \(bad) is out of range for axis \(a) of size \(data.shape[a])")
        }
        return [TensorType(data.dataType, Array(data.shape.prefix(a)) + indices.type.shape + Array(data.shape.dropFirst(a + 1)))]
    }

    public func scratchByteCount(inputs: [Operand?], outputs _: [TensorType]) -> Int {
        inputs.count > 1 && inputs[1]?.type.dataType == .int32 ? inputs[1]!.type.elementCount * 8 : 0
    }

    public func makeStep(_ b: StepBinding) throws -> Step {
        let data = b.input(0), indices = b.input(1)
        let a = try normalizeAxis(axis, rank: data.type.rank)
        let outer = data.type.shape.prefix(a).reduce(1, *), inner = data.type.shape.dropFirst(a + 1).reduce(1, *)
        let axisSize = data.type.shape[a], count = indices.type.elementCount
        let wide = indices.type.dataType == .int32 ? b.scratch.assumingMemoryBound(to: Int64.self) : indices.typed(Int64.self)
        let narrow: UnsafePointer<Int32>? = indices.type.dataType == .int32 ? UnsafePointer(indices.typed(Int32.self)) : nil
        let (source, target) = (data.pointer, b.outputs[0].pointer)
        let gatherStep = dispatchBySize(data.type.dataType.byteSize) { type in
            Self.step(type, source, target, UnsafePointer(wide), count, outer, axisSize, inner)
        }
        guard let narrow else { return gatherStep }
        return {
            for i in 0..<count { wide[i] = Int64(narrow[i]) }
            gatherStep()
        }
    }

    static func step<T: FixedWidthInteger>(_: T.Type, _ source: UnsafeMutableRawPointer, _ target: UnsafeMutableRawPointer,
                                           _ indices: UnsafePointer<Int64>, _ count: Int, _ outer: Int, _ axisSize: Int, _ inner: Int) -> Step {
        let x = UnsafePointer(source.assumingMemoryBound(to: T.self)), y = target.assumingMemoryBound(to: T.self)
        return { gather(data: x, indices: indices, indexCount: count, output: y, outer: outer, axisSize: axisSize, inner: inner, zero: 0) }
    }
}
