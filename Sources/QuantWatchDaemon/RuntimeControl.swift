// What commands may change while the daemon runs, and what `status` reports. The inference loop
// applies pending changes between frames and posts its state here.
import Documents
import Monitor
import QuantMetrics

/// The daemon's state as the `status` command reports it.
public struct DeviceState: Sendable, Codable, Equatable {
    public var model: ModelReference?
    public var drift: DriftState = .ok
    public var detectors: [String: DriftState] = [:]
    public var baselineReady = false
    public var frames = 0
    public var shadowed = 0
    public var framesPerSecond: Double?
    public var shadow: ShadowPolicy?
    public var undelivered: Int?
    public var connected = false
    public var sinceMs: Int64?

    public init() {}

    enum CodingKeys: String, CodingKey {
        case model, drift, detectors, baselineReady = "baseline_ready", frames, shadowed, framesPerSecond = "fps", shadow
        case undelivered, connected, sinceMs = "since_ms"
    }
}

public actor RuntimeControl {
    public private(set) var state = DeviceState()
    public private(set) var shadowPolicy: ShadowPolicy
    private var policyChanged = false
    private var shadowNext = false

    /// Runtime settings the `config` command may change, and how.
    public static let settings = ["shadow.every_nth", "shadow.min_interval_s", "shadow.cpu_share", "shadow.warning_boost",
                                  "shadow.triggered", "shadow.trigger_jump", "shadow.trigger_interval_s"]

    public init(shadowPolicy: ShadowPolicy) { self.shadowPolicy = shadowPolicy }

    /// The inference loop posts its state (a few times a second).
    public func post(_ state: DeviceState) {
        var s = state
        s.shadow = shadowPolicy
        self.state = s
    }

    /// Changes since the last call, for the inference loop to apply before its next frame.
    public func takeChanges() -> (policy: ShadowPolicy?, shadowNext: Bool) {
        defer { policyChanged = false; shadowNext = false }
        return (policyChanged ? shadowPolicy : nil, shadowNext)
    }

    /// Sets the shadow policy (a configuration reload); the inference loop applies it.
    public func setShadowPolicy(_ policy: ShadowPolicy) throws(CommandFailure) { try setPolicy(policy) }

    func setPolicy(_ policy: ShadowPolicy) throws(CommandFailure) {
        do { try policy.validate() } catch { throw CommandFailure(error.message) }
        shadowPolicy = policy
        policyChanged = true
    }

    func requestShadowNext() { shadowNext = true }

    /// Sets one whitelisted runtime setting from a JSON value.
    func set(_ key: String, _ value: JSONValue) throws(CommandFailure) {
        var p = shadowPolicy
        try Self.apply(key, value, to: &p)
        try setPolicy(p)
    }

    /// Applies one whitelisted setting to a policy (not validated here).
    static func apply(_ key: String, _ value: JSONValue, to p: inout ShadowPolicy) throws(CommandFailure) {
        func number() throws(CommandFailure) -> Double {
            guard let n = value.number else { throw CommandFailure("\(key) must be a number; got \(value)") }
            return n
        }
        func integer() throws(CommandFailure) -> Int {
            let n = try number()
            guard n == n.rounded(), abs(n) < 1e9 else { throw CommandFailure("\(key) must be an integer; got \(n)") }
            return Int(n)
        }
        switch key {
        case "shadow.every_nth": p.everyNth = try integer()
        case "shadow.min_interval_s": p.minimumInterval = try number()
        case "shadow.cpu_share": p.cpuShare = try number()
        case "shadow.warning_boost": p.warningBoost = try integer()
        case "shadow.trigger_jump": p.triggerJump = try number()
        case "shadow.trigger_interval_s": p.triggerInterval = try number()
        case "shadow.triggered":
            guard let b = value.bool else { throw CommandFailure("\(key) must be true or false; got \(value)") }
            p.triggered = b
        default:
            throw CommandFailure("'\(key)' cannot be changed at run time; settable: \(Self.settings.joined(separator: ", ")) (others need the config file and a restart or SIGHUP)")
        }
    }

    /// Registers `ping`, `status`, `shadow` and `config`.
    public func register(on dispatcher: CommandDispatcher, clock: @escaping @Sendable () -> Int64) async {
        await dispatcher.register("ping") { _ in .object(["pong": .number(Double(clock()))]) }
        await dispatcher.register("status") { [self] _ in
            var s = await self.state
            s.shadow = await self.shadowPolicy
            return try JSONValue.encoding(s)
        }
        await dispatcher.register("shadow") { [self] request in
            // {"id":…, "next": true} shadows the next frame; {"id":…, "every_nth": N} (and the other
            // shadow.* keys without the prefix) set the rate.
            guard case let .object(fields) = request.body else { throw CommandFailure("expected a JSON object") }
            let keys = fields.keys.filter { $0 != "id" }
            guard !keys.isEmpty else { throw CommandFailure("nothing to do; give \"next\": true or a rate such as \"every_nth\": 5") }
            for key in keys.sorted() where key != "next" {
                guard RuntimeControl.settings.contains("shadow." + key) else {
                    throw CommandFailure("unknown shadow setting '\(key)'; expected next, " + RuntimeControl.settings.map { String($0.dropFirst(7)) }.joined(separator: ", "))
                }
            }
            // All or nothing: every key applied to a copy, validated, then set at once.
            var candidate = await self.shadowPolicy
            for key in keys.sorted() where key != "next" { try RuntimeControl.apply("shadow." + key, fields[key]!, to: &candidate) }
            if keys.contains(where: { $0 != "next" }) { try await self.setPolicy(candidate) }
            if let next = fields["next"] {
                guard next.bool != nil else { throw CommandFailure("next must be true or false") }
                if next.bool == true { await self.requestShadowNext() }
            }
            return try JSONValue.encoding(await self.shadowPolicy)
        }
        await dispatcher.register("config") { [self] request in
            // {"id":…, "key": "shadow.every_nth", "value": 5}
            guard let key = request.body["key"]?.string else { throw CommandFailure("missing \"key\"; settable: \(RuntimeControl.settings.joined(separator: ", "))") }
            guard let value = request.body["value"] else { throw CommandFailure("missing \"value\" for '\(key)'") }
            try await self.set(key, value)
            return .object(["key": .string(key), "value": value])
        }
    }
}

extension JSONValue {
    /// Any Encodable as a JSONValue (through its JSON text).
    public static func encoding<T: Encodable>(_ value: T) throws -> JSONValue {
        try DocumentCoding.decode(JSONValue.self, from: try DocumentCoding.encode(value))
    }
}
