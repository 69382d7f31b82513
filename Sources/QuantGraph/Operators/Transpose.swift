import QuantKernels

/// ONNX Transpose, any element type; no permutation reverses the dims.
public struct TransposeOperator: Operator {
    public var permutation: [Int]?
    public init(permutation: [Int]?) { self.permutation = permutation }
    public var kind: String { "Transpose" }

    func resolved(_ rank: Int) throws -> [Int] {
        let perm = permutation ?? Array((0..<rank).reversed())
        guard perm.count == rank, Set(perm) == Set(0..<rank) else {
            throw OperatorError("perm \(perm) is not a permutation of 0..<\(rank)")
        }
        return perm
    }

    public func outputTypes(for inputs: [Operand?]) throws -> [TensorType] {
        let x = try requireInput(inputs, 0, "data").type
        return [TensorType(x.dataType, try resolved(x.rank).map { x.shape[$0] })]
    }

    public func makeStep(_ b: StepBinding) throws -> Step {
        let x = b.input(0)
        let plan = TransposePlan(inputShape: x.type.shape, permutation: try resolved(x.type.rank))
        let (source, target) = (x.pointer, b.outputs[0].pointer)
        return dispatchBySize(x.type.dataType.byteSize) { type in Self.step(type, source, target, plan) }
    }

    static func step<T: FixedWidthInteger>(_: T.Type, _ source: UnsafeMutableRawPointer, _ target: UnsafeMutableRawPointer, _ plan: TransposePlan) -> Step {
        let x = UnsafePointer(source.assumingMemoryBound(to: T.self)), y = target.assumingMemoryBound(to: T.self)
        return { transpose(input: x, output: y, plan: plan) }
    }
}
