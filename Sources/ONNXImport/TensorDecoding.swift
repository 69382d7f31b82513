import Foundation
import ONNXProto
import QuantGraph

/// ONNX element types ↔ `DataType`.
enum ONNXDataType {
    static func dataType(_ raw: Int32) -> DataType? {
        switch Onnx_TensorProto.DataType(rawValue: Int(raw)) {
        case .float: .float32
        case .double: .float64
        case .float16: .float16
        case .int8: .int8
        case .uint8: .uint8
        case .int16: .int16
        case .uint16: .uint16
        case .int32: .int32
        case .uint32: .uint32
        case .int64: .int64
        case .uint64: .uint64
        case .bool: .bool
        default: nil
        }
    }

    static func name(_ raw: Int32) -> String {
        Onnx_TensorProto.DataType(rawValue: Int(raw)).map { "\($0)" } ?? "type \(raw)"
    }
}

/// Largest tensor accepted, in elements: well past any edge model, far below what would make
/// a hostile file allocate the machine away.
let maximumElementCount = 1 << 31

/// Decodes ONNX TensorProtos (initializers, Constant values, .pb input files) into tensors.
public struct TensorDecoder: Sendable {
    /// Directory that external-data locations are relative to (the model's directory).
    public var baseDirectory: URL?

    public init(baseDirectory: URL? = nil) { self.baseDirectory = baseDirectory }

    /// Checks dims: none negative, element count not absurd. Returns the shape.
    static func checkedShape(_ dims: [Int64], _ what: String) throws -> [Int] {
        var count = 1
        for d in dims {
            guard d >= 0 else { throw ModelError("\(what) has a negative dimension in shape \(dims)") }
            let (product, overflow) = count.multipliedReportingOverflow(by: Int(d))
            guard !overflow, product <= maximumElementCount else {
                throw ModelError("\(what) has an absurd shape \(dims) (more than \(maximumElementCount) elements)")
            }
            count = product
        }
        return dims.map(Int.init)
    }

    public func decode(_ proto: Onnx_TensorProto, name: String? = nil) throws -> Tensor {
        let what = "tensor '\(name ?? proto.name)'"
        guard let dataType = ONNXDataType.dataType(proto.dataType) else {
            throw ModelError("\(what) has element type \(ONNXDataType.name(proto.dataType)); supported: float, double, float16, int8/16/32/64, uint8/16/32/64, bool")
        }
        let type = TensorType(dataType, try Self.checkedShape(proto.dims, what))
        if proto.hasDataLocation && proto.dataLocation == .external {
            return try decodeExternal(proto, type: type, what: what)
        }
        if proto.hasRawData || !proto.rawData.isEmpty {
            return try fromBytes(proto.rawData, type: type, what: what, source: "raw_data")
        }
        let count = type.elementCount
        func mismatch(_ field: String, _ have: Int) -> ModelError {
            ModelError("\(what) of shape \(type.shape) needs \(count) elements but \(field) holds \(have)")
        }
        switch dataType {
        case .float32:
            guard proto.floatData.count == count else { throw mismatch("float_data", proto.floatData.count) }
            return Tensor(shape: type.shape, values: proto.floatData)
        case .float64:
            guard proto.doubleData.count == count else { throw mismatch("double_data", proto.doubleData.count) }
            return Tensor(shape: type.shape, values: proto.doubleData)
        case .int64:
            guard proto.int64Data.count == count else { throw mismatch("int64_data", proto.int64Data.count) }
            return Tensor(shape: type.shape, values: proto.int64Data)
        case .uint32, .uint64:
            guard proto.uint64Data.count == count else { throw mismatch("uint64_data", proto.uint64Data.count) }
            if dataType == .uint64 { return Tensor(shape: type.shape, values: proto.uint64Data) }
            return Tensor(shape: type.shape, values: proto.uint64Data.map { UInt32(truncatingIfNeeded: $0) })
        case .int32, .int16, .int8, .uint16, .uint8, .bool, .float16:
            // These types are stored one per int32_data entry.
            let raw = proto.int32Data
            guard raw.count == count else { throw mismatch("int32_data", raw.count) }
            switch dataType {
            case .int32: return Tensor(shape: type.shape, values: raw)
            case .int16: return Tensor(shape: type.shape, values: raw.map { Int16(truncatingIfNeeded: $0) })
            case .int8: return Tensor(shape: type.shape, values: raw.map { Int8(truncatingIfNeeded: $0) })
            case .uint16, .float16: return Tensor(type: type, storageFrom: raw.map { UInt16(truncatingIfNeeded: $0) })
            case .uint8: return Tensor(shape: type.shape, values: raw.map { UInt8(truncatingIfNeeded: $0) })
            default: return Tensor(shape: type.shape, values: raw.map { $0 != 0 })
            }
        }
    }

    func fromBytes(_ data: Data, type: TensorType, what: String, source: String) throws -> Tensor {
        guard data.count == type.byteCount else {
            throw ModelError("\(what) of type \(type) needs \(type.byteCount) bytes but \(source) holds \(data.count)")
        }
        return data.withUnsafeBytes { Tensor(type: type, bytes: $0) }
    }

    func decodeExternal(_ proto: Onnx_TensorProto, type: TensorType, what: String) throws -> Tensor {
        var entries: [String: String] = [:]
        for entry in proto.externalData { entries[entry.key] = entry.value }
        guard let location = entries["location"], !location.isEmpty else {
            throw ModelError("\(what) is stored externally but names no location")
        }
        guard !location.hasPrefix("/"), !location.split(separator: "/").contains("..") else {
            throw ModelError("\(what): external data location '\(location)' must be a relative path inside the model's directory")
        }
        guard let base = baseDirectory else { throw ModelError("\(what) is stored externally in '\(location)' but the model was not loaded from a file") }
        let url = base.appendingPathComponent(location)
        let offset = Int(entries["offset"] ?? "0") ?? -1
        let length = entries["length"].map { Int($0) ?? -1 } ?? type.byteCount
        guard offset >= 0, length >= 0 else { throw ModelError("\(what): external data offset/length '\(entries["offset"] ?? "")'/'\(entries["length"] ?? "")' are not valid numbers") }
        guard let handle = try? FileHandle(forReadingFrom: url) else {
            throw ModelError("\(what): cannot open external data file '\(url.path)'")
        }
        defer { try? handle.close() }
        let size = (try? handle.seekToEnd()).map(Int.init) ?? 0
        guard offset <= size, length <= size - offset else {
            throw ModelError("\(what): external data file '\(location)' has \(size) bytes; offset \(offset) + length \(length) runs past its end")
        }
        try handle.seek(toOffset: UInt64(offset))
        let data = try handle.read(upToCount: length) ?? Data()
        return try fromBytes(data, type: type, what: what, source: "external data '\(location)'")
    }

    /// Reads a serialized TensorProto file (the ONNX test-data `.pb` format).
    public static func read(contentsOf url: URL) throws -> (name: String, tensor: Tensor) {
        let data: Data
        do { data = try Data(contentsOf: url) } catch {
            throw ModelError("\(url.path): cannot read: \(error.localizedDescription)")
        }
        let proto: Onnx_TensorProto
        do { proto = try Onnx_TensorProto(serializedBytes: data) } catch {
            throw ModelError("\(url.path): not a serialized ONNX TensorProto (\(error))")
        }
        do {
            return (proto.name, try TensorDecoder(baseDirectory: url.deletingLastPathComponent()).decode(proto))
        } catch let error as ModelError {
            throw ModelError("\(url.path): \(error.message)")
        }
    }
}

extension Tensor {
    /// A tensor of `type` whose bytes are the given 16-bit patterns (uint16, float16).
    init(type: TensorType, storageFrom values: [UInt16]) {
        self = values.withUnsafeBytes { Tensor(type: type, bytes: $0) }
    }
}
