// The fields every published document carries (PRODUCT.md): device, ts, ts_ms, seq, schema.
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Schema identifiers, one per document kind; the number changes when a field changes meaning or
/// disappears (adding a field does not change it).
public enum DocumentSchema {
    public static let metrics = "quantwatch.metrics/1"
    public static let events = "quantwatch.events/1"
    public static let status = "quantwatch.status/1"
    public static let model = "quantwatch.model/1"
    public static let layers = "quantwatch.layers/1"
    public static let reply = "quantwatch.reply/1"
}

/// `device`, `seq`, `ts`, `ts_ms`, `schema`: a subscriber detects gaps and duplicates by `seq`
/// (per device, +1 per document, across restarts).
public struct Envelope: Sendable, Codable, Equatable {
    public var schema: String
    public var device: String
    public var seq: Int64
    /// RFC 3339 UTC with milliseconds, e.g. `2026-11-29T03:08:00.123Z`.
    public var ts: String
    /// Unix milliseconds.
    public var tsMs: Int64

    public init(schema: String, device: String, seq: Int64, tsMs: Int64) {
        self.schema = schema
        self.device = device
        self.seq = seq
        self.tsMs = tsMs
        ts = rfc3339(milliseconds: tsMs)
    }

    enum CodingKeys: String, CodingKey { case schema, device, seq, ts, tsMs = "ts_ms" }
}

/// The model a document is about.
public struct ModelReference: Sendable, Codable, Equatable {
    public var name: String
    public var version: String
    public var sha256: String

    public init(name: String, version: String, sha256: String) {
        self.name = name
        self.version = version
        self.sha256 = sha256
    }
}

/// `2026-11-29T03:08:00.123Z` for Unix milliseconds (UTC; no locale, no formatter object).
public func rfc3339(milliseconds ms: Int64) -> String {
    var seconds = time_t(ms >= 0 ? ms / 1000 : (ms - 999) / 1000)
    let millis = Int(ms - Int64(seconds) * 1000)
    var parts = tm()
    gmtime_r(&seconds, &parts)
    func pad(_ v: Int32, _ width: Int) -> String {
        let s = String(v)
        return String(repeating: "0", count: max(0, width - s.count)) + s
    }
    return "\(pad(parts.tm_year + 1900, 4))-\(pad(parts.tm_mon + 1, 2))-\(pad(parts.tm_mday, 2))T"
        + "\(pad(parts.tm_hour, 2)):\(pad(parts.tm_min, 2)):\(pad(parts.tm_sec, 2)).\(pad(Int32(millis), 3))Z"
}
