/// ONNX Shape: the input's shape as int64, optionally sliced by start/end (opset 15).
/// Shapes are static, so Shape always folds to a constant at load.
public struct ShapeOperator: Operator {
    public var start: Int
    public var end: Int?

    public init(start: Int = 0, end: Int? = nil) {
        self.start = start
        self.end = end
    }

    public var kind: String { "Shape" }

    func dims(_ shape: [Int]) -> [Int] {
        let rank = shape.count
        func clampIndex(_ i: Int) -> Int { Swift.min(Swift.max(i < 0 ? i + rank : i, 0), rank) }
        let s = clampIndex(start), e = clampIndex(end ?? rank)
        return s < e ? Array(shape[s..<e]) : []
    }

    public func outputTypes(for inputs: [Operand?]) throws -> [TensorType] {
        let x = try requireInput(inputs, 0, "data").type
        return [TensorType(.int64, [dims(x.shape).count])]
    }

    public func outputsFromTypes(_ inputs: [Operand?]) -> [Tensor]? {
        let d = dims(inputs[0]!.type.shape)
        return [Tensor(shape: [d.count], values: d.map { Int64($0) })]
    }

    public func makeStep(_: StepBinding) throws -> Step { { } }
}
