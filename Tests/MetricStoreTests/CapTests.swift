import Foundation
import Testing
@testable import MetricStore

@Suite struct CapTests {
    /// Writes 16× the cap through a real file, nothing delivered, and checks the file after every commit.
    @Test func theFileNeverGrowsPastTheCapPlusOneWindowWhileFarMoreIsWritten() throws {
        let directory = try TemporaryDirectory()
        let path = directory.path("metrics.db")
        let cap: Int64 = 1 << 20, walLimit: Int64 = 256 << 10
        let store = try MetricStore(options: .init(path: path, byteCap: cap, walByteLimit: walLimit, synchronous: .normal))
        let documents = 4, payloadBytes = 1500
        let windowBytes = Int64(documents * payloadBytes)  // what one commit adds, before page overheads
        var written: Int64 = 0, committed = 0, dropped = 0
        var largestFile: Int64 = 0, largestWAL: Int64 = 0, lastDrop: MetricStore.Dropped?
        var index = 0
        while written < 16 * cap {
            let result = try store.commit(.window(index, documents: documents, payloadBytes: payloadBytes))
            index += 1
            written += windowBytes
            committed += documents
            if let drop = result.dropped {
                if let lastDrop { #expect(drop.firstSeq > lastDrop.lastSeq, "drops move forward, oldest first") }
                dropped += drop.count
                lastDrop = drop
            }
            largestFile = max(largestFile, fileBytes(path))
            largestWAL = max(largestWAL, fileBytes(path + "-wal"))
            #expect(try store.usedBytes() <= cap)
        }
        // One window is at most 6 pages here (4 rows of 1.5 KB, 2 per leaf, plus interior and pointer-map pages).
        #expect(largestFile <= cap + 6 * 4096, "largest file \(largestFile) for a cap of \(cap)")
        #expect(largestWAL <= walLimit + 4 * windowBytes + 8 * 4096, "largest WAL \(largestWAL)")

        let stats = try store.stats()
        #expect(stats.pendingRows + dropped == committed)
        #expect(stats.droppedUndeliveredTotal == Int64(dropped))
        #expect(dropped > committed / 2)
        // The newest documents survive, contiguous up to the last seq; everything older was dropped.
        let pending = try store.pending(limit: committed)
        #expect(pending.last?.seq == Int64(committed))
        #expect(pending.first?.seq == lastDrop!.lastSeq + 1)
        #expect(zip(pending, pending.dropFirst()).allSatisfy { $0.seq + 1 == $1.seq })
        print("cap test: wrote \(written) bytes in \(index) windows for a cap of \(cap): largest file \(largestFile), "
            + "largest WAL \(largestWAL), \(dropped) of \(committed) documents dropped, \(stats.pendingRows) kept")
    }

    @Test func historyIsDroppedBeforeAnyUndeliveredDocument() throws {
        let directory = try TemporaryDirectory()
        let store = try MetricStore(options: .init(path: directory.path("metrics.db"), byteCap: 256 << 10, synchronous: .normal))
        var index = 0
        var firstDrop: MetricStore.CommitResult?
        var historyDropped = 0
        while firstDrop == nil {
            var batch = MetricStore.Batch.window(index, payloadBytes: 800)
            batch.window!.json = String(repeating: "w", count: 800)  // the history is as big as the outbox
            batch.events = [.init(tsMs: Int64(index), kind: "drift", json: String(repeating: "e", count: 200))]
            let result = try store.commit(batch)
            index += 1
            historyDropped += result.historyRowsDropped
            if result.dropped != nil { firstDrop = result }
        }
        #expect(historyDropped > 0)
        // When the first undelivered document goes, no history older than the commit is left:
        // only its window and event and the overflow event.
        let windows = try store.windows()
        #expect(windows.count == 1 && windows[0].id == firstDrop!.windowID)
        #expect(try store.events().map(\.kind) == ["drift", "buffer_overflow"])
        #expect(try store.stats().droppedHistoryTotal == Int64(historyDropped))
    }

    @Test func droppingUndeliveredDocumentsWritesAnOverflowEventWithTheCountAndRange() throws {
        let directory = try TemporaryDirectory()
        let clock = TestClock(7_000)
        let store = try MetricStore(options: .init(path: directory.path("metrics.db"), byteCap: 128 << 10, synchronous: .normal), now: clock.now)
        var result = try store.commit(.window(0, documents: 1, payloadBytes: 500))
        var index = 1
        while result.dropped == nil {
            result = try store.commit(.init(documents: (0..<4).map { _ in
                MetricStore.Document(topic: "metrics", tsMs: 1) { seq in "\(seq)" + String(repeating: "x", count: 2000) }
            }))
            index += 1
        }
        let dropped = try #require(result.dropped)
        #expect(dropped.firstSeq == 1, "the oldest document goes first")
        #expect(dropped.count == Int(dropped.lastSeq - dropped.firstSeq + 1))
        #expect(result.seqs.lowerBound > dropped.lastSeq, "the commit's own documents are kept")
        let event = try #require(try store.events().last)
        #expect(event.kind == "buffer_overflow" && event.tsMs == 7_000)
        #expect(event.json == #"{"count":\#(dropped.count),"first_seq":1,"last_seq":\#(dropped.lastSeq),"cap_bytes":131072}"#)
        #expect(try store.pending(limit: 1).first?.seq == dropped.lastSeq + 1)
    }

    @Test func deliveredRowsFreeTheirSpaceForReuseSoNothingIsDropped() throws {
        let directory = try TemporaryDirectory()
        let path = directory.path("metrics.db")
        let cap: Int64 = 256 << 10
        let store = try MetricStore(options: .init(path: path, byteCap: cap, synchronous: .normal))
        // A publisher keeping up: 4 MiB written, each window delivered after the next is committed.
        for index in 0..<1000 {
            let result = try store.commit(.window(index, documents: 2, payloadBytes: 2000))
            #expect(result.dropped == nil)
            if index > 0 { try store.markDelivered(result.seqs.map { $0 - 2 }) }
        }
        #expect(try store.stats().droppedUndeliveredTotal == 0)
        #expect(fileBytes(path) <= cap + 8 * 4096)
    }

    @Test func loweringTheCapDropsTheOldestAtOpenAndShrinksTheFile() throws {
        let directory = try TemporaryDirectory()
        let path = directory.path("metrics.db")
        var store = try MetricStore(options: .init(path: path, synchronous: .normal))
        for index in 0..<300 { try store.commit(.window(index, documents: 2, payloadBytes: 2000)) }
        store.close()
        #expect(fileBytes(path) > 1 << 20)

        store = try MetricStore(options: .init(path: path, byteCap: 256 << 10))
        let dropped = try #require(store.droppedAtOpen)
        #expect(dropped.firstSeq == 1 && dropped.count > 400)
        store.close()
        #expect(fileBytes(path) <= 256 << 10)
        #expect(try store.pendingAfterReopen(path).first == dropped.lastSeq + 1)
    }
}

extension MetricStore {
    fileprivate func pendingAfterReopen(_ path: String) throws -> [Int64] {
        try MetricStore(options: .init(path: path, byteCap: 256 << 10)).pending(limit: 1).map(\.seq)
    }
}
