/// Element types a tensor can hold. Names follow ONNX's TensorProto.DataType.
public enum DataType: String, Sendable, Hashable, CaseIterable, CustomStringConvertible {
    case float32, float64, float16
    case int8, uint8, int16, uint16, int32, uint32, int64, uint64
    case bool

    /// Bytes per element.
    public var byteSize: Int {
        switch self {
        case .int8, .uint8, .bool: 1
        case .int16, .uint16, .float16: 2
        case .float32, .int32, .uint32: 4
        case .float64, .int64, .uint64: 8
        }
    }

    public var isInteger: Bool {
        switch self {
        case .int8, .uint8, .int16, .uint16, .int32, .uint32, .int64, .uint64: true
        case .float32, .float64, .float16, .bool: false
        }
    }

    /// The quantized storage types (QuantizeLinear outputs).
    public var isQuantized: Bool { self == .int8 || self == .uint8 || self == .int16 || self == .uint16 }

    public var description: String { rawValue }
}

/// Maps a Swift scalar type to its `DataType`.
public protocol TensorScalar: BitwiseCopyable, Sendable {
    static var dataType: DataType { get }
}
extension Float: TensorScalar { public static var dataType: DataType { .float32 } }
extension Double: TensorScalar { public static var dataType: DataType { .float64 } }
extension Int8: TensorScalar { public static var dataType: DataType { .int8 } }
extension UInt8: TensorScalar { public static var dataType: DataType { .uint8 } }
extension Int16: TensorScalar { public static var dataType: DataType { .int16 } }
extension UInt16: TensorScalar { public static var dataType: DataType { .uint16 } }
extension Int32: TensorScalar { public static var dataType: DataType { .int32 } }
extension UInt32: TensorScalar { public static var dataType: DataType { .uint32 } }
extension Int64: TensorScalar { public static var dataType: DataType { .int64 } }
extension UInt64: TensorScalar { public static var dataType: DataType { .uint64 } }
extension Bool: TensorScalar { public static var dataType: DataType { .bool } }
