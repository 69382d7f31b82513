/// Immutable bytes with a stable, 64-byte aligned address for the life of the object, so kernels
/// can hold raw pointers to weights planned at load time.
public final class TensorStorage: @unchecked Sendable {
    public let byteCount: Int
    public let pointer: UnsafeMutableRawPointer

    /// Zero-filled storage of `byteCount` bytes.
    public init(byteCount: Int) {
        self.byteCount = byteCount
        pointer = UnsafeMutableRawPointer.allocate(byteCount: max(byteCount, 1), alignment: 64)
        pointer.initializeMemory(as: UInt8.self, repeating: 0, count: max(byteCount, 1))
    }

    deinit { pointer.deallocate() }
}

/// A tensor value: a type and its bytes (row-major, little-endian, as in ONNX raw_data).
/// Used for constants (weights, folded shapes), for inputs read from files and for outputs copied out.
public struct Tensor: Sendable, CustomStringConvertible {
    public let type: TensorType
    public let storage: TensorStorage

    public var dataType: DataType { type.dataType }
    public var shape: [Int] { type.shape }
    public var elementCount: Int { type.elementCount }
    public var rank: Int { type.rank }

    /// Zero-filled tensor.
    public init(zeros type: TensorType) {
        self.type = type
        storage = TensorStorage(byteCount: type.byteCount)
    }

    /// A tensor from raw little-endian bytes; `bytes.count` must equal the type's byte count.
    public init(type: TensorType, bytes: UnsafeRawBufferPointer) {
        precondition(bytes.count == type.byteCount, "byte count \(bytes.count) != \(type.byteCount) for \(type)")
        self.init(zeros: type)
        if let base = bytes.baseAddress, bytes.count > 0 {
            storage.pointer.copyMemory(from: base, byteCount: bytes.count)
        }
    }

    /// A tensor from typed scalars; `values.count` must equal the shape's element count.
    public init<T: TensorScalar>(shape: [Int], values: [T]) {
        let type = TensorType(T.dataType, shape)
        precondition(values.count == type.elementCount, "\(values.count) values for shape \(shape)")
        self.init(zeros: type)
        values.withUnsafeBytes { storage.pointer.copyMemory(from: $0.baseAddress!, byteCount: $0.count) }
    }

    /// A scalar (rank-0) tensor.
    public init<T: TensorScalar>(scalar: T) { self.init(shape: [], values: [scalar]) }

    /// The same bytes seen with another shape of equal element count (no copy).
    public func reshaped(_ shape: [Int]) -> Tensor {
        let newType = TensorType(dataType, shape)
        precondition(newType.elementCount == elementCount)
        return Tensor(type: newType, storage: storage)
    }

    public init(type: TensorType, storage: TensorStorage) {
        precondition(storage.byteCount >= type.byteCount)
        self.type = type
        self.storage = storage
    }

    public var rawPointer: UnsafeRawPointer { UnsafeRawPointer(storage.pointer) }

    public func withUnsafeBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try body(UnsafeRawBufferPointer(start: storage.pointer, count: type.byteCount))
    }

    /// Typed copy of the elements; `T` must match the data type.
    public func scalars<T: TensorScalar>(as _: T.Type = T.self) -> [T] {
        precondition(T.dataType == dataType, "reading \(dataType) tensor as \(T.dataType)")
        return Array(UnsafeBufferPointer(start: storage.pointer.assumingMemoryBound(to: T.self), count: elementCount))
    }

    /// Integer elements widened to Int (for shapes, axes, indices); nil for non-integer types.
    public func integers() -> [Int]? {
        switch dataType {
        case .int64: scalars(as: Int64.self).map { Int($0) }
        case .int32: scalars(as: Int32.self).map { Int($0) }
        case .int8: scalars(as: Int8.self).map { Int($0) }
        case .uint8: scalars(as: UInt8.self).map { Int($0) }
        case .int16: scalars(as: Int16.self).map { Int($0) }
        case .uint16: scalars(as: UInt16.self).map { Int($0) }
        case .uint32: scalars(as: UInt32.self).map { Int($0) }
        case .uint64: scalars(as: UInt64.self).map { Int(truncatingIfNeeded: $0) }
        default: nil
        }
    }

    /// Elements converted to Float (for printing and comparing); nil for unsupported types.
    public func floatValues() -> [Float]? {
        switch dataType {
        case .float32: scalars(as: Float.self)
        case .float64: scalars(as: Double.self).map { Float($0) }
        case .bool: scalars(as: Bool.self).map { $0 ? 1 : 0 }
        case .float16:
            UnsafeBufferPointer(start: storage.pointer.assumingMemoryBound(to: UInt16.self), count: elementCount)
                .map { Float(Float16(bitPattern: $0)) }
        default: integers()?.map { Float($0) }
        }
    }

    public var description: String { "Tensor(\(type))" }
}
