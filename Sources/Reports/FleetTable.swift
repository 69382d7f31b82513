// `quantwatch watch`: one row per device from the documents on the fleet's topics.
import Documents
import Foundation
import Monitor
import QuantMetrics

/// The fleet as the documents describe it.
public struct FleetTable: Sendable {
    public struct Row: Sendable, Equatable {
        public var device: String
        public var group: String?
        public var status: String?
        public var model: ModelReference?
        public var framesPerSecond: Double?
        public var latencyP95: Double?
        public var top1Agree: Double?
        public var sqnrDb: Double?
        public var saturation: Double?
        public var drift: DriftState?
        public var lastSeenMs: Int64?
        /// Seqs skipped so far (a late arrival fills its gap again); duplicates seen.
        public var seqGaps = 0
        public var duplicates = 0
        /// The cause of the event that explains the row's drift state (or of the last event not about drift).
        public var lastEvent: String?
        var highestSeq: Int64?
        var missing: Set<Int64> = []
        var recent: Set<Int64> = []
    }

    public private(set) var rows: [String: Row] = [:]
    public let prefix: String
    public var deviceFilter: String?
    public var groupFilter: String?

    public init(prefix: String = "quantwatch", device: String? = nil, group: String? = nil) {
        self.prefix = prefix
        deviceFilter = device
        groupFilter = group
    }

    /// The device and document kind of a topic `<prefix>/<device>/<kind>`, nil for others (commands, groups).
    public func classify(_ topic: String) -> (device: String, kind: String)? {
        let parts = topic.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
        guard parts.count >= 3, parts[0] == prefix, parts[1] != "group", parts[2] != "cmd" else { return nil }
        if let deviceFilter, parts[1] != deviceFilter { return nil }
        return (parts[1], parts[2])
    }

    /// Takes one message; returns whether it was a device document. `retained` messages (the
    /// broker's stored state on subscribing) update the row but not the seq accounting.
    @discardableResult
    public mutating func ingest(topic: String, payload: [UInt8], retained: Bool, nowMs: Int64) -> Bool {
        guard let (device, kind) = classify(topic) else { return false }
        let text = String(decoding: payload, as: UTF8.self)
        guard let envelope = try? DocumentCoding.decode(Envelope.self, from: text) else { return false }
        var row = rows[device] ?? Row(device: device)
        row.lastSeenMs = max(row.lastSeenMs ?? 0, retained ? envelope.tsMs : nowMs)
        if !retained { account(seq: envelope.seq, in: &row) }
        switch kind {
        case "status":
            if let s = try? DocumentCoding.decode(StatusDocument.self, from: text) {
                row.status = s.status.rawValue
                row.group = s.group ?? row.group
                row.model = s.model ?? row.model
                if let d = s.drift { row.drift = d }
            }
        case "model":
            if let m = try? DocumentCoding.decode(ModelDocument.self, from: text) { row.model = m.model }
        case "metrics":
            if let m = try? DocumentCoding.decode(MetricsDocument.self, from: text) {
                let w = m.window
                row.model = m.model
                let seconds = Double(w.endMs - w.startMs) / 1000
                row.framesPerSecond = seconds > 0 ? Double(w.frames) / seconds : nil
                row.latencyP95 = w.latencyMs?.p95
                row.top1Agree = w.top1Agree ?? row.top1Agree
                row.sqnrDb = w.sqnrDb?.mean ?? row.sqnrDb
                row.saturation = w.saturation.max
                row.drift = w.drift.state
            }
        case "events":
            if let e = try? DocumentCoding.decode(EventDocument.self, from: text) {
                // A detector that moves while another holds the device's state (a second one rising to
                // warning during a drift, or one recovering while another still drifts) does not replace
                // the event that explains the state.
                let event = e.event
                if event.kind != .driftState || event.state == nil || event.to == event.state { row.lastEvent = event.cause }
                if let s = event.state { row.drift = s }
            }
        default:
            break
        }
        rows[device] = row
        return true
    }

    func account(seq: Int64, in row: inout Row) {
        if row.recent.contains(seq) {
            row.duplicates += 1
            return
        }
        row.recent.insert(seq)
        if row.recent.count > 8192, let low = row.recent.min() { row.recent.remove(low) }
        if let highest = row.highestSeq {
            if seq > highest + 1 {
                for s in (highest + 1)..<min(seq, highest + 1 + 100_000) { row.missing.insert(s) }
                row.seqGaps += Int(seq - highest - 1)
            } else if seq < highest, row.missing.remove(seq) != nil {
                row.seqGaps -= 1
            }
        }
        row.highestSeq = max(row.highestSeq ?? seq, seq)
    }

    /// What a log of the table must not miss: each shown row's status, drift state and event. A
    /// `watch` whose output is not a terminal prints the table whenever this changes.
    public var stateSnapshot: [String] {
        visibleRows.map { [$0.device, $0.status ?? "", $0.drift?.rawValue ?? "", $0.lastEvent ?? ""].joined(separator: "\u{1F}") }
    }

    /// The rows shown (group filter applied), sorted by device.
    public var visibleRows: [Row] {
        rows.values.filter { groupFilter == nil || $0.group == groupFilter }.sorted { $0.device < $1.device }
    }

    /// The table as text (one header, one line per device, then each device's last event).
    public func render(nowMs: Int64) -> String {
        var lines = [["DEVICE", "STATUS", "MODEL", "FPS", "P95 MS", "TOP1", "SQNR DB", "SAT", "DRIFT", "SEEN", "GAPS"]]
        for r in visibleRows {
            let seen = r.lastSeenMs.map { age(nowMs - $0) } ?? "–"
            lines.append([r.device, r.status ?? "–", r.model.map { "\($0.name) \($0.version)" } ?? "–",
                          r.framesPerSecond.map { String(format: "%.1f", $0) } ?? "–", r.latencyP95.map { String(format: "%.2f", $0) } ?? "–",
                          r.top1Agree.map { String(format: "%.3f", $0) } ?? "–", r.sqnrDb.map { String(format: "%.1f", $0) } ?? "–",
                          r.saturation.map { String(format: "%.1f%%", $0 * 100) } ?? "–", r.drift?.rawValue ?? "–", seen,
                          r.seqGaps == 0 ? "0" : "\(r.seqGaps)"])
        }
        let widths = lines[0].indices.map { c in lines.map { $0[c].count }.max()! }
        var out = lines.map { l in l.enumerated().map { $1.padding(toLength: widths[$0], withPad: " ", startingAt: 0) }.joined(separator: "  ") }
            .joined(separator: "\n") + "\n"
        if visibleRows.isEmpty { out += "(no device has published yet)\n" }
        for r in visibleRows { if let e = r.lastEvent { out += "\(r.device): \(e)\n" } }
        return out
    }

    func age(_ ms: Int64) -> String {
        if ms < 2000 { return "now" }
        if ms < 120_000 { return "\(ms / 1000)s ago" }
        if ms < 7_200_000 { return "\(ms / 60000)m ago" }
        return "\(ms / 3_600_000)h ago"
    }
}
