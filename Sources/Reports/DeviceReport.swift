// What a device's buffer holds, for `quantwatch report`: windows over time, drift states, events,
// models. Built from the store's rows by the CLI; rendered here as a table, JSON or one HTML file.
import Documents
import Foundation
import QuantMetrics

/// One event as the report shows it (monitoring events, and the store's and installer's own).
public struct ReportEvent: Sendable, Codable, Equatable {
    public var tsMs: Int64
    public var kind: String
    /// The event's `cause` when it has one, else its JSON.
    public var text: String

    public init(tsMs: Int64, kind: String, text: String) {
        self.tsMs = tsMs
        self.kind = kind
        self.text = text
    }

    enum CodingKeys: String, CodingKey { case tsMs = "ts_ms", kind, text }
}

/// A model the device ran.
public struct ReportModel: Sendable, Codable, Equatable {
    public var name: String
    public var version: String
    public var sha256: String
    /// When it became active (Unix ms), if known.
    public var activatedMs: Int64?
    public var hasBaseline: Bool

    public init(name: String, version: String, sha256: String, activatedMs: Int64?, hasBaseline: Bool) {
        self.name = name
        self.version = version
        self.sha256 = sha256
        self.activatedMs = activatedMs
        self.hasBaseline = hasBaseline
    }

    enum CodingKeys: String, CodingKey { case name, version, sha256, activatedMs = "activated_ms", hasBaseline = "has_baseline" }
}

/// Everything the report shows.
public struct DeviceReport: Sendable, Codable, Equatable {
    public var source: String
    public var device: String?
    public var since: Int64?
    public var windows: [MetricsDocument]
    public var events: [ReportEvent]
    public var models: [ReportModel]
    /// Documents waiting for the broker (undelivered outbox rows).
    public var pending: Int?

    public init(source: String, device: String?, since: Int64?, windows: [MetricsDocument], events: [ReportEvent],
                models: [ReportModel], pending: Int?) {
        self.source = source
        self.device = device ?? windows.first?.envelope.device
        self.since = since
        self.windows = windows.sorted { $0.window.startMs < $1.window.startMs }
        self.events = events.sorted { $0.tsMs < $1.tsMs }
        self.models = models
        self.pending = pending
    }

    /// A drift-state interval: consecutive windows in the same state.
    public struct StateSpan: Sendable, Equatable {
        public var startMs: Int64, endMs: Int64
        public var state: DriftState
    }

    /// Windows merged into spans of equal drift state.
    public var stateSpans: [StateSpan] {
        var spans: [StateSpan] = []
        for w in windows {
            let s = w.window.drift.state
            if var last = spans.last, last.state == s, w.window.startMs <= last.endMs + 1 {
                last.endMs = w.window.endMs
                spans[spans.count - 1] = last
            } else {
                spans.append(StateSpan(startMs: w.window.startMs, endMs: w.window.endMs, state: s))
            }
        }
        return spans
    }

    /// Where the active model changed between consecutive windows: (time, the new model).
    public var modelSwitches: [(tsMs: Int64, model: ModelReference)] {
        var result: [(Int64, ModelReference)] = []
        for (a, b) in zip(windows, windows.dropFirst()) where a.model.sha256 != b.model.sha256 {
            result.append((b.window.startMs, b.model))
        }
        return result
    }

    /// Reads one stored event's JSON: its `kind` and `cause` when present.
    public static func event(tsMs: Int64, kind: String, json: String) -> ReportEvent {
        let object = (try? JSONSerialization.jsonObject(with: Data(json.utf8))) as? [String: Any]
        let text = (object?["cause"] as? String) ?? (object?["message"] as? String) ?? json
        return ReportEvent(tsMs: tsMs, kind: (object?["kind"] as? String) ?? kind, text: text)
    }
}
