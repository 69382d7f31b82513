// The store-and-forward buffer as the daemon's tasks share it: one actor owns the MetricStore (which
// is not Sendable) and the recorder; the inference loop records into it, the publisher drains it.
import Documents
import MetricStore
import Monitor
import QuantMetrics

public actor MetricBuffer {
    let store: MetricStore
    public let recorder: MetricRecorder
    private var waiters: [CheckedContinuation<Void, Never>] = []
    private var isClosed = false

    /// After `close()` every call throws this instead of touching the closed store.
    public struct Closed: Error, CustomStringConvertible {
        public var description: String { "the metric buffer is closed (the daemon is stopping)" }
    }

    private func open() throws -> MetricStore {
        guard !isClosed else { throw Closed() }
        return store
    }
    private var version = 0

    /// Opens (or creates) the store at `options.path`.
    public init(options: MetricStore.Options, device: String, model: ModelReference) throws {
        let store = try MetricStore(options: options)
        self.store = store
        recorder = MetricRecorder(store: store, device: device, model: model)
    }

    /// What the store moved aside when it opened, if anything.
    public var recovery: MetricStore.Recovery? { store.recovery }

    public func activate(model: ModelReference, path: String, atMs: Int64, baseline: Baseline? = nil) throws {
        guard !isClosed else { throw Closed() }
        try recorder.activate(model: model, path: path, atMs: atMs, baseline: baseline)
    }

    public func storedBaseline() throws -> Baseline? { _ = try open(); return try recorder.storedBaseline() }

    /// The store's active model, as documents name it.
    public func activeModel() throws -> ModelReference? {
        try open().activeModel().map { ModelReference(name: $0.name, version: $0.version, sha256: $0.sha256) }
    }

    /// Commits a monitor's output (one transaction per window) and wakes the publisher.
    @discardableResult
    public func record(windows: [WindowSummary], events: [MonitorEvent], samples: [ShadowSample] = [], baseline: Baseline?) throws -> [MetricStore.CommitResult] {
        guard !isClosed else { throw Closed() }
        let results = try recorder.record(windows: windows, events: events, samples: samples, baseline: baseline)
        if !results.isEmpty { changed() }
        return results
    }

    /// Commits one document of `topic` (status, model, reply/<name>, …) built with its seq; wakes the
    /// publisher unless `notify` is false (the caller sends it itself). Returns the seq and the text.
    @discardableResult
    public func enqueue(topic: String, tsMs: Int64, notify: Bool = true, payload: @escaping @Sendable (Int64) throws -> String) throws -> (seq: Int64, text: String) {
        var text = ""
        let result = try open().commit(.init(documents: [.init(topic: topic, tsMs: tsMs) { seq in
            text = try payload(seq)
            return text
        }]))
        if notify { changed() }
        return (result.seqs.lowerBound, text)
    }

    /// Reserves a seq for a document that is published by other means (the Last Will, which the
    /// broker publishes): committed and at once marked delivered, so it is never sent twice by us
    /// and never reused.
    public func reserve(topic: String, tsMs: Int64, payload: @escaping @Sendable (Int64) throws -> String) throws -> (seq: Int64, text: String) {
        let (seq, text) = try enqueue(topic: topic, tsMs: tsMs, notify: false, payload: payload)
        try open().markDelivered([seq])
        return (seq, text)
    }

    public func pending(limit: Int, afterSeq: Int64) throws -> [MetricStore.OutboxRow] {
        try open().pending(limit: limit, afterSeq: afterSeq)
    }

    @discardableResult
    public func markDelivered(_ seqs: [Int64]) throws -> Int { try open().markDelivered(seqs) }

    public func stats() throws -> MetricStore.Stats { try open().stats() }

    /// Closes the store (checkpoint). Call once, at shutdown.
    public func close() {
        guard !isClosed else { return }
        isClosed = true
        store.close()
        changed()
    }

    /// Suspends until something is committed after `seen` (returns the new change count at once
    /// when that already happened).
    public func waitForChange(after seen: Int) async -> Int {
        if version > seen { return version }
        await withCheckedContinuation { waiters.append($0) }
        return version
    }

    public var changeCount: Int { version }

    /// Wakes waiters (also used to stop them at shutdown).
    public func changed() {
        version += 1
        let woken = waiters
        waiters.removeAll()
        for w in woken { w.resume() }
    }
}
