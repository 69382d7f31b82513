import QuantKernels

/// ONNX ReduceMean over `axes` (attribute before opset 18, input from 18), keepdims, and
/// noop_with_empty_axes (opset 18).
public struct ReduceMeanOperator: Operator {
    /// Axes from the attribute; nil reads input 1 (opset 18) or means all axes.
    public var axes: [Int]?
    public var keepDims: Bool
    public var noopWithEmptyAxes: Bool

    public init(axes: [Int]?, keepDims: Bool, noopWithEmptyAxes: Bool = false) {
        self.axes = axes
        self.keepDims = keepDims
        self.noopWithEmptyAxes = noopWithEmptyAxes
    }

    public var kind: String { "ReduceMean" }

    func resolvedAxes(_ inputs: [Operand?]) throws -> [Int] {
        let x = try requireFloat(inputs, 0, "data").type
        let given = try axes ?? constantIntegers(inputs, 1, "axes") ?? []
        if given.isEmpty { return noopWithEmptyAxes ? [] : Array(0..<x.rank) }
        let normalized = try given.map { try normalizeAxis($0, rank: x.rank) }
        guard Set(normalized).count == normalized.count else { throw OperatorError("axes \(given) repeat an axis") }
        return normalized.sorted()
    }

    public func outputTypes(for inputs: [Operand?]) throws -> [TensorType] {
        let x = try requireFloat(inputs, 0, "data").type
        let reduced = Set(try resolvedAxes(inputs))
        var shape: [Int] = []
        for (axis, d) in x.shape.enumerated() {
            if reduced.contains(axis) { if keepDims { shape.append(1) } } else { shape.append(d) }
        }
        return [TensorType(.float32, shape)]
    }

    public func makeStep(_ b: StepBinding) throws -> Step {
        let axes = try resolvedAxes(b.operands)
        let x = UnsafePointer(b.input(0).floats()), y = b.outputs[0].floats()
        if axes.isEmpty {
            let count = b.outputs[0].type.elementCount
            return { y.update(from: x, count: count) }
        }
        let plan = ReducePlan(inputShape: b.input(0).type.shape, axes: axes)
        return { ReduceFloat.mean(input: x, output: y, plan: plan) }
    }
}
