import QuantKernels

/// ONNX Pad in constant mode. Pads (and the constant value, and from opset 18 the axes) come from
/// attributes (opset < 11) or from inputs that must be known at load time. Negative pads crop.
public struct PadOperator: Operator {
    /// Pads from the attribute (opset < 11), ONNX layout [begin…, end…].
    public var pads: [Int]?
    /// Value from the attribute (opset < 11); otherwise input 2.
    public var value: Float?

    public init(pads: [Int]? = nil, value: Float? = nil) {
        self.pads = pads
        self.value = value
    }

    public var kind: String { "Pad" }

    func resolvedPads(_ inputs: [Operand?]) throws -> (begin: [Int], end: [Int]) {
        let x = try requireInput(inputs, 0, "data").type
        let rank = x.rank
        guard let given = try pads ?? constantIntegers(inputs, 1, "pads") else { throw OperatorError("pads are required") }
        let axes = try constantIntegers(inputs, 3, "axes").map { try $0.map { try normalizeAxis($0, rank: rank) } } ?? Array(0..<rank)
        guard given.count == 2 * axes.count else {
            throw OperatorError("pads \(given) must have \(2 * axes.count) values (begin and end for each of \(axes.count) axes)")
        }
        var begin = [Int](repeating: 0, count: rank), end = begin
        for (i, axis) in axes.enumerated() {
            begin[axis] = given[i]
            end[axis] = given[i + axes.count]
        }
        for axis in 0..<rank where x.shape[axis] + begin[axis] + end[axis] < 0 {
            throw OperatorError("pads \(given) crop axis \(axis) of \(x.shape) below zero")
        }
        return (begin, end)
    }

    public func outputTypes(for inputs: [Operand?]) throws -> [TensorType] {
        let x = try requireInput(inputs, 0, "data").type
        let (begin, end) = try resolvedPads(inputs)
        return [TensorType(x.dataType, x.shape.indices.map { x.shape[$0] + begin[$0] + end[$0] })]
    }

    public func makeStep(_ b: StepBinding) throws -> Step {
        let x = b.input(0)
        let (begin, end) = try resolvedPads(b.operands)
        let plan = PadPlan(inputShape: x.type.shape, begin: begin, end: end)
        let valuePointer = value == nil && b.hasInput(2) ? b.input(2).pointer : nil
        let (source, target) = (UnsafeRawPointer(x.pointer), b.outputs[0].pointer)
        let attributeValue = value ?? 0
        func step<T>(_: T.Type, _ convert: @escaping (Float) -> T) -> Step {
            let input = source.assumingMemoryBound(to: T.self), output = target.assumingMemoryBound(to: T.self)
            let runtime = valuePointer.map { UnsafePointer($0.assumingMemoryBound(to: T.self)) }
            let fixed = convert(attributeValue)
            return { padConstant(input: input, output: output, value: runtime?.pointee ?? fixed, plan: plan) }
        }
        switch x.type.dataType {
        case .float32: return step(Float.self) { $0 }
        case .int64: return step(Int64.self) { Int64($0) }
        case .int32: return step(Int32.self) { Int32($0) }
        case .int8: return step(Int8.self) { Int8($0) }
        case .uint8: return step(UInt8.self) { UInt8($0) }
        default: throw OperatorError("Pad on \(x.type.dataType) is not supported")
        }
    }
}
