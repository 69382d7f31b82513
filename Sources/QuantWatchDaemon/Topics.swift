// The MQTT topic tree of PRODUCT.md (prefix configurable, default `quantwatch`).

/// Topic names for one device.
public struct TopicTree: Sendable, Equatable {
    public var prefix: String
    public var device: String
    public var group: String?

    public init(prefix: String = "quantwatch", device: String, group: String? = nil) {
        self.prefix = prefix
        self.device = device
        self.group = group
    }

    /// `<prefix>/<device>/<suffix>`: status, metrics, layers, events, model, reply/<name>.
    public func device(_ suffix: String) -> String { "\(prefix)/\(device)/\(suffix)" }
    public var status: String { device("status") }
    public var model: String { device("model") }
    /// The command subscriptions: this device's and its group's.
    public var commandFilters: [String] {
        [device("cmd/+")] + (group.map { ["\(prefix)/group/\($0)/cmd/+"] } ?? [])
    }
    public func reply(_ name: String) -> String { device("reply/\(name)") }

    /// Retained topics (the latest state is what a new subscriber needs): status and model.
    public static func isRetained(suffix: String) -> Bool { suffix == "status" || suffix == "model" }

    /// The command name of a command topic of this device or its group, nil for any other topic.
    public func commandName(of topic: String) -> String? {
        for filter in commandFilters {
            let base = String(filter.dropLast(1))   // "…/cmd/"
            if topic.hasPrefix(base) {
                let name = String(topic.dropFirst(base.count))
                return name.isEmpty || name.contains("/") ? nil : name
            }
        }
        return nil
    }

    /// MQTT topic matching: `+` one level, `#` the rest (at the end).
    public static func matches(filter: String, topic: String) -> Bool {
        let f = filter.split(separator: "/", omittingEmptySubsequences: false), t = topic.split(separator: "/", omittingEmptySubsequences: false)
        for (i, level) in f.enumerated() {
            if level == "#" { return true }
            guard i < t.count, level == "+" || level == t[i] else { return false }
        }
        return f.count == t.count
    }

    /// Checks a device id or group name: no MQTT wildcards, no '/', not empty.
    public static func validate(name: String, what: String) throws(DaemonError) {
        guard !name.isEmpty, !name.contains(where: { "/+#".contains($0) }), name.utf8.count <= 128 else {
            throw DaemonError("\(what) '\(name)' cannot be used in an MQTT topic; expected 1–128 characters without '/', '+' or '#'")
        }
    }
}

/// An error of the daemon's own (configuration, wiring), naming what is wrong and what was expected.
public struct DaemonError: Error, Sendable, Equatable, CustomStringConvertible {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}
