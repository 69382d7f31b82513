import QuantGraph

/// The parsed dictionary of a `.npy` header: element type, byte order, memory order and shape.
///
/// Only plain numeric dtypes that map onto a `DataType` are accepted; structured, string,
/// object, complex and datetime dtypes are refused with a message naming the dtype.
struct NPYHeader: Equatable, Sendable {
    /// How multi-byte elements are laid out in the file.
    enum ByteOrder: Equatable, Sendable {
        case little, big
    }

    var dataType: DataType
    var byteOrder: ByteOrder
    var fortranOrder: Bool
    var shape: [Int]

    /// Parses the header dictionary text (the bytes between the length field and the array data).
    static func parse(_ text: UnsafeRawBufferPointer, latin1: Bool, source: String) throws -> NPYHeader {
        func fail(_ message: String) -> FrameSourceError {
            FrameSourceError(source: source, message: message)
        }
        guard case .dict(let dict) = try PythonLiteral.parse(text, latin1: latin1, source: source) else {
            throw fail("malformed .npy header: expected a dictionary like {'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }")
        }
        for key in ["descr", "fortran_order", "shape"] where dict[key] == nil {
            throw fail("malformed .npy header: missing key '\(key)' (expected keys 'descr', 'fortran_order', 'shape')")
        }

        let (dataType, byteOrder) = try parseDescr(dict["descr"]!, source: source)

        guard case .bool(let fortranOrder) = dict["fortran_order"]! else {
            throw fail("malformed .npy header: 'fortran_order' must be True or False, found \(dict["fortran_order"]!.summary)")
        }
        if fortranOrder {
            throw fail("fortran_order is True (column-major array); only C-order (row-major) arrays are supported — save a C-contiguous array, e.g. np.save(path, np.ascontiguousarray(a))")
        }

        guard case .tuple(let dims) = dict["shape"]! else {
            throw fail("malformed .npy header: 'shape' must be a tuple of integers such as (2, 3), (5,) or (), found \(dict["shape"]!.summary)")
        }
        var shape: [Int] = []
        shape.reserveCapacity(dims.count)
        for (axis, dim) in dims.enumerated() {
            guard case .integer(let n) = dim else {
                throw fail("malformed .npy header: shape dimension \(axis) must be an integer, found \(dim.summary)")
            }
            guard n >= 0 else {
                throw fail("invalid .npy shape \(describe(shape: dims)): dimension \(axis) is negative (\(n))")
            }
            shape.append(n)
        }
        return NPYHeader(dataType: dataType, byteOrder: byteOrder, fortranOrder: fortranOrder, shape: shape)
    }

    /// Maps a numpy dtype string such as `'<f4'`, `'|u1'`, `'=i8'` or `'>f4'` onto a data type and byte order.
    static func parseDescr(_ value: PythonLiteral, source: String) throws -> (DataType, ByteOrder) {
        func fail(_ message: String) -> FrameSourceError {
            FrameSourceError(source: source, message: message)
        }
        guard case .string(let descr) = value else {
            if case .list = value {
                throw fail("unsupported dtype \(value.summary): structured (record) dtypes are not supported; expected a plain numeric dtype such as '<f4'")
            }
            throw fail("malformed .npy header: 'descr' must be a dtype string such as '<f4', found \(value.summary)")
        }
        var code = Substring(descr)
        var order: Character = "="
        if let first = code.first, "<>=|".contains(first) {
            order = first
            code = code.dropFirst()
        }
        if code == "?" { code = "b1" }
        let dataType: DataType
        switch code {
        case "f2": dataType = .float16
        case "f4": dataType = .float32
        case "f8": dataType = .float64
        case "i1": dataType = .int8
        case "u1": dataType = .uint8
        case "i2": dataType = .int16
        case "u2": dataType = .uint16
        case "i4": dataType = .int32
        case "u4": dataType = .uint32
        case "i8": dataType = .int64
        case "u8": dataType = .uint64
        case "b1": dataType = .bool
        default:
            throw fail("unsupported dtype '\(descr)'; expected one of \(DataType.allCases.map { "'\(self.descr(for: $0))'" }.joined(separator: ", ")) (or '=' native / '>' big-endian spellings)")
        }
        switch order {
        case ">": return (dataType, dataType.byteSize == 1 ? .little : .big)
        case "|" where dataType.byteSize > 1:
            throw fail("invalid dtype '\(descr)': byte order '|' (not applicable) is only valid for 1-byte types; expected '<\(code)'")
        default:
            // '<', '|' and '=' (native: every supported host is little-endian).
            return (dataType, .little)
        }
    }

    /// The dtype string numpy writes for `dataType`, e.g. `'<f4'` or `'|u1'`.
    static func descr(for dataType: DataType) -> String {
        switch dataType {
        case .float16: "<f2"
        case .float32: "<f4"
        case .float64: "<f8"
        case .int8: "|i1"
        case .uint8: "|u1"
        case .int16: "<i2"
        case .uint16: "<u2"
        case .int32: "<i4"
        case .uint32: "<u4"
        case .int64: "<i8"
        case .uint64: "<u8"
        case .bool: "|b1"
        }
    }

    /// A shape in Python tuple syntax: `()`, `(5,)`, `(2, 3)`.
    static func pythonTuple(_ shape: [Int]) -> String {
        switch shape.count {
        case 0: "()"
        case 1: "(\(shape[0]),)"
        default: "(" + shape.map(String.init).joined(separator: ", ") + ")"
        }
    }

    static func describe(shape dims: [PythonLiteral]) -> String {
        PythonLiteral.tuple(dims).summary
    }

    /// The header dictionary exactly as `numpy.lib.format` writes it (keys sorted, trailing
    /// `", }"`, plus the spare spaces numpy leaves so the first axis can grow in place).
    /// Padding to the 64-byte boundary and the final newline are added by the caller.
    static func dictionaryText(dataType: DataType, shape: [Int]) -> String {
        var text = "{'descr': '\(descr(for: dataType))', 'fortran_order': False, 'shape': \(pythonTuple(shape)), }"
        // numpy: GROWTH_AXIS_MAX_DIGITS (21) minus the digits of the growth axis (axis 0 in C order).
        if let first = shape.first {
            text += String(repeating: " ", count: max(0, 21 - String(first).count))
        }
        return text
    }
}
