/// Operators that only change how bytes are seen: Reshape, Flatten, Squeeze, Unsqueeze,
/// Identity and Dropout (inference). Their output shares the input's memory; they run no step.
public struct ViewOperator: Operator {
    public enum Kind: Sendable, Equatable {
        /// Reshape to input 1's values (0 copies a dim unless allowZero, −1 is inferred).
        case reshape(allowZero: Bool)
        case flatten(axis: Int)
        /// Squeeze `axes` (from the attribute, or input 1 when nil; none given: every unit dim).
        case squeeze(axes: [Int]?)
        /// Unsqueeze `axes` (from the attribute, or input 1 when nil).
        case unsqueeze(axes: [Int]?)
        case identity
    }

    public var view: Kind
    public var name: String

    public init(_ view: Kind, name: String) {
        self.view = view
        self.name = name
    }

    public var kind: String { name }
    public var viewOfInput: Int? { 0 }

    public func outputTypes(for inputs: [Operand?]) throws -> [TensorType] {
        let x = try requireInput(inputs, 0, "data").type
        let shape: [Int]
        switch view {
        case let .reshape(allowZero):
            guard let target = try constantIntegers(inputs, 1, "shape") else { throw OperatorError("input 1 (shape) is required") }
            shape = try Self.reshape(x.shape, to: target, allowZero: allowZero)
        case let .flatten(axis):
            let a = axis < 0 ? axis + x.rank : axis
            guard a >= 0 && a <= x.rank else { throw OperatorError("axis \(axis) is out of range for rank \(x.rank) (expected \(-x.rank)...\(x.rank))") }
            shape = [x.shape.prefix(a).reduce(1, *), x.shape.dropFirst(a).reduce(1, *)]
        case let .squeeze(attributeAxes):
            let axes = try attributeAxes ?? constantIntegers(inputs, 1, "axes")
            if let axes {
                let normalized = Set(try axes.map { try normalizeAxis($0, rank: x.rank) })
                for axis in normalized where x.shape[axis] != 1 {
                    throw OperatorError("cannot squeeze axis \(axis) of shape \(x.shape): its size is \(x.shape[axis]), not 1")
                }
                shape = x.shape.enumerated().filter { !normalized.contains($0.offset) }.map(\.element)
            } else {
                shape = x.shape.filter { $0 != 1 }
            }
        case let .unsqueeze(attributeAxes):
            guard let axes = try attributeAxes ?? constantIntegers(inputs, 1, "axes") else {
                throw OperatorError("input 1 (axes) is required")
            }
            let rank = x.rank + axes.count
            let normalized = Set(try axes.map { try normalizeAxis($0, rank: rank) })
            guard normalized.count == axes.count else { throw OperatorError("axes \(axes) repeat an axis") }
            var result: [Int] = []
            var source = x.shape.makeIterator()
            for axis in 0..<rank { result.append(normalized.contains(axis) ? 1 : source.next()!) }
            shape = result
        case .identity:
            shape = x.shape
        }
        return [TensorType(x.dataType, shape)]
    }

    /// ONNX Reshape's rules: 0 copies the input dim (unless allowZero), one −1 is inferred.
    public static func reshape(_ input: [Int], to target: [Int], allowZero: Bool) throws -> [Int] {
        var shape = target
        var inferred: Int?
        for (i, d) in target.enumerated() {
            if d == 0 && !allowZero {
                guard i < input.count else { throw OperatorError("shape \(target) copies dim \(i) (0) but the input \(input) has rank \(input.count)") }
                shape[i] = input[i]
            } else if d == -1 {
                guard inferred == nil else { throw OperatorError("shape \(target) has more than one -1") }
                inferred = i
            } else if d < 0 {
                throw OperatorError("shape \(target) has a negative dim \(d)")
            }
        }
        let count = try checkedElementCount(input, "input shape")
        let targetCount = try checkedElementCount(shape.enumerated().filter { $0.offset != inferred }.map(\.element), "shape")
        if let i = inferred {
            let known = targetCount
            guard known > 0, count % known == 0 else {
                throw OperatorError("cannot reshape \(input) (\(count) elements) to \(target)")
            }
            shape[i] = count / known
        }
        guard inferred != nil || targetCount == count else {
            throw OperatorError("cannot reshape \(input) (\(count) elements) to \(target) (\(targetCount) elements)")
        }
        return shape
    }

    public func makeStep(_ b: StepBinding) throws -> Step {
        // Only reached when folding a constant: copy the bytes.
        let source = b.input(0).pointer, target = b.outputs[0].pointer, count = b.outputs[0].type.byteCount
        return { target.copyMemory(from: source, byteCount: count) }
    }
}
