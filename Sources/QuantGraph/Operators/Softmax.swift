import QuantKernels

/// ONNX Softmax. From opset 13 it normalises along `axis` alone; before, the input is coerced to
/// 2-D at `axis` and normalised over everything from `axis` on.
public struct SoftmaxOperator: Operator {
    public var axis: Int
    public var coerceTo2D: Bool

    public init(axis: Int, coerceTo2D: Bool) {
        self.axis = axis
        self.coerceTo2D = coerceTo2D
    }

    public var kind: String { "Softmax" }

    public func outputTypes(for inputs: [Operand?]) throws -> [TensorType] {
        let x = try requireFloat(inputs, 0, "input").type
        if x.rank > 0 { _ = try normalizeAxis(axis, rank: x.rank) }
        return [x]
    }

    public func makeStep(_ b: StepBinding) throws -> Step {
        let shape = b.input(0).type.shape
        let y = b.outputs[0].floats()
        if shape.isEmpty { return { y.pointee = 1 } }
        let a = try normalizeAxis(axis, rank: shape.count)
        let outer = shape.prefix(a).reduce(1, *)
        let (axisSize, inner) = coerceTo2D ? (shape.dropFirst(a).reduce(1, *), 1) : (shape[a], shape.dropFirst(a + 1).reduce(1, *))
        let x = UnsafePointer(b.input(0).floats())
        return { SoftmaxFloat.run(input: x, output: y, outer: outer, axisSize: axisSize, inner: inner) }
    }
}
