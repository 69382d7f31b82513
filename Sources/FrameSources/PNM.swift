import Foundation

/// Reader and writer for Netpbm greyscale and colour images: binary P5 (PGM) and P6 (PPM),
/// and their plain-text variants P2 and P3.
///
/// The header is the magic number, width, height and maxval separated by any whitespace, with
/// `#` comments running to the end of a line allowed anywhere before the maxval's terminating
/// whitespace. In the binary formats samples are 1 byte when maxval ≤ 255, otherwise 2 bytes
/// big-endian. Bytes after the raster (e.g. a second concatenated image) are ignored.
/// Every malformed input throws a `FrameSourceError`; none traps.
public enum PNM {
    /// The four supported kinds, by magic number.
    public enum Kind: String, Sendable, Equatable, CaseIterable {
        case plainGray = "P2", plainColor = "P3", gray = "P5", color = "P6"

        var channels: Int { self == .plainGray || self == .gray ? 1 : 3 }
        var isPlain: Bool { self == .plainGray || self == .plainColor }
    }

    /// Reads the PGM/PPM file at `url`.
    /// - Throws: `FrameSourceError` naming the file if it cannot be read or is malformed.
    public static func read(contentsOf url: URL) throws -> PNMImage {
        let data: Data
        do {
            data = try Data(contentsOf: url, options: .mappedIfSafe)
        } catch {
            throw FrameSourceError(source: url.path, message: "cannot read PNM file: \(error.localizedDescription)")
        }
        return try decode(data, source: url.path)
    }

    /// Decodes the bytes of a P2/P3/P5/P6 file.
    /// - Parameter source: names the input in error messages (usually its path).
    public static func decode(_ data: Data, source: String) throws -> PNMImage {
        try data.withUnsafeBytes { raw in
            var scanner = Scanner(bytes: raw, source: source)
            return try scanner.image()
        }
    }

    /// The file bytes for `image`: binary P5/P6 by default, plain P2/P3 when `plain` is true.
    public static func encode(_ image: PNMImage, plain: Bool = false) -> Data {
        let magic = image.channels == 1 ? (plain ? "P2" : "P5") : (plain ? "P3" : "P6")
        var data = Data("\(magic)\n\(image.width) \(image.height)\n\(image.maxValue)\n".utf8)
        if plain {
            let rowLength = image.width * image.channels
            var text = ""
            for row in 0..<image.height {
                let start = row * rowLength
                text += image.pixels[start..<start + rowLength].map(String.init).joined(separator: " ")
                text += "\n"
            }
            data.append(contentsOf: text.utf8)
        } else if image.bytesPerSample == 1 {
            data.append(contentsOf: image.pixels.map { UInt8(truncatingIfNeeded: $0) })
        } else {
            var bytes = [UInt8]()
            bytes.reserveCapacity(image.pixels.count * 2)
            for sample in image.pixels {
                bytes.append(UInt8(sample >> 8))
                bytes.append(UInt8(truncatingIfNeeded: sample))
            }
            data.append(contentsOf: bytes)
        }
        return data
    }

    /// Writes `image` to `url` (binary P5/P6 unless `plain`), atomically.
    public static func write(_ image: PNMImage, to url: URL, plain: Bool = false) throws {
        do {
            try encode(image, plain: plain).write(to: url, options: .atomic)
        } catch {
            throw FrameSourceError(source: url.path, message: "cannot write PNM file: \(error.localizedDescription)")
        }
    }
}

/// A cursor over PNM bytes.
private struct Scanner {
    let bytes: UnsafeRawBufferPointer
    let source: String
    var position = 0

    /// Header numbers above this are refused (far beyond any real image, and keeps sizes from overflowing).
    static let maxHeaderNumber = Int(Int32.max)

    init(bytes: UnsafeRawBufferPointer, source: String) {
        self.bytes = bytes
        self.source = source
    }

    func fail(_ message: String) -> FrameSourceError {
        FrameSourceError(source: source, message: message)
    }

    static func isWhitespace(_ c: UInt8) -> Bool {
        c == 0x20 || c == 0x09 || c == 0x0A || c == 0x0D || c == 0x0B || c == 0x0C
    }

    static func isDigit(_ c: UInt8) -> Bool { c >= UInt8(ascii: "0") && c <= UInt8(ascii: "9") }

    /// Skips whitespace and `#` comments (to the end of the line).
    mutating func skipWhitespaceAndComments() {
        while position < bytes.count {
            let c = bytes[position]
            if Self.isWhitespace(c) {
                position += 1
            } else if c == UInt8(ascii: "#") {
                skipComment()
            } else {
                return
            }
        }
    }

    /// Skips from `#` through the next newline or carriage return (inclusive).
    mutating func skipComment() {
        while position < bytes.count {
            let c = bytes[position]
            position += 1
            if c == 0x0A || c == 0x0D { return }
        }
    }

    /// Reads an unsigned decimal number after optional whitespace/comments; `what` names it in errors.
    mutating func number(_ what: String) throws -> Int {
        skipWhitespaceAndComments()
        guard position < bytes.count else {
            throw fail("truncated PNM header: file ends before the \(what)")
        }
        let start = position
        var value = 0
        while position < bytes.count, Self.isDigit(bytes[position]) {
            value = value * 10 + Int(bytes[position] - UInt8(ascii: "0"))
            if value > Self.maxHeaderNumber {
                throw fail("PNM \(what) at offset \(start) is too large (more than \(Self.maxHeaderNumber))")
            }
            position += 1
        }
        guard position > start else {
            throw fail("malformed PNM header: expected a decimal number for the \(what) at offset \(start), found \(describe(bytes[start]))")
        }
        if position < bytes.count, !Self.isWhitespace(bytes[position]), bytes[position] != UInt8(ascii: "#") {
            throw fail("malformed PNM header: the \(what) at offset \(start) is followed by \(describe(bytes[position])), expected whitespace")
        }
        return value
    }

    func describe(_ c: UInt8) -> String {
        c >= 0x20 && c < 0x7F ? "'\(Character(Unicode.Scalar(c)))'" : "byte 0x" + String(c, radix: 16)
    }

    mutating func image() throws -> PNMImage {
        guard bytes.count >= 2, bytes[0] == UInt8(ascii: "P") else {
            throw fail("not a PNM file: expected magic P2, P3, P5 or P6 at the start")
        }
        let magic = "P" + String(Character(Unicode.Scalar(bytes[1])))
        guard let kind = PNM.Kind(rawValue: magic) else {
            switch bytes[1] {
            case UInt8(ascii: "1"), UInt8(ascii: "4"):
                throw fail("unsupported PNM kind \(magic) (PBM bitmap); expected P5/P6 (or P2/P3)")
            case UInt8(ascii: "7"):
                throw fail("unsupported PNM kind P7 (PAM); expected P5/P6 (or P2/P3)")
            default:
                throw fail("not a PNM file: expected magic P2, P3, P5 or P6, found \(magic.utf8.allSatisfy { $0 >= 0x20 && $0 < 0x7F } ? magic : "P + \(describe(bytes[1]))")")
            }
        }
        position = 2
        if position < bytes.count, !Self.isWhitespace(bytes[position]), bytes[position] != UInt8(ascii: "#") {
            throw fail("malformed PNM header: expected whitespace after magic \(magic), found \(describe(bytes[position]))")
        }
        let width = try number("width")
        let height = try number("height")
        let maxValue = try number("maxval")
        guard width > 0 else { throw fail("invalid PNM width 0; expected at least 1") }
        guard height > 0 else { throw fail("invalid PNM height 0; expected at least 1") }
        guard (1...65535).contains(maxValue) else {
            throw fail("invalid PNM maxval \(maxValue); expected 1...65535")
        }
        let channels = kind.channels
        let (pixels, o1) = width.multipliedReportingOverflow(by: height)
        let (sampleCount, o2) = pixels.multipliedReportingOverflow(by: channels)
        guard !o1, !o2 else { throw fail("PNM size \(width)x\(height) is too large") }
        let samples = kind.isPlain
            ? try plainSamples(count: sampleCount, maxValue: maxValue, kind: kind, width: width, height: height)
            : try binarySamples(count: sampleCount, maxValue: maxValue, kind: kind, width: width, height: height)
        return PNMImage(unchecked: width, height: height, channels: channels, maxValue: maxValue, pixels: samples)
    }

    mutating func binarySamples(count: Int, maxValue: Int, kind: PNM.Kind, width: Int, height: Int) throws -> [UInt16] {
        // Exactly one whitespace byte separates maxval from the raster (a comment there runs to its newline).
        if position < bytes.count {
            if bytes[position] == UInt8(ascii: "#") { skipComment() } else { position += 1 }
        }
        let sampleBytes = maxValue > 255 ? 2 : 1
        let (expected, overflow) = count.multipliedReportingOverflow(by: sampleBytes)
        guard !overflow else { throw fail("PNM size \(width)x\(height) is too large") }
        let available = bytes.count - position
        guard available >= expected else {
            throw fail("truncated \(kind.rawValue) pixel data: \(width)x\(height)x\(kind.channels) at maxval \(maxValue) needs \(expected) bytes, found \(available)")
        }
        let raster = UnsafeRawBufferPointer(rebasing: bytes[position..<position + expected])
        position += expected
        let samples = [UInt16](unsafeUninitializedCapacity: count) { buffer, initialized in
            if sampleBytes == 1 {
                for i in 0..<count { buffer[i] = UInt16(raster[i]) }
            } else {
                for i in 0..<count { buffer[i] = UInt16(raster[2 * i]) << 8 | UInt16(raster[2 * i + 1]) }
            }
            initialized = count
        }
        if maxValue != 255 && maxValue != 65535, let index = samples.firstIndex(where: { Int($0) > maxValue }) {
            throw fail("\(kind.rawValue) sample \(samples[index]) at index \(index) exceeds maxval \(maxValue)")
        }
        return samples
    }

    mutating func plainSamples(count: Int, maxValue: Int, kind: PNM.Kind, width: Int, height: Int) throws -> [UInt16] {
        var samples = [UInt16]()
        // Each plain sample takes at least two bytes ("0 "), so the file size bounds the allocation.
        samples.reserveCapacity(min(count, bytes.count / 2 + 1))
        while samples.count < count {
            skipWhitespaceAndComments()
            guard position < bytes.count else {
                throw fail("truncated \(kind.rawValue) pixel data: \(width)x\(height)x\(kind.channels) needs \(count) samples, found \(samples.count)")
            }
            let value = try number("sample \(samples.count)")
            guard value <= maxValue else {
                throw fail("\(kind.rawValue) sample \(value) at index \(samples.count) exceeds maxval \(maxValue)")
            }
            samples.append(UInt16(value))
        }
        return samples
    }
}
