/// The small subset of Python literal syntax that `.npy` headers are written in:
/// a dict of string keys whose values are strings, booleans, `None`, integers and
/// tuples or lists of those (numpy reads the header with `ast.literal_eval`).
///
/// The parser works on raw header bytes, never traps, and limits nesting so that a
/// hostile header cannot exhaust the stack.
enum PythonLiteral: Equatable, Sendable {
    case string(String)
    case integer(Int)
    case bool(Bool)
    case none
    case tuple([PythonLiteral])
    case list([PythonLiteral])
    case dict([String: PythonLiteral])

    /// Parses `bytes` as exactly one literal, optionally surrounded by whitespace.
    /// - Parameters:
    ///   - latin1: decode string contents as ISO-8859-1 (format 1.0/2.0) instead of UTF-8 (3.0).
    ///   - source: names the file in thrown errors.
    static func parse(_ bytes: UnsafeRawBufferPointer, latin1: Bool, source: String) throws -> PythonLiteral {
        var parser = Parser(bytes: bytes, latin1: latin1, source: source)
        let value = try parser.value(depth: 0)
        parser.skipWhitespace()
        if parser.position < bytes.count {
            throw parser.failure("unexpected text after the header dictionary at offset \(parser.position)")
        }
        return value
    }

    /// A short rendering for error messages.
    var summary: String {
        switch self {
        case .string(let s): "'\(s)'"
        case .integer(let i): String(i)
        case .bool(let b): b ? "True" : "False"
        case .none: "None"
        case .tuple(let items): "(" + items.map(\.summary).joined(separator: ", ") + (items.count == 1 ? ",)" : ")")
        case .list(let items): "[" + items.map(\.summary).joined(separator: ", ") + "]"
        case .dict(let d): "{" + d.keys.sorted().map { "'\($0)': \(d[$0]!.summary)" }.joined(separator: ", ") + "}"
        }
    }
}

private struct Parser {
    let bytes: UnsafeRawBufferPointer
    let latin1: Bool
    let source: String
    var position = 0

    static let maxDepth = 32

    init(bytes: UnsafeRawBufferPointer, latin1: Bool, source: String) {
        self.bytes = bytes
        self.latin1 = latin1
        self.source = source
    }

    func failure(_ what: String) -> FrameSourceError {
        FrameSourceError(source: source, message: "malformed .npy header: \(what)")
    }

    var current: UInt8? { position < bytes.count ? bytes[position] : nil }

    mutating func skipWhitespace() {
        while let c = current, c == 0x20 || c == 0x09 || c == 0x0A || c == 0x0D || c == 0x0B || c == 0x0C {
            position += 1
        }
    }

    /// Consumes `byte` (after whitespace) if it is next; returns whether it was.
    mutating func accept(_ byte: UInt8) -> Bool {
        skipWhitespace()
        if current == byte {
            position += 1
            return true
        }
        return false
    }

    mutating func value(depth: Int) throws -> PythonLiteral {
        guard depth < Self.maxDepth else { throw failure("nested more than \(Self.maxDepth) levels deep") }
        skipWhitespace()
        guard let c = current else { throw failure("unexpected end of header (expected a value)") }
        switch c {
        case UInt8(ascii: "{"):
            position += 1
            return try dict(depth: depth)
        case UInt8(ascii: "("):
            position += 1
            let (items, trailingComma) = try sequence(closing: UInt8(ascii: ")"), depth: depth)
            // `(x)` is just a parenthesised value in Python; `(x,)` is a 1-tuple.
            if items.count == 1 && !trailingComma { return items[0] }
            return .tuple(items)
        case UInt8(ascii: "["):
            position += 1
            return .list(try sequence(closing: UInt8(ascii: "]"), depth: depth).items)
        case UInt8(ascii: "'"), UInt8(ascii: "\""):
            return .string(try string())
        case UInt8(ascii: "-"), UInt8(ascii: "+"), UInt8(ascii: "0")...UInt8(ascii: "9"):
            return .integer(try integer())
        default:
            let word = identifier()
            switch word {
            case "True": return .bool(true)
            case "False": return .bool(false)
            case "None": return .none
            case "": throw failure("unexpected character '\(printable(c))' at offset \(position)")
            default: throw failure("unexpected word '\(word)' at offset \(position - word.utf8.count)")
            }
        }
    }

    mutating func dict(depth: Int) throws -> PythonLiteral {
        var result: [String: PythonLiteral] = [:]
        while true {
            if accept(UInt8(ascii: "}")) { return .dict(result) }
            skipWhitespace()
            guard current == UInt8(ascii: "'") || current == UInt8(ascii: "\"") else {
                if current == nil { throw failure("unexpected end of header inside the dictionary (missing '}')") }
                throw failure("expected a quoted dictionary key at offset \(position)")
            }
            let key = try string()
            guard accept(UInt8(ascii: ":")) else { throw failure("expected ':' after key '\(key)'") }
            let item = try value(depth: depth + 1)
            if result[key] != nil { throw failure("duplicate key '\(key)'") }
            result[key] = item
            if accept(UInt8(ascii: ",")) { continue }
            if accept(UInt8(ascii: "}")) { return .dict(result) }
            if current == nil { throw failure("unexpected end of header inside the dictionary (missing '}')") }
            throw failure("expected ',' or '}' at offset \(position)")
        }
    }

    mutating func sequence(closing: UInt8, depth: Int) throws -> (items: [PythonLiteral], trailingComma: Bool) {
        var items: [PythonLiteral] = []
        var trailingComma = false
        while true {
            if accept(closing) { return (items, trailingComma) }
            items.append(try value(depth: depth + 1))
            trailingComma = false
            if accept(UInt8(ascii: ",")) {
                trailingComma = true
                continue
            }
            if accept(closing) { return (items, trailingComma) }
            if current == nil { throw failure("unexpected end of header (missing '\(Character(Unicode.Scalar(closing)))')") }
            throw failure("expected ',' or '\(Character(Unicode.Scalar(closing)))' at offset \(position)")
        }
    }

    mutating func string() throws -> String {
        let quote = bytes[position]
        let start = position
        position += 1
        var content: [UInt8] = []
        while let c = current {
            position += 1
            if c == quote { return decode(content) }
            if c == 0x0A { break }
            if c == UInt8(ascii: "\\") {
                guard let next = current else { break }
                position += 1
                switch next {
                case UInt8(ascii: "n"): content.append(0x0A)
                case UInt8(ascii: "t"): content.append(0x09)
                case UInt8(ascii: "\\"), UInt8(ascii: "'"), UInt8(ascii: "\""): content.append(next)
                default: content.append(contentsOf: [c, next])
                }
            } else {
                content.append(c)
            }
        }
        throw failure("unterminated string starting at offset \(start)")
    }

    func decode(_ content: [UInt8]) -> String {
        if latin1 {
            var s = ""
            s.unicodeScalars.append(contentsOf: content.map { Unicode.Scalar($0) })
            return s
        }
        return String(decoding: content, as: UTF8.self)
    }

    mutating func integer() throws -> Int {
        let start = position
        var negative = false
        if current == UInt8(ascii: "-") || current == UInt8(ascii: "+") {
            negative = current == UInt8(ascii: "-")
            position += 1
        }
        var value = 0
        var digits = 0
        while let c = current, c >= UInt8(ascii: "0") && c <= UInt8(ascii: "9") {
            let (times10, o1) = value.multipliedReportingOverflow(by: 10)
            let (next, o2) = times10.addingReportingOverflow(Int(c - UInt8(ascii: "0")))
            if o1 || o2 { throw failure("integer at offset \(start) is too large") }
            value = next
            digits += 1
            position += 1
        }
        guard digits > 0 else { throw failure("expected digits at offset \(start)") }
        // Python 2 era numpy wrote long integers with an `L` suffix, e.g. `(3L, 4L)`.
        if current == UInt8(ascii: "L") || current == UInt8(ascii: "l") { position += 1 }
        if let c = current, isIdentifierByte(c) || c == UInt8(ascii: ".") {
            throw failure("expected an integer at offset \(start), found a non-integer number or word")
        }
        return negative ? -value : value
    }

    mutating func identifier() -> String {
        let start = position
        while let c = current, isIdentifierByte(c) { position += 1 }
        return String(decoding: UnsafeRawBufferPointer(rebasing: bytes[start..<position]), as: UTF8.self)
    }

    func isIdentifierByte(_ c: UInt8) -> Bool {
        (c >= UInt8(ascii: "a") && c <= UInt8(ascii: "z")) || (c >= UInt8(ascii: "A") && c <= UInt8(ascii: "Z"))
            || (c >= UInt8(ascii: "0") && c <= UInt8(ascii: "9")) || c == UInt8(ascii: "_")
    }

    func printable(_ c: UInt8) -> String {
        c >= 0x20 && c < 0x7F ? String(Character(Unicode.Scalar(c))) : "\\x" + String(c, radix: 16)
    }
}
