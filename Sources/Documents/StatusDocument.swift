import QuantMetrics

/// The device's presence, retained on `<prefix>/<device>/status`: `online` on connect, `offline` as
/// the Last Will (and on a clean stop), `degraded` while a detector is in `drift`.
public struct StatusDocument: Sendable, Codable, Equatable {
    public enum Status: String, Sendable, Codable { case online, offline, degraded }

    public var envelope: Envelope
    public var status: Status
    /// QuantWatch's version.
    public var software: String
    public var model: ModelReference?
    /// The device's group (commands to `<prefix>/group/<group>/cmd/…` reach it).
    public var group: String?
    /// The drift state when the document was written (absent in the Last Will).
    public var drift: DriftState?
    /// Why: "connected", "lost connection (last will)", "stopped", "drift: sqnr_db", …
    public var reason: String?

    public init(envelope: Envelope, status: Status, software: String, model: ModelReference?, group: String? = nil, drift: DriftState?, reason: String?) {
        self.envelope = envelope
        self.group = group
        self.status = status
        self.software = software
        self.model = model
        self.drift = drift
        self.reason = reason
    }

    enum CodingKeys: String, CodingKey { case status, software, model, group, drift, reason }

    public init(from decoder: any Decoder) throws {
        envelope = try Envelope(from: decoder)
        let c = try decoder.container(keyedBy: CodingKeys.self)
        status = try c.decode(Status.self, forKey: .status)
        software = try c.decode(String.self, forKey: .software)
        model = try c.decodeIfPresent(ModelReference.self, forKey: .model)
        group = try c.decodeIfPresent(String.self, forKey: .group)
        drift = try c.decodeIfPresent(DriftState.self, forKey: .drift)
        reason = try c.decodeIfPresent(String.self, forKey: .reason)
    }

    public func encode(to encoder: any Encoder) throws {
        try envelope.encode(to: encoder)
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(status, forKey: .status)
        try c.encode(software, forKey: .software)
        try c.encodeIfPresent(model, forKey: .model)
        try c.encodeIfPresent(group, forKey: .group)
        try c.encodeIfPresent(drift, forKey: .drift)
        try c.encodeIfPresent(reason, forKey: .reason)
    }
}

/// The active model, retained on `<prefix>/<device>/model`.
public struct ModelDocument: Sendable, Codable, Equatable {
    public var envelope: Envelope
    public var model: ModelReference
    /// When it became active (Unix ms).
    public var sinceMs: Int64

    public init(envelope: Envelope, model: ModelReference, sinceMs: Int64) {
        self.envelope = envelope
        self.model = model
        self.sinceMs = sinceMs
    }

    enum CodingKeys: String, CodingKey { case name, version, sha256, sinceMs = "since_ms" }

    public init(from decoder: any Decoder) throws {
        envelope = try Envelope(from: decoder)
        let c = try decoder.container(keyedBy: CodingKeys.self)
        model = ModelReference(name: try c.decode(String.self, forKey: .name), version: try c.decode(String.self, forKey: .version),
                               sha256: try c.decode(String.self, forKey: .sha256))
        sinceMs = try c.decode(Int64.self, forKey: .sinceMs)
    }

    public func encode(to encoder: any Encoder) throws {
        try envelope.encode(to: encoder)
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(model.name, forKey: .name)
        try c.encode(model.version, forKey: .version)
        try c.encode(model.sha256, forKey: .sha256)
        try c.encode(sinceMs, forKey: .sinceMs)
    }
}

/// The answer to a command, on `<prefix>/<device>/reply/<name>` (or the MQTT 5 response topic).
public struct ReplyDocument: Sendable, Codable, Equatable {
    public var envelope: Envelope
    /// The command's `id`, as it came (string or number, kept as its JSON text's value).
    public var id: CommandID?
    public var command: String
    public var ok: Bool
    public var error: String?
    /// The command's result (JSON object), when ok.
    public var result: JSONValue?

    public init(envelope: Envelope, id: CommandID?, command: String, ok: Bool, error: String?, result: JSONValue?) {
        self.envelope = envelope
        self.id = id
        self.command = command
        self.ok = ok
        self.error = error
        self.result = result
    }

    enum CodingKeys: String, CodingKey { case id, command, ok, error, result }

    public init(from decoder: any Decoder) throws {
        envelope = try Envelope(from: decoder)
        let c = try decoder.container(keyedBy: CodingKeys.self)
        id = try c.decodeIfPresent(CommandID.self, forKey: .id)
        command = try c.decode(String.self, forKey: .command)
        ok = try c.decode(Bool.self, forKey: .ok)
        error = try c.decodeIfPresent(String.self, forKey: .error)
        result = try c.decodeIfPresent(JSONValue.self, forKey: .result)
    }

    public func encode(to encoder: any Encoder) throws {
        try envelope.encode(to: encoder)
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encodeIfPresent(id, forKey: .id)
        try c.encode(command, forKey: .command)
        try c.encode(ok, forKey: .ok)
        try c.encodeIfPresent(error, forKey: .error)
        try c.encodeIfPresent(result, forKey: .result)
    }
}

/// A command id: a string or an integer, echoed as it came.
public enum CommandID: Sendable, Codable, Equatable, CustomStringConvertible {
    case string(String)
    case number(Int64)

    public init(from decoder: any Decoder) throws {
        let c = try decoder.singleValueContainer()
        if let n = try? c.decode(Int64.self) { self = .number(n) } else { self = .string(try c.decode(String.self)) }
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        switch self {
        case let .string(s): try c.encode(s)
        case let .number(n): try c.encode(n)
        }
    }

    public var description: String {
        switch self {
        case let .string(s): s
        case let .number(n): String(n)
        }
    }
}

/// Any JSON value (command arguments and results).
public enum JSONValue: Sendable, Codable, Equatable {
    case null
    case bool(Bool)
    case number(Double)
    case string(String)
    case array([JSONValue])
    case object([String: JSONValue])

    public init(from decoder: any Decoder) throws {
        let c = try decoder.singleValueContainer()
        if c.decodeNil() { self = .null }
        else if let b = try? c.decode(Bool.self) { self = .bool(b) }
        else if let n = try? c.decode(Double.self) { self = .number(n) }
        else if let s = try? c.decode(String.self) { self = .string(s) }
        else if let a = try? c.decode([JSONValue].self) { self = .array(a) }
        else { self = .object(try c.decode([String: JSONValue].self)) }
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        switch self {
        case .null: try c.encodeNil()
        case let .bool(b): try c.encode(b)
        case let .number(n): try c.encode(n)
        case let .string(s): try c.encode(s)
        case let .array(a): try c.encode(a)
        case let .object(o): try c.encode(o)
        }
    }

    public subscript(key: String) -> JSONValue? {
        if case let .object(o) = self { return o[key] }
        return nil
    }

    public var number: Double? { if case let .number(n) = self { n } else { nil } }
    public var string: String? { if case let .string(s) = self { s } else { nil } }
    public var bool: Bool? { if case let .bool(b) = self { b } else { nil } }
}
