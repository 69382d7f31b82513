// Monitor → MetricStore: every closed window and every event becomes rows and outbox documents,
// committed in one transaction per window (never per frame) before anything publishes them.
import Documents
import MetricStore
import Monitor
import QuantMetrics

/// Records a monitor's windows and events in the store. Not thread-safe: the task that owns the
/// store calls it.
public final class MetricRecorder {
    public let store: MetricStore
    public let device: String
    public private(set) var model: ModelReference
    /// Undelivered documents the byte cap dropped so far (reported in an event document).
    public private(set) var droppedTotal = 0
    /// The store's own events (a cap drop, a recovery) to publish with the next batch. The store
    /// already wrote their event rows; they only need their outbox documents.
    private var carried: [MonitorEvent] = []

    public init(store: MetricStore, device: String, model: ModelReference) {
        self.store = store
        self.device = device
        self.model = model
        if let recovery = store.recovery { carried.append(Self.recoveryEvent(recovery, atMs: MetricStore.wallClockMilliseconds())) }
    }

    /// Records the model as installed and active (baseline stored when given).
    public func activate(model: ModelReference, path: String, atMs: Int64, baseline: Baseline? = nil) throws {
        self.model = model
        try store.upsertModel(sha256: model.sha256, name: model.name, version: model.version, path: path)
        try store.activateModel(sha256: model.sha256, atMs: atMs)
        if let baseline { try store.setBaseline(sha256: model.sha256, json: try DocumentCoding.encode(baseline)) }
    }

    /// The stored baseline of the active model, if any.
    public func storedBaseline() throws -> Baseline? {
        guard let json = try store.model(sha256: model.sha256)?.baselineJSON else { return nil }
        return try DocumentCoding.decode(Baseline.self, from: json)
    }

    /// Commits what the monitor produced since the last call: each window in its own transaction
    /// with the events that happened before its end; remaining events in one more. Persists the
    /// baseline when `baselineReady` is among the events.
    @discardableResult
    public func record(windows: [WindowSummary], events: [MonitorEvent], samples: [ShadowSample] = [],
                       baseline: Baseline?) throws -> [MetricStore.CommitResult] {
        var pendingEvents = events
        var pendingSamples = samples
        let storeEvents = carried
        carried = []
        var results: [MetricStore.CommitResult] = []
        if let baseline, events.contains(where: { $0.kind == .baselineReady }) {
            try store.setBaseline(sha256: model.sha256, json: try DocumentCoding.encode(baseline))
        }
        for window in windows {
            let mine = pendingEvents.filter { $0.tsMs <= window.endMs }
            pendingEvents.removeAll { $0.tsMs <= window.endMs }
            let kept = pendingSamples.filter { $0.tsMs <= window.endMs }
            pendingSamples.removeAll { $0.tsMs <= window.endMs }
            results.append(try commit(window: window, events: mine, samples: kept))
        }
        if !pendingEvents.isEmpty || !pendingSamples.isEmpty || !storeEvents.isEmpty {
            results.append(try commit(window: nil, events: pendingEvents, samples: pendingSamples, documentsOnly: storeEvents))
        }
        return results
    }

    private func commit(window: WindowSummary?, events: [MonitorEvent], samples: [ShadowSample],
                        documentsOnly: [MonitorEvent] = []) throws -> MetricStore.CommitResult {
        let device = device, model = model
        var documents: [MetricStore.Document] = []
        var rows: [MetricStore.EventRow] = []
        var windowRow: MetricStore.WindowRow?
        if let window {
            // The window row keeps the same document the outbox carries (its seq is the one the store
            // assigns first in this transaction: one writer, so nextSeq is exact).
            let text = try DocumentCoding.encode(MetricsDocument(
                envelope: Envelope(schema: DocumentSchema.metrics, device: device, seq: store.nextSeq, tsMs: window.endMs),
                model: model, window: window))
            windowRow = .init(startMs: window.startMs, endMs: window.endMs, modelSHA256: model.sha256, json: text)
            documents.append(.init(topic: "metrics", tsMs: window.endMs) { seq in
                try DocumentCoding.encode(MetricsDocument(envelope: Envelope(schema: DocumentSchema.metrics, device: device, seq: seq, tsMs: window.endMs),
                                                          model: model, window: window))
            })
        }
        for event in events + documentsOnly {
            if !documentsOnly.contains(event) {
                rows.append(.init(tsMs: event.tsMs, kind: event.kind.rawValue, json: try DocumentCoding.encode(event)))
            }
            documents.append(.init(topic: "events", tsMs: event.tsMs) { seq in
                try DocumentCoding.encode(EventDocument(envelope: Envelope(schema: DocumentSchema.events, device: device, seq: seq, tsMs: event.tsMs),
                                                        model: model, event: event))
            })
        }
        let sampleRows = try samples.map { MetricStore.SampleRow(tsMs: $0.tsMs, modelSHA256: model.sha256, json: try DocumentCoding.encode($0)) }
        let result = try store.commit(.init(window: windowRow, documents: documents, events: rows, shadowSamples: sampleRows))
        if let dropped = result.dropped {
            droppedTotal += dropped.count
            carried.append(MonitorEvent(kind: .bufferOverflow, tsMs: window?.endMs ?? MetricStore.wallClockMilliseconds(),
                                        cause: "buffer cap reached: dropped \(dropped.count) undelivered documents (seq \(dropped.firstSeq)…\(dropped.lastSeq))"))
        }
        if let recovery = result.recovery { carried.append(Self.recoveryEvent(recovery, atMs: MetricStore.wallClockMilliseconds())) }
        return result
    }

    static func recoveryEvent(_ recovery: MetricStore.Recovery, atMs: Int64) -> MonitorEvent {
        MonitorEvent(kind: .storeRecovered, tsMs: atMs, cause: "\(recovery)")
    }
}
