// The bundle's manifest (docs/model-updates.md): what the bundle holds and what the model expects.
// Decoded only from bytes whose signature verified; checked for consistency before anything else.
import Documents
import Foundation

public struct Manifest: Sendable, Codable, Equatable {
    public static let currentFormat = 1

    public enum Role: String, Sendable, Codable { case int8, float, frame }

    public struct File: Sendable, Codable, Equatable {
        public var role: Role
        public var name: String
        public var size: Int
        public var sha256: String
        public init(role: Role, name: String, size: Int, sha256: String) {
            self.role = role
            self.name = name
            self.size = size
            self.sha256 = sha256
        }
    }

    public struct Input: Sendable, Codable, Equatable {
        public var shape: [Int]
        public var dtype: String
        public init(shape: [Int], dtype: String) {
            self.shape = shape
            self.dtype = dtype
        }
    }

    /// Canary thresholds; a missing one takes the device's default.
    public struct Canary: Sendable, Codable, Equatable {
        public var minSQNR: Double?
        public var minAgreement: Double?
        public var maxSaturation: Double?
        public init(minSQNR: Double? = nil, minAgreement: Double? = nil, maxSaturation: Double? = nil) {
            self.minSQNR = minSQNR
            self.minAgreement = minAgreement
            self.maxSaturation = maxSaturation
        }
        enum CodingKeys: String, CodingKey { case minSQNR = "min_sqnr_db", minAgreement = "min_agreement", maxSaturation = "max_saturation" }
    }

    public var format = Manifest.currentFormat
    public var name: String
    public var version: Int
    /// RFC 3339.
    public var created: String
    /// Signed permission to install a version not newer than the installed one.
    public var downgrade = false
    /// In payload order.
    public var files: [File]
    public var input: Input
    public var output: String?
    /// `[preprocessing]` keys (as in the configuration file) the model expects.
    public var preprocessing: [String: JSONValue]?
    public var canary: Canary?

    public init(name: String, version: Int, created: String, downgrade: Bool = false, files: [File], input: Input,
                output: String? = nil, preprocessing: [String: JSONValue]? = nil, canary: Canary? = nil) {
        self.name = name
        self.version = version
        self.created = created
        self.downgrade = downgrade
        self.files = files
        self.input = input
        self.output = output
        self.preprocessing = preprocessing
        self.canary = canary
    }

    enum CodingKeys: String, CodingKey { case format, name, version, created, downgrade, files, input, output, preprocessing, canary }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        format = try c.decode(Int.self, forKey: .format)
        name = try c.decode(String.self, forKey: .name)
        version = try c.decode(Int.self, forKey: .version)
        created = try c.decode(String.self, forKey: .created)
        downgrade = try c.decodeIfPresent(Bool.self, forKey: .downgrade) ?? false
        files = try c.decode([File].self, forKey: .files)
        input = try c.decode(Input.self, forKey: .input)
        output = try c.decodeIfPresent(String.self, forKey: .output)
        preprocessing = try c.decodeIfPresent([String: JSONValue].self, forKey: .preprocessing)
        canary = try c.decodeIfPresent(Canary.self, forKey: .canary)
    }

    /// The manifest's bytes as signed: pretty-printed JSON, keys sorted.
    public func encoded() throws -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes, .prettyPrinted]
        return Array(try encoder.encode(self))
    }

    /// Decodes and checks a manifest (its signature already verified).
    public static func decode(_ bytes: [UInt8]) throws(UpdateRefusal) -> Manifest {
        let manifest: Manifest
        do { manifest = try JSONDecoder().decode(Manifest.self, from: Data(bytes)) } catch {
            throw UpdateRefusal(.manifest, "the manifest is not valid JSON of format \(currentFormat) (\(describe(error)))")
        }
        try manifest.validate()
        return manifest
    }

    public var int8: File { files.first { $0.role == .int8 }! }
    public var float: File { files.first { $0.role == .float }! }
    public var frames: [File] { files.filter { $0.role == .frame } }
    public var payloadSize: Int { files.reduce(0) { $0 + $1.size } }
    /// Each file's offset in the payload.
    public var offsets: [Int] {
        var offset = 0
        return files.map { file in
            defer { offset += file.size }
            return offset
        }
    }

    /// Consistency: format, name, version, roles, file names, sizes, digests, input.
    public func validate() throws(UpdateRefusal) {
        func fail(_ message: String) -> UpdateRefusal { UpdateRefusal(.manifest, message) }
        guard format == Self.currentFormat else { throw fail("format \(format) is not understood; this device reads format \(Self.currentFormat)") }
        guard Self.isValidName(name) else { throw fail("name '\(name)' is not 1–100 characters of A–Z a–z 0–9 . _ - (not starting with '.')") }
        guard version > 0 else { throw fail("version \(version) is not a positive integer") }
        for role in [Role.int8, .float] {
            let count = files.filter { $0.role == role }.count
            guard count == 1 else { throw fail("holds \(count) files of role '\(role.rawValue)'; expected exactly one") }
        }
        var seen = Set<String>()
        for file in files {
            guard Self.isValidName(file.name) else { throw fail("file name '\(file.name)' is not 1–100 characters of A–Z a–z 0–9 . _ - (not starting with '.')") }
            guard seen.insert(file.name).inserted else { throw fail("file name '\(file.name)' appears twice") }
            guard file.size >= 0, file.size <= 1 << 40 else { throw fail("file '\(file.name)' has size \(file.size); expected 0 … 2^40 bytes") }
            guard file.sha256.utf8.count == 64, file.sha256.utf8.allSatisfy({ (48...57).contains($0) || (97...102).contains($0) }) else {
                throw fail("file '\(file.name)' has sha256 '\(file.sha256)'; expected 64 lower-case hex digits")
            }
        }
        guard !input.shape.isEmpty, input.shape.allSatisfy({ $0 > 0 && $0 <= 1 << 24 }) else {
            throw fail("input shape \(input.shape) is not a list of positive dimensions")
        }
        guard ["float32", "uint8"].contains(input.dtype) else { throw fail("input dtype '\(input.dtype)' is not float32 or uint8") }
        if let canary {
            if let v = canary.minSQNR, !v.isFinite { throw fail("canary.min_sqnr_db \(v) is not finite") }
            if let v = canary.minAgreement, !(0...1).contains(v) { throw fail("canary.min_agreement \(v) is not in [0, 1]") }
            if let v = canary.maxSaturation, !(0...1).contains(v) { throw fail("canary.max_saturation \(v) is not in [0, 1]") }
        }
    }

    static func isValidName(_ name: String) -> Bool {
        let u = Array(name.utf8)
        guard (1...100).contains(u.count), u[0] != UInt8(ascii: ".") else { return false }
        return u.allSatisfy { b in
            (48...57).contains(b) || (65...90).contains(b) || (97...122).contains(b) || b == UInt8(ascii: ".") || b == UInt8(ascii: "_") || b == UInt8(ascii: "-")
        }
    }

    static func describe(_ error: any Error) -> String {
        switch error {
        case let DecodingError.keyNotFound(key, context):
            return "missing key '\((context.codingPath.map(\.stringValue) + [key.stringValue]).joined(separator: "."))'"
        case let DecodingError.typeMismatch(_, context), let DecodingError.valueNotFound(_, context):
            return "'\(context.codingPath.map(\.stringValue).joined(separator: "."))': \(context.debugDescription)"
        case let DecodingError.dataCorrupted(context):
            return (context.underlyingError as NSError?)?.userInfo[NSDebugDescriptionErrorKey] as? String ?? context.debugDescription
        default:
            return "\(error)"
        }
    }
}
