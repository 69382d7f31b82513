/// A static tensor type: element type and fully known shape (row-major, contiguous).
public struct TensorType: Sendable, Hashable, CustomStringConvertible {
    public var dataType: DataType
    public var shape: [Int]

    public init(_ dataType: DataType, _ shape: [Int]) {
        self.dataType = dataType
        self.shape = shape
    }

    public var rank: Int { shape.count }
    public var elementCount: Int { shape.reduce(1, *) }
    public var byteCount: Int { elementCount * dataType.byteSize }

    public var description: String {
        "\(dataType)[\(shape.map(String.init).joined(separator: ","))]"
    }
}

/// Row-major strides of a shape, in elements.
public func contiguousStrides(_ shape: [Int]) -> [Int] {
    var strides = [Int](repeating: 1, count: shape.count)
    var running = 1
    for axis in stride(from: shape.count - 1, through: 0, by: -1) {
        strides[axis] = running
        running *= shape[axis]
    }
    return strides
}
