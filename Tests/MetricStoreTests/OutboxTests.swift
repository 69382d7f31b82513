import Foundation
import Testing
@testable import MetricStore

@Suite struct OutboxTests {
    @Test func eachDocumentGetsTheNextSeqAndItsPayloadCarriesIt() throws {
        let directory = try TemporaryDirectory()
        let store = try MetricStore(options: .init(path: directory.path("metrics.db")))
        #expect(try store.nextSeq == 1)
        let first = try store.commit(.window(0, documents: 3))
        let second = try store.commit(.window(1, documents: 2))
        #expect(first.seqs == 1..<4)
        #expect(second.seqs == 4..<6)
        let rows = try store.pending(limit: 10)
        #expect(rows.map(\.seq) == [1, 2, 3, 4, 5])
        for row in rows {
            #expect(row.payload.hasPrefix(#"{"seq":\#(row.seq),"#))
            #expect(row.topic == "metrics")
        }
        #expect(rows[0].windowID == first.windowID && rows[3].windowID == second.windowID)
        #expect(try store.nextSeq == 6)
    }

    @Test func seqContinuesAcrossCloseAndReopen() throws {
        let directory = try TemporaryDirectory()
        let path = directory.path("metrics.db")
        var store = try MetricStore(options: .init(path: path))
        try store.commit(.window(0, documents: 4))
        store.close()
        store = try MetricStore(options: .init(path: path))
        #expect(try store.commit(.window(1, documents: 2)).seqs == 5..<7)
        // A store released without close() (as after a crash) keeps its counter too.
        store = try MetricStore(options: .init(path: path))
        #expect(try store.commit(.window(2)).seqs == 7..<8)
    }

    @Test func seqIsNeverReusedAfterEveryRowWasDeliveredAndDeleted() throws {
        let directory = try TemporaryDirectory()
        let path = directory.path("metrics.db")
        var store = try MetricStore(options: .init(path: path))
        try store.commit(.window(0, documents: 5))
        #expect(try store.markDelivered(1...5) == 5)
        #expect(try store.pending(limit: 10).isEmpty)
        #expect(try store.commit(.window(1)).seqs == 6..<7)
        #expect(try store.markDelivered([6]) == 1)
        store.close()
        store = try MetricStore(options: .init(path: path))
        #expect(try store.stats().pendingRows == 0)
        #expect(try store.commit(.window(2)).seqs == 7..<8)
    }

    @Test func aThrowingPayloadStoresNothingOfTheBatchAndConsumesNoSeq() throws {
        struct Refused: Error {}
        let directory = try TemporaryDirectory()
        let store = try MetricStore(options: .init(path: directory.path("metrics.db")))
        try store.commit(.window(0))
        let before = try store.stats()

        var batch = MetricStore.Batch.window(1, documents: 2)
        batch.events = [.init(tsMs: 5, kind: "drift", json: "{}")]
        batch.shadowSamples = [.init(tsMs: 5, modelSHA256: "sha-a", json: "{}", data: [1, 2, 3])]
        batch.documents.append(MetricStore.Document(topic: "layers", tsMs: 5) { _ in throw Refused() })
        #expect(throws: Refused.self) { try store.commit(batch) }

        let after = try store.stats()
        #expect(after == before)
        #expect(after.windowRows == 1 && after.eventRows == 0 && after.sampleRows == 0 && after.pendingRows == 1)
        #expect(try store.commit(.window(2)).seqs == 2..<3, "the failed batch's seqs are given to the next one")
    }

    @Test func pendingIsOldestFirstLimitedAndPagesAfterASeq() throws {
        let directory = try TemporaryDirectory()
        let store = try MetricStore(options: .init(path: directory.path("metrics.db")))
        for index in 0..<5 { try store.commit(.window(index, documents: 2)) }
        #expect(try store.pending(limit: 3).map(\.seq) == [1, 2, 3])
        #expect(try store.pending(limit: 3, afterSeq: 3).map(\.seq) == [4, 5, 6])
        #expect(try store.pending(limit: 100, afterSeq: 8).map(\.seq) == [9, 10])
        #expect(try store.pending(limit: 0).isEmpty)
    }

    @Test func aRowLeavesTheOutboxOnlyWhenMarkedDelivered() throws {
        let directory = try TemporaryDirectory()
        let path = directory.path("metrics.db")
        var store = try MetricStore(options: .init(path: path))
        try store.commit(.window(0, documents: 6))
        _ = try store.pending(limit: 6)  // reading does not deliver
        #expect(try store.markDelivered([2, 4, 99]) == 2, "an unknown seq is ignored")
        #expect(try store.markDelivered([2]) == 0, "delivering twice is harmless")
        store = try MetricStore(options: .init(path: path))
        #expect(try store.pending(limit: 10).map(\.seq) == [1, 3, 5, 6])
        let stats = try store.stats()
        #expect(stats.pendingRows == 4 && stats.oldestPendingSeq == 1 && stats.nextSeq == 7)
    }

    @Test func windowsEventsAndSamplesAreStoredWithTheirCommitAndReadBackSince() throws {
        let directory = try TemporaryDirectory()
        let store = try MetricStore(options: .init(path: directory.path("metrics.db"), shadowSampleLimit: 3))
        for index in 0..<5 {
            var batch = MetricStore.Batch.window(index, at: 10_000 + Int64(index) * 1000)
            batch.events = [.init(tsMs: 10_000 + Int64(index) * 1000, kind: "drift", json: #"{"i":\#(index)}"#)]
            batch.shadowSamples = [.init(tsMs: Int64(index), modelSHA256: "sha-a", json: #"{"i":\#(index)}"#, data: [UInt8(index), 0, 255])]
            try store.commit(batch)
        }
        #expect(try store.windows(sinceMs: 12_000).map(\.json) == [#"{"window":3}"#, #"{"window":4}"#])
        #expect(try store.windows().count == 5)
        #expect(try store.events(sinceMs: 13_000).map(\.json) == [#"{"i":3}"#, #"{"i":4}"#])
        // The sample limit keeps the newest three.
        #expect(try store.sampleCount() == 3)
        #expect(try store.shadowSamples().map(\.json) == [#"{"i":2}"#, #"{"i":3}"#, #"{"i":4}"#])
        #expect(try store.shadowSamples().last?.data == [4, 0, 255])
    }

    @Test func aBatchWithoutDocumentsConsumesNoSeq() throws {
        let directory = try TemporaryDirectory()
        let store = try MetricStore(options: .init(path: directory.path("metrics.db")))
        let result = try store.commit(.init(events: [.init(tsMs: 1, kind: "model_installed", json: "{}")]))
        #expect(result.seqs.isEmpty && result.windowID == nil)
        #expect(try store.nextSeq == 1)
        #expect(try store.events().map(\.kind) == ["model_installed"])
    }

    @Test func modelsAreUpsertedActivatedAndKeepTheirBaselines() throws {
        let directory = try TemporaryDirectory()
        let clock = TestClock(1000)
        let path = directory.path("metrics.db")
        var store = try MetricStore(options: .init(path: path), now: clock.now)
        #expect(try store.activeModel() == nil)
        try store.upsertModel(sha256: "aaa", name: "digits", version: "1", path: "/m/a.onnx", activatedMs: 1000)
        clock.advance(500)
        try store.upsertModel(sha256: "bbb", name: "digits", version: "2", path: "/m/b.onnx", baselineJSON: #"{"sqnr":30}"#)
        #expect(try store.activeModel()?.sha256 == "aaa", "installing is not activating")
        try store.activateModel(sha256: "bbb")
        #expect(try store.activeModel()?.sha256 == "bbb")
        clock.advance(500)
        try store.setBaseline(sha256: "aaa", json: #"{"sqnr":31}"#)
        try store.upsertModel(sha256: "aaa", name: "digits", version: "1", path: "/m/moved.onnx")  // nil keeps the baseline
        #expect(throws: MetricStoreError.unknownModel(sha256: "ccc")) { try store.setBaseline(sha256: "ccc", json: "{}") }
        #expect(throws: MetricStoreError.unknownModel(sha256: "ccc")) { try store.activateModel(sha256: "ccc") }

        store = try MetricStore(options: .init(path: path), now: clock.now)
        let models = try store.models()
        #expect(models.map(\.sha256) == ["aaa", "bbb"])
        #expect(models[0].path == "/m/moved.onnx" && models[0].baselineJSON == #"{"sqnr":31}"# && models[0].baselineMs == 2000)
        #expect(models[0].installedMs == 1000 && models[0].activatedMs == 1000)
        #expect(models[1].baselineJSON == #"{"sqnr":30}"# && models[1].activatedMs == 1500)
        try store.activateModel(sha256: "aaa", atMs: 9000)  // a rollback
        #expect(try store.activeModel()?.version == "1")
    }
}
