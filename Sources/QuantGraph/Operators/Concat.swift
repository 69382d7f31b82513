import QuantKernels

/// ONNX Concat along one axis, any element type.
public struct ConcatOperator: Operator {
    public var axis: Int
    public init(axis: Int) { self.axis = axis }
    public var kind: String { "Concat" }

    public func outputTypes(for inputs: [Operand?]) throws -> [TensorType] {
        let first = try requireInput(inputs, 0, "inputs").type
        let a = try normalizeAxis(axis, rank: first.rank)
        var shape = first.shape
        shape[a] = 0
        for i in inputs.indices {
            let t = try requireInput(inputs, i, "inputs").type
            guard t.dataType == first.dataType, t.rank == first.rank else {
                throw OperatorError("input \(i) is \(t); expected \(first.dataType) of rank \(first.rank) like input 0")
            }
            for d in 0..<t.rank where d != a && t.shape[d] != first.shape[d] {
                throw OperatorError("input \(i) has shape \(t.shape); all inputs must match \(first.shape) except on axis \(a)")
            }
            shape[a] += t.shape[a]
        }
        return [TensorType(first.dataType, shape)]
    }

    public func makeStep(_ b: StepBinding) throws -> Step {
        let out = b.outputs[0]
        let a = try normalizeAxis(axis, rank: out.type.rank)
        let outer = out.type.shape.prefix(a).reduce(1, *)
        let inner = out.type.shape.dropFirst(a + 1).reduce(1, *)
        let outputBlock = out.type.shape[a] * inner
        var parts: [(UnsafeMutableRawPointer, Int, Int)] = []
        var offset = 0
        for i in b.inputs.indices {
            let x = b.input(i)
            let block = x.type.shape[a] * inner
            parts.append((x.pointer, block, offset))
            offset += block
        }
        return dispatchBySize(out.type.dataType.byteSize) { type in Self.step(type, parts, out.pointer, outer, outputBlock) }
    }

    static func step<T: FixedWidthInteger>(_: T.Type, _ parts: [(UnsafeMutableRawPointer, Int, Int)], _ output: UnsafeMutableRawPointer, _ outer: Int, _ outputBlock: Int) -> Step {
        let y = output.assumingMemoryBound(to: T.self)
        let typed = parts.map { (UnsafePointer($0.0.assumingMemoryBound(to: T.self)), $0.1, $0.2) }
        return {
            for i in typed.indices {  // index loop: no iterator allocation in debug builds
                let (x, block, offset) = typed[i]
                concatCopy(input: x, output: y, outer: outer, inputBlock: block, outputBlock: outputBlock, offset: offset)
            }
        }
    }
}
