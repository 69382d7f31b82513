import Monitor
import QuantMetrics

/// One `metrics` document: the envelope, the model, and one window's aggregates at the top level
/// (so Telegraf's json parser makes `latency_ms_p95`, not `window_latency_ms_p95`). `health` is the
/// board's state during the window, when the daemon measured it. docs/documents.md lists every field.
public struct MetricsDocument: Sendable, Codable, Equatable {
    public var envelope: Envelope
    public var model: ModelReference
    public var window: WindowSummary
    public var health: BoardHealth?

    public init(envelope: Envelope, model: ModelReference, window: WindowSummary, health: BoardHealth? = nil) {
        self.envelope = envelope
        self.model = model
        self.window = window
        self.health = health
    }

    enum CodingKeys: String, CodingKey { case model, health }

    public init(from decoder: any Decoder) throws {
        envelope = try Envelope(from: decoder)
        window = try WindowSummary(from: decoder)
        let c = try decoder.container(keyedBy: CodingKeys.self)
        model = try c.decode(ModelReference.self, forKey: .model)
        health = try c.decodeIfPresent(BoardHealth.self, forKey: .health)
    }

    public func encode(to encoder: any Encoder) throws {
        try envelope.encode(to: encoder)
        try window.encode(to: encoder)
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(model, forKey: .model)
        try c.encodeIfPresent(health, forKey: .health)
    }
}

/// One `events` document: a monitoring event (or a store / model event) with its envelope.
public struct EventDocument: Sendable, Codable, Equatable {
    public var envelope: Envelope
    public var model: ModelReference?
    public var event: MonitorEvent

    public init(envelope: Envelope, model: ModelReference?, event: MonitorEvent) {
        self.envelope = envelope
        self.model = model
        self.event = event
    }

    enum CodingKeys: String, CodingKey { case model }

    public init(from decoder: any Decoder) throws {
        envelope = try Envelope(from: decoder)
        event = try MonitorEvent(from: decoder)
        model = try decoder.container(keyedBy: CodingKeys.self).decodeIfPresent(ModelReference.self, forKey: .model)
    }

    public func encode(to encoder: any Encoder) throws {
        try envelope.encode(to: encoder)
        try event.encode(to: encoder)
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encodeIfPresent(model, forKey: .model)
    }
}

/// The board's health over a window (PRODUCT.md): what changes the meaning of the metrics.
public struct BoardHealth: Sendable, Codable, Equatable {
    /// CPU temperature, °C (the hottest CPU thermal zone), when readable.
    public var cpuTempC: Double?
    /// Current CPU frequency, MHz (cpu0), when readable.
    public var cpuFreqMhz: Double?
    /// Raspberry Pi throttle flags, when the board has them: now and since boot.
    public var throttled: Throttle?
    /// Resident set of the daemon, bytes, and its CPU time over the window, seconds.
    public var rssBytes: Int64?
    public var cpuSeconds: Double?

    public init() {}

    public struct Throttle: Sendable, Codable, Equatable {
        public var underVoltage: Bool
        public var frequencyCapped: Bool
        public var throttled: Bool
        public var softTempLimit: Bool
        public var underVoltageSinceBoot: Bool
        public var frequencyCappedSinceBoot: Bool
        public var throttledSinceBoot: Bool
        public var softTempLimitSinceBoot: Bool

        /// Decodes the firmware's bit field (get_throttled).
        public init(bits: UInt32) {
            underVoltage = bits & 0x1 != 0
            frequencyCapped = bits & 0x2 != 0
            throttled = bits & 0x4 != 0
            softTempLimit = bits & 0x8 != 0
            underVoltageSinceBoot = bits & 0x10000 != 0
            frequencyCappedSinceBoot = bits & 0x20000 != 0
            throttledSinceBoot = bits & 0x40000 != 0
            softTempLimitSinceBoot = bits & 0x80000 != 0
        }

        enum CodingKeys: String, CodingKey {
            case underVoltage = "under_voltage", frequencyCapped = "frequency_capped", throttled, softTempLimit = "soft_temp_limit"
            case underVoltageSinceBoot = "under_voltage_since_boot", frequencyCappedSinceBoot = "frequency_capped_since_boot"
            case throttledSinceBoot = "throttled_since_boot", softTempLimitSinceBoot = "soft_temp_limit_since_boot"
        }
    }

    enum CodingKeys: String, CodingKey {
        case cpuTempC = "cpu_temp_c", cpuFreqMhz = "cpu_freq_mhz", throttled, rssBytes = "rss_bytes", cpuSeconds = "cpu_seconds"
    }
}
