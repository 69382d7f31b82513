import QuantKernels

/// ONNX Slice (opset ≥ 10: starts, ends, axes, steps as inputs known at load time), any element type.
public struct SliceOperator: Operator {
    public init() {}
    public var kind: String { "Slice" }

    struct Resolved { var starts: [Int], steps: [Int], shape: [Int] }

    func resolve(_ inputs: [Operand?]) throws -> Resolved {
        let x = try requireInput(inputs, 0, "data").type
        guard let starts = try constantIntegers(inputs, 1, "starts"), let ends = try constantIntegers(inputs, 2, "ends") else {
            throw OperatorError("starts and ends are required")
        }
        let axes = try constantIntegers(inputs, 3, "axes") ?? Array(0..<starts.count)
        let steps = try constantIntegers(inputs, 4, "steps") ?? [Int](repeating: 1, count: starts.count)
        guard ends.count == starts.count, axes.count == starts.count, steps.count == starts.count else {
            throw OperatorError("starts \(starts), ends \(ends), axes \(axes) and steps \(steps) must have the same length")
        }
        var resolvedStarts = [Int](repeating: 0, count: x.rank), resolvedSteps = [Int](repeating: 1, count: x.rank)
        var shape = x.shape
        var seen = Set<Int>()
        for i in starts.indices {
            let axis = try normalizeAxis(axes[i], rank: x.rank)
            guard seen.insert(axis).inserted else { throw OperatorError("axes \(axes) repeat axis \(axis)") }
            let dim = x.shape[axis], step = steps[i]
            guard step != 0 else { throw OperatorError("steps \(steps) contain 0") }
            // Clamp as the ONNX spec says: [0, dim] for positive steps, [-1, dim-1] for negative.
            var start = starts[i] < 0 ? starts[i] + dim : starts[i]
            var end = ends[i] < 0 ? ends[i] + dim : ends[i]
            if step > 0 {
                start = min(max(start, 0), dim)
                end = min(max(end, 0), dim)
                shape[axis] = max(0, (end - start + step - 1) / step)
            } else {
                start = min(max(start, -1), dim - 1)
                end = min(max(end, -1), dim - 1)
                shape[axis] = max(0, (start - end + (-step) - 1) / (-step))
            }
            resolvedStarts[axis] = start
            resolvedSteps[axis] = step
        }
        return Resolved(starts: resolvedStarts, steps: resolvedSteps, shape: shape)
    }

    public func outputTypes(for inputs: [Operand?]) throws -> [TensorType] {
        [TensorType(try requireInput(inputs, 0, "data").type.dataType, try resolve(inputs).shape)]
    }

    public func makeStep(_ b: StepBinding) throws -> Step {
        let r = try resolve(b.operands), x = b.input(0)
        if r.shape.contains(0) { return {} }
        let plan = SlicePlan(inputShape: x.type.shape, starts: r.starts, steps: r.steps, outputShape: r.shape)
        let (source, target) = (x.pointer, b.outputs[0].pointer)
        return dispatchBySize(x.type.dataType.byteSize) { type in Self.step(type, source, target, plan) }
    }

    static func step<T: FixedWidthInteger>(_: T.Type, _ source: UnsafeMutableRawPointer, _ target: UnsafeMutableRawPointer, _ plan: SlicePlan) -> Step {
        let x = UnsafePointer(source.assumingMemoryBound(to: T.self)), y = target.assumingMemoryBound(to: T.self)
        return { slice(input: x, output: y, plan: plan) }
    }
}
