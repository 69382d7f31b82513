/// A configuration the daemon refuses to start with. The daemon exits with `exitCode` (78,
/// EX_CONFIG), which the unit's `RestartPreventExitStatus=78` keeps systemd from restarting in a loop.
public struct ConfigurationError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Kind: String, Sendable {
        /// The file cannot be read.
        case unreadable = "cannot read the file"
        /// Not TOML.
        case syntax = "not valid TOML"
        case unknownKey = "unknown key"
        case wrongType = "wrong type"
        case badValue = "bad value"
        case missing = "missing"
    }

    public static let exitCode: Int32 = 78

    public var kind: Kind
    /// The configuration file.
    public var file: String
    /// The key, e.g. `frames.fps` (empty for a file that cannot be read or parsed).
    public var keyPath: String
    /// The value as written (TOML syntax), when there was one.
    public var value: String?
    /// What is allowed.
    public var allowed: String
    /// The environment variable the value came from (`QUANTWATCH_FRAMES_FPS`), when it did.
    public var environmentVariable: String?
    /// Line and column (syntax errors).
    public var line: Int?
    public var column: Int?
    /// Further problems found in the same file.
    public var additional: [ConfigurationError] = []

    public init(_ kind: Kind, file: String, keyPath: String, value: String? = nil, allowed: String,
                environmentVariable: String? = nil, line: Int? = nil, column: Int? = nil) {
        self.kind = kind
        self.file = file
        self.keyPath = keyPath
        self.value = value
        self.allowed = allowed
        self.environmentVariable = environmentVariable
        self.line = line
        self.column = column
    }

    /// This problem alone, on one line: `FILE: frames.fps = -1: bad value; expected frames per second ≥ 0`.
    public var line1: String {
        var place = file
        if let line { place += ":\(line)" + (column.map { ":\($0)" } ?? "") }
        if let environmentVariable { place = "environment \(environmentVariable) (over \(file))" }
        var text = place + ": "
        if !keyPath.isEmpty { text += keyPath + (value.map { " = \($0)" } ?? "") + ": " }
        return text + kind.rawValue + "; " + allowed
    }

    public var description: String {
        ([line1] + additional.map(\.line1)).joined(separator: "\n")
    }
}
