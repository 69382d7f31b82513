// Reads typed values out of a parsed TOML document and the environment, strictly: every key read is
// recorded, so a key nobody reads is an unknown key; every value is checked where it is read, so an
// error names its key path, the value and what is allowed.
import Foundation
import TOMLKit

/// A TOML value, copied out of TOMLKit (the rest of the daemon never sees TOMLKit's types).
enum ConfigNode: Equatable {
    case string(String), int(Int), double(Double), bool(Bool)
    case array([ConfigNode]), table([String: ConfigNode])
    /// A date or time (no key takes one).
    case other(String)

    init(_ value: TOMLValueConvertible) {
        switch value.type {
        case .string: self = .string(value.string ?? "")
        case .int: self = .int(value.int ?? 0)
        case .double: self = .double(value.double ?? 0)
        case .bool: self = .bool(value.bool ?? false)
        case .array: self = .array((value.array.map { Array($0) } ?? []).map { ConfigNode($0) })
        case .table: self = .table(Dictionary((value.table.map { Array($0) } ?? []).map { ($0.0, ConfigNode($0.1)) }, uniquingKeysWith: { a, _ in a }))
        default: self = .other(value.type.description)
        }
    }

    var typeName: String {
        switch self {
        case .string: "a string"
        case .int: "an integer"
        case .double: "a floating-point number"
        case .bool: "a boolean"
        case .array: "an array"
        case .table: "a table"
        case .other(let name): "a \(name)"
        }
    }

    /// TOML syntax.
    var text: String {
        switch self {
        case .string(let s): ConfigValueType<String>.quote(s)
        case .int(let i): String(i)
        case .double(let d): ConfigValueType<Double>.render(d)
        case .bool(let b): String(b)
        case .array(let a): "[" + a.map(\.text).joined(separator: ", ") + "]"
        case .table(let t): "{ " + t.keys.sorted().map { "\($0) = \(t[$0]!.text)" }.joined(separator: ", ") + " }"
        case .other(let name): "<\(name)>"
        }
    }
}

/// How one kind of value is read from TOML or from an environment variable's text, and written back.
struct ConfigValueType<T> {
    var name: String
    var fromNode: (ConfigNode) -> T?
    var fromText: (String) -> T?
    var render: (T) -> String

    static var string: ConfigValueType<String> {
        .init(name: "a string", fromNode: { if case .string(let s) = $0 { s } else { nil } }, fromText: { $0 }, render: ConfigValueType<String>.quote)
    }
    static var int: ConfigValueType<Int> {
        .init(name: "an integer", fromNode: { if case .int(let i) = $0 { i } else { nil } },
              fromText: { Int($0.trimming(" ")) }, render: { String($0) })
    }
    /// A number (an integer is taken as one).
    static var double: ConfigValueType<Double> {
        .init(name: "a number", fromNode: {
            switch $0 {
            case .double(let d): d
            case .int(let i): Double(i)
            default: nil
            }
        }, fromText: { Double(String($0).trimming(" ")) }, render: ConfigValueType<Double>.render)
    }
    static var bool: ConfigValueType<Bool> {
        .init(name: "a boolean (true or false)", fromNode: { if case .bool(let b) = $0 { b } else { nil } },
              fromText: { switch $0 { case "true": true; case "false": false; default: nil } }, render: { String($0) })
    }
    /// An array of numbers, or one number (taken as one element). From the environment: `0.5,0.4` or `[0.5, 0.4]`.
    static var doubles: ConfigValueType<[Double]> {
        .init(name: "a number or an array of numbers", fromNode: { node in
            switch node {
            case .double(let d): return [d]
            case .int(let i): return [Double(i)]
            case .array(let items):
                let values = items.compactMap { ConfigValueType<Double>.double.fromNode($0) }
                return values.count == items.count ? values : nil
            default: return nil
            }
        }, fromText: { text in
            let items = text.trimming("[] ").split(separator: ",")
            let values = items.compactMap { Double(String($0).trimming(" ")) }
            return !items.isEmpty && values.count == items.count ? values : nil
        }, render: { "[" + $0.map(ConfigValueType<Double>.render).joined(separator: ", ") + "]" })
    }
    /// An array of strings. From the environment: comma-separated.
    static var strings: ConfigValueType<[String]> {
        .init(name: "an array of strings", fromNode: { node in
            guard case .array(let items) = node else { return nil }
            let values = items.compactMap { if case .string(let s) = $0 { s } else { nil } }
            return values.count == items.count ? values : nil
        }, fromText: { $0.split(separator: ",").map { String($0).trimming(" ") } },
           render: { "[" + $0.map(ConfigValueType<String>.quote).joined(separator: ", ") + "]" })
    }
    /// One of the raw values of `E`.
    static func choice<E: RawRepresentable & CaseIterable>(_: E.Type) -> ConfigValueType<E> where E.RawValue == String {
        .init(name: "one of " + E.allCases.map { "\"\($0.rawValue)\"" }.joined(separator: ", "),
              fromNode: { if case .string(let s) = $0 { E(rawValue: s) } else { nil } },
              fromText: { E(rawValue: $0) }, render: { "\"\($0.rawValue)\"" })
    }

    static func quote(_ s: String) -> String {
        var out = "\""
        for c in s.unicodeScalars {
            switch c {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\t": out += "\\t"
            default:
                if c.value < 0x20 || c.value == 0x7F { out += String(format: "\\u%04X", c.value) } else { out.unicodeScalars.append(c) }
            }
        }
        return out + "\""
    }

    static func render(_ d: Double) -> String {
        if d == d.rounded(), abs(d) < 1e15 { return String(format: "%.1f", d) }
        return "\(d)"
    }
}

extension String {
    /// Without these characters at either end.
    func trimming(_ set: String) -> String {
        let drop = Set(set)
        var s = Substring(self)
        while let f = s.first, drop.contains(f) { s.removeFirst() }
        while let l = s.last, drop.contains(l) { s.removeLast() }
        return String(s)
    }
}

/// One key the daemon reads: what `docs/configuration.md` and `Config/quantwatch.toml` describe.
public struct ConfigurationKey: Sendable, Equatable {
    public var path: String
    public var environmentVariable: String
    /// The default in TOML syntax, or nil when the key is required or has no value by default.
    public var defaultValue: String?
    /// What is allowed, in words.
    public var allowed: String
    /// Whether SIGHUP applies a change without a restart.
    public var live: Bool
}

/// Reads the document; collects errors instead of stopping at the first, so `config check` lists them all.
struct ConfigurationReader {
    static let environmentPrefix = "QUANTWATCH_"
    let file: String
    let root: [String: ConfigNode]
    let environment: [String: String]
    private(set) var keys: [ConfigurationKey] = []
    private(set) var errors: [ConfigurationError] = []
    let livePrefixes: [String]

    init(file: String, root: [String: ConfigNode], environment: [String: String], livePrefixes: [String]) {
        self.file = file
        self.root = root
        self.environment = environment.filter { $0.key.hasPrefix(Self.environmentPrefix) }
        self.livePrefixes = livePrefixes
    }

    static func environmentVariable(_ path: String) -> String {
        environmentPrefix + path.uppercased().replacingOccurrences(of: ".", with: "_")
    }

    /// The node at a dotted path; a non-table on the way is reported as a wrong type.
    private mutating func node(_ path: String) -> ConfigNode? {
        var current = ConfigNode.table(root)
        var walked: [Substring] = []
        for part in path.split(separator: ".") {
            guard case .table(let table) = current else {
                let at = walked.joined(separator: ".")
                if !errors.contains(where: { $0.keyPath == at && $0.kind == .wrongType }) {
                    errors.append(ConfigurationError(.wrongType, file: file, keyPath: at, value: current.text, allowed: "expected a table of keys (\(at).…)"))
                }
                return nil
            }
            walked.append(part)
            guard let next = table[String(part)] else { return nil }
            current = next
        }
        return current
    }

    /// Whether any of these keys is set in the file or the environment.
    mutating func isSet(_ paths: [String]) -> Bool {
        paths.contains { environment[Self.environmentVariable($0)] != nil || node($0) != nil }
    }

    /// Reads `path`: the environment variable wins over the file, the file over `defaultValue`.
    /// Returns nil (and records an error) when the value is missing, of the wrong type or not `valid`;
    /// nil without an error when it is optional (`required` false, no default) and absent.
    mutating func read<T>(_ path: String, _ type: ConfigValueType<T>, default defaultValue: T? = nil, defaultText: String? = nil,
                          required: Bool = true, allowed: String, valid: (T) -> Bool = { _ in true }) -> T? {
        let variable = Self.environmentVariable(path)
        keys.append(ConfigurationKey(path: path, environmentVariable: variable, defaultValue: defaultText ?? defaultValue.map(type.render),
                                     allowed: allowed, live: livePrefixes.contains { path == $0 || path.hasPrefix($0 + ".") }))
        let value: T
        if let text = environment[variable] {
            guard let parsed = type.fromText(text) else {
                errors.append(ConfigurationError(.wrongType, file: file, keyPath: path, value: "\"\(text)\"", allowed: "expected \(type.name): \(allowed)", environmentVariable: variable))
                return nil
            }
            guard valid(parsed) else {
                errors.append(ConfigurationError(.badValue, file: file, keyPath: path, value: "\"\(text)\"", allowed: allowed, environmentVariable: variable))
                return nil
            }
            return parsed
        } else if let node = node(path) {
            guard let parsed = type.fromNode(node) else {
                errors.append(ConfigurationError(.wrongType, file: file, keyPath: path, value: node.text, allowed: "found \(node.typeName), expected \(type.name): \(allowed)"))
                return nil
            }
            value = parsed
        } else if let defaultValue {
            return defaultValue
        } else {
            if required { errors.append(ConfigurationError(.missing, file: file, keyPath: path, allowed: "expected \(allowed) (env \(variable))")) }
            return nil
        }
        guard valid(value) else {
            errors.append(ConfigurationError(.badValue, file: file, keyPath: path, value: type.render(value), allowed: allowed))
            return nil
        }
        return value
    }

    /// Records a problem found across keys (e.g. drift below warning).
    mutating func fail(_ kind: ConfigurationError.Kind, _ path: String, value: String?, allowed: String) {
        let variable = Self.environmentVariable(path)
        errors.append(ConfigurationError(kind, file: file, keyPath: path, value: value, allowed: allowed,
                                         environmentVariable: environment[variable] != nil ? variable : nil))
    }

    /// Keys in the file nobody read, and QUANTWATCH_ variables that name no key, as errors.
    func unknownKeys() -> [ConfigurationError] {
        let known = Set(keys.map(\.path))
        var found: [ConfigurationError] = []
        func walk(_ table: [String: ConfigNode], prefix: String) {
            for key in table.keys.sorted() {
                let path = prefix.isEmpty ? key : prefix + "." + key
                if known.contains(path) { continue }
                if known.contains(where: { $0.hasPrefix(path + ".") }) {
                    // A table of known keys; when it is not a table, reading its keys reported the wrong type.
                    if case .table(let inner) = table[key]! { walk(inner, prefix: path) }
                    continue
                }
                let siblings = keys.map(\.path).filter { prefix.isEmpty ? true : $0.hasPrefix(prefix + ".") }
                    .map { String($0.dropFirst(prefix.isEmpty ? 0 : prefix.count + 1).split(separator: ".").first!) }
                var unique: [String] = []
                for s in siblings where !unique.contains(s) { unique.append(s) }
                found.append(ConfigurationError(.unknownKey, file: file, keyPath: path, value: table[key]!.text,
                                                allowed: (prefix.isEmpty ? "the sections are " : "[\(prefix)] takes ") + unique.joined(separator: ", ")))
            }
        }
        walk(root, prefix: "")
        let variables = Set(keys.map(\.environmentVariable))
        let sections = Set(keys.map { Self.environmentVariable(String($0.path.split(separator: ".").first!)) + "_" })
        for name in environment.keys.sorted() where !variables.contains(name) && sections.contains(where: { name.hasPrefix($0) }) {
            let section = sections.first { name.hasPrefix($0) }!
            let near = keys.map(\.environmentVariable).filter { $0.hasPrefix(section) }
            found.append(ConfigurationError(.unknownKey, file: file, keyPath: "", value: nil,
                                            allowed: "\(name) names no configuration key; the section's variables are " + near.joined(separator: ", "),
                                            environmentVariable: name))
        }
        return found
    }
}
