import Documents
import Foundation
import MetricStore
import Monitor
import QuantMetrics
import QuantWatchDaemon
import Testing

@Suite struct MetricRecorderTests {
    func window(_ i: Int) -> WindowSummary {
        var w = WindowSummary(startMs: Int64(i) * 10_000, endMs: Int64(i + 1) * 10_000, frames: 100, shadowed: .init(uniform: 10, triggered: 0),
                              drift: DriftSummary(state: .ok, detectors: [:], baselineReady: true))
        // Big enough documents that a small cap fills quickly.
        w.saturation = .init(max: 0.1, frameMax: 0.2, top: Dictionary(uniqueKeysWithValues: (0..<40).map { ("/layer\($0)/a_rather_long_tensor_name_quantized", Double($0)) }))
        return w
    }

    func withStore(byteCap: Int64, _ body: (MetricStore, URL) throws -> Void) throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("qw-recorder-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let store = try MetricStore(options: .init(path: dir.appendingPathComponent("m.db").path, byteCap: byteCap))
        defer { store.close() }
        try body(store, dir)
    }

    @Test func eachWindowIsOneCommitWithItsDocumentAndEvents() throws {
        try withStore(byteCap: 64 << 20) { store, _ in
            let model = ModelReference(name: "m", version: "1", sha256: "abc")
            let recorder = MetricRecorder(store: store, device: "d1", model: model)
            try recorder.activate(model: model, path: "/models/m.onnx", atMs: 0)
            let event = MonitorEvent(kind: .driftState, tsMs: 15_000, detector: .sqnrDb, from: .ok, to: .warning, state: .warning, cause: "sqnr_db fell")
            let results = try recorder.record(windows: [window(0), window(1)], events: [event], baseline: nil)
            #expect(results.count == 2)
            #expect(results[0].seqs == 1..<2)          // window 0: its metrics document
            #expect(results[1].seqs == 2..<4)          // window 1: metrics + the event before its end
            let pending = try store.pending(limit: 10)
            #expect(pending.map(\.topic) == ["metrics", "metrics", "events"])
            let doc = try DocumentCoding.decode(MetricsDocument.self, from: pending[1].payload)
            #expect(doc.envelope.seq == 2 && doc.envelope.device == "d1" && doc.model == model)
            // The stored window row is the same document as the outbox's.
            #expect(try store.windows().map(\.json) == [pending[0].payload, pending[1].payload])
            #expect(try store.events().map(\.kind) == ["drift_state"])
        }
    }

    @Test func baselineIsPersistedWithTheModelAndReadBack() throws {
        try withStore(byteCap: 64 << 20) { store, _ in
            let model = ModelReference(name: "m", version: "1", sha256: "abc")
            let recorder = MetricRecorder(store: store, device: "d1", model: model)
            try recorder.activate(model: model, path: "/m.onnx", atMs: 0)
            var baseline = Baseline()
            baseline.sqnrDb.add(40)
            baseline.sqnrDb.add(44)
            try recorder.record(windows: [], events: [MonitorEvent(kind: .baselineReady, tsMs: 1, cause: "ready")], baseline: baseline)
            let stored = try #require(try recorder.storedBaseline())
            #expect(stored.sqnrDb.count == 2 && stored.sqnrDb.mean == 42)
            #expect(abs(stored.sqnrDb.standardDeviation - baseline.sqnrDb.standardDeviation) < 1e-12)
        }
    }

    @Test func capDropsArePublishedOnceAsAnEventDocument() throws {
        try withStore(byteCap: 256 << 10) { store, _ in
            let model = ModelReference(name: "m", version: "1", sha256: "abc")
            let recorder = MetricRecorder(store: store, device: "d1", model: model)
            try recorder.activate(model: model, path: "/m.onnx", atMs: 0)
            for i in 0..<400 { try recorder.record(windows: [window(i)], events: [], baseline: nil) }
            #expect(recorder.droppedTotal > 0)
            let overflowDocuments = try store.pending(limit: 100_000).filter { $0.topic == "events" && $0.payload.contains("buffer_overflow") }
            #expect(!overflowDocuments.isEmpty)
            // The store wrote each overflow's event row itself; the recorder adds no duplicate rows.
            let rows = try store.events().filter { $0.kind == "buffer_overflow" }
            #expect(rows.count <= overflowDocuments.count + 1)
            #expect(try store.stats().fileBytes <= (256 << 10) + 64 << 10)
        }
    }
}
