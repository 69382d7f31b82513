import Foundation
import QuantGraph

/// Reader and writer for numpy's `.npy` array files (format versions 1.0, 2.0 and 3.0).
///
/// Reading accepts the dtypes `'<f4' '<f8' '<f2' '|i1' '|u1' '<i2' '<u2' '<i4' '<u4' '<i8' '<u8' '|b1'`
/// (also spelled with `'='`, or `'<'` for the 1-byte types). Big-endian (`'>'`) arrays are converted
/// to little-endian while loading. Only C-order arrays are accepted, and the data must be exactly
/// as long as the shape requires. Every malformed input throws a `FrameSourceError`; none traps.
///
/// Writing produces the same bytes as `numpy.save` for a C-contiguous little-endian array:
/// format 1.0, keys in sorted order, header padded with spaces to a multiple of 64 bytes and
/// terminated by a newline.
public enum NPY {
    /// The six magic bytes every `.npy` file begins with: `\x93NUMPY`.
    static let magic: [UInt8] = [0x93, 0x4E, 0x55, 0x4D, 0x50, 0x59]
    /// numpy aligns the start of the array data to this many bytes.
    static let alignment = 64

    /// Reads the `.npy` file at `url` into a tensor.
    /// - Throws: `FrameSourceError` naming the file if it cannot be read or is not a valid `.npy` file.
    public static func read(contentsOf url: URL) throws -> Tensor {
        let data: Data
        do {
            data = try Data(contentsOf: url, options: .mappedIfSafe)
        } catch {
            throw FrameSourceError(source: url.path, message: "cannot read .npy file: \(error.localizedDescription)")
        }
        return try decode(data, source: url.path)
    }

    /// Decodes the bytes of a `.npy` file into a tensor.
    /// - Parameter source: names the input in error messages (usually its path).
    public static func decode(_ data: Data, source: String) throws -> Tensor {
        try data.withUnsafeBytes { try decode($0, source: source) }
    }

    /// Checks the magic, version, header and data length of `.npy` bytes (a whole file, or a
    /// mapping of it of which only the header is read) and says where the array is.
    static func layout(_ bytes: UnsafeRawBufferPointer, source: String) throws -> Layout {
        func fail(_ message: String) -> FrameSourceError {
            FrameSourceError(source: source, message: message)
        }
        guard bytes.count >= 8 else {
            throw fail("not a .npy file: only \(bytes.count) bytes, expected at least 10 (magic \\x93NUMPY, version, header length)")
        }
        guard bytes.prefix(6).elementsEqual(magic) else {
            let found = bytes.prefix(6).map { b in
                b >= 0x20 && b < 0x7F ? String(Character(Unicode.Scalar(b))) : "\\x" + String(b, radix: 16, uppercase: false)
            }.joined()
            throw fail("not a .npy file: bad magic \"\(found)\", expected \"\\x93NUMPY\"")
        }
        let major = Int(bytes[6])
        let minor = Int(bytes[7])
        let lengthFieldSize: Int
        switch (major, minor) {
        case (1, 0): lengthFieldSize = 2
        case (2, 0), (3, 0): lengthFieldSize = 4
        default:
            throw fail("unsupported .npy format version \(major).\(minor); expected 1.0, 2.0 or 3.0")
        }
        let headerStart = 8 + lengthFieldSize
        guard bytes.count >= headerStart else {
            throw fail("truncated .npy header: file ends after \(bytes.count) bytes, inside the \(lengthFieldSize)-byte header length field of a version \(major).\(minor) file")
        }
        var headerLength = 0
        for i in (0..<lengthFieldSize).reversed() {  // little-endian
            headerLength = headerLength << 8 | Int(bytes[8 + i])
        }
        let available = bytes.count - headerStart
        guard headerLength <= available else {
            throw fail("truncated .npy header: header length field says \(headerLength) bytes but only \(available) bytes follow")
        }
        let dataStart = headerStart + headerLength
        let header = try NPYHeader.parse(
            UnsafeRawBufferPointer(rebasing: bytes[headerStart..<dataStart]), latin1: major < 3, source: source)

        // Validate sizes with overflow checks before anything builds a TensorType (whose
        // element count multiplies without checks).
        var elementCount = 1
        for dim in header.shape {
            let (product, overflow) = elementCount.multipliedReportingOverflow(by: dim)
            guard !overflow else {
                throw fail("invalid .npy shape \(NPYHeader.pythonTuple(header.shape)): element count overflows a 64-bit integer")
            }
            elementCount = product
        }
        let (expectedBytes, overflow) = elementCount.multipliedReportingOverflow(by: header.dataType.byteSize)
        guard !overflow else {
            throw fail("invalid .npy shape \(NPYHeader.pythonTuple(header.shape)): \(elementCount) elements of \(header.dataType.byteSize) bytes overflow a 64-bit byte count")
        }
        let actualBytes = bytes.count - dataStart
        let what = "shape \(NPYHeader.pythonTuple(header.shape)) of \(header.dataType) (\(elementCount) elements)"
        if actualBytes < expectedBytes {
            throw fail("truncated .npy data: \(what) needs \(expectedBytes) bytes, but the file has \(actualBytes) bytes of data")
        }
        if actualBytes > expectedBytes {
            throw fail("unexpected .npy data length: \(what) needs \(expectedBytes) bytes, but the file has \(actualBytes) bytes of data (\(actualBytes - expectedBytes) extra)")
        }

        return Layout(header: header, dataStart: dataStart, elementCount: elementCount)
    }

    /// Where a `.npy` file's array is and what it holds.
    struct Layout: Sendable, Equatable {
        var header: NPYHeader
        /// Byte offset of the array data from the start of the file.
        var dataStart: Int
        var elementCount: Int
        var type: TensorType { TensorType(header.dataType, header.shape) }
    }

    /// Decodes `.npy` bytes held in memory.
    static func decode(_ bytes: UnsafeRawBufferPointer, source: String) throws -> Tensor {
        let layout = try self.layout(bytes, source: source)
        let tensor = Tensor(type: layout.type, bytes: UnsafeRawBufferPointer(rebasing: bytes[layout.dataStart...]))
        normalize(tensor.storage.pointer, count: layout.elementCount, header: layout.header)
        return tensor
    }

    /// Turns `count` elements copied from a file with `header` into this machine's values in place:
    /// big-endian elements are byte-swapped, and bools become exactly 0 or 1.
    static func normalize(_ pointer: UnsafeMutableRawPointer, count: Int, header: NPYHeader) {
        if header.byteOrder == .big {
            swapByteOrder(pointer, count: count, width: header.dataType.byteSize)
        }
        if header.dataType == .bool {
            // Swift's Bool must be exactly 0 or 1; numpy treats any non-zero byte as True.
            let b = pointer.assumingMemoryBound(to: UInt8.self)
            for i in 0..<count where b[i] > 1 { b[i] = 1 }
        }
    }

    /// Reverses the bytes of each `width`-byte element in place.
    static func swapByteOrder(_ pointer: UnsafeMutableRawPointer, count: Int, width: Int) {
        guard width > 1 else { return }
        let b = UnsafeMutableBufferPointer(start: pointer.assumingMemoryBound(to: UInt8.self), count: count * width)
        for e in 0..<count {
            var lo = e * width
            var hi = lo + width - 1
            while lo < hi {
                b.swapAt(lo, hi)
                lo += 1
                hi -= 1
            }
        }
    }

    /// The bytes of a `.npy` file holding `tensor`, identical to what `numpy.save` writes.
    public static func encode(_ tensor: Tensor) -> Data {
        let dict = NPYHeader.dictionaryText(dataType: tensor.dataType, shape: tensor.shape)
        let dictBytes = Array(dict.utf8)
        // Version 1.0 has a 2-byte header length; fall back to 2.0 only for enormous headers.
        var lengthFieldSize = 2
        var headerLength = paddedHeaderLength(dictCount: dictBytes.count, prefix: 8 + 2)
        if headerLength > Int(UInt16.max) {
            lengthFieldSize = 4
            headerLength = paddedHeaderLength(dictCount: dictBytes.count, prefix: 8 + 4)
        }
        var data = Data(capacity: 8 + lengthFieldSize + headerLength + tensor.storage.byteCount)
        data.append(contentsOf: magic)
        data.append(contentsOf: [lengthFieldSize == 2 ? 1 : 2, 0])
        for i in 0..<lengthFieldSize {
            data.append(UInt8(truncatingIfNeeded: headerLength >> (8 * i)))
        }
        data.append(contentsOf: dictBytes)
        data.append(contentsOf: repeatElement(UInt8(ascii: " "), count: headerLength - dictBytes.count - 1))
        data.append(UInt8(ascii: "\n"))
        tensor.withUnsafeBytes { data.append(contentsOf: $0) }
        return data
    }

    /// numpy's padding rule: dictionary + newline + `64 - (prefix + dict + 1) % 64` spaces
    /// (a full 64 when already aligned, exactly as `numpy.lib.format._wrap_header` does).
    static func paddedHeaderLength(dictCount: Int, prefix: Int) -> Int {
        let unpadded = dictCount + 1
        return unpadded + alignment - (prefix + unpadded) % alignment
    }

    /// Writes `tensor` to `url` as a `.npy` file (atomically).
    /// - Throws: `FrameSourceError` naming the file if it cannot be written.
    public static func write(_ tensor: Tensor, to url: URL) throws {
        do {
            try encode(tensor).write(to: url, options: .atomic)
        } catch {
            throw FrameSourceError(source: url.path, message: "cannot write .npy file: \(error.localizedDescription)")
        }
    }
}
