import Foundation
import Testing
@testable import MetricStore

@Suite struct RecoveryTests {
    static let stamp = "20261118T110640Z"  // TestClock's default time, 1_795_000_000_000 ms

    /// A closed store of 300 windows (600 documents of 2 KB, about 1.3 MB) at `path`.
    func filledStore(_ path: String) throws {
        let store = try MetricStore(options: .init(path: path, synchronous: .normal))
        for index in 0..<300 { try store.commit(.window(index, documents: 2, payloadBytes: 2000)) }
        store.close()
    }

    /// The checks every recovery must pass: the old files moved under the timestamped name, a
    /// working new file at the path, a `store_recovered` event, and a seq that is not reused.
    func expectRecovered(_ store: MetricStore, _ recovery: MetricStore.Recovery, reason: MetricStore.Recovery.Reason,
                         directory: TemporaryDirectory, previousNextSeq: Int64) throws {
        #expect(recovery.reason == reason, "\(recovery)")
        #expect(recovery.path == directory.path("metrics.db"))
        #expect(recovery.movedTo == directory.path("metrics.db.corrupt-\(Self.stamp)"))
        #expect(recovery.movedFiles.first == recovery.movedTo)
        for file in recovery.movedFiles { #expect(FileManager.default.fileExists(atPath: file)) }
        #expect(recovery.nextSeq >= previousNextSeq, "a seq already issued is never issued again")
        #expect(try store.nextSeq == recovery.nextSeq)
        let event = try #require(try store.events().first)
        #expect(event.kind == "store_recovered")
        #expect(event.json.contains(#""moved_to":"\#(recovery.movedTo)""#) && event.json.contains(#""reason":"\#(reason.rawValue)""#))
        // The caller keeps running on the new file.
        let result = try store.commit(.window(1000))
        #expect(result.seqs.lowerBound == recovery.nextSeq)
        #expect(try store.connection.texts("PRAGMA integrity_check") == ["ok"])
    }

    @Test func garbageBytesAreMovedAsideAndANewFileStarted() throws {
        let directory = try TemporaryDirectory()
        let path = directory.path("metrics.db")
        let garbage = randomBytes(64 << 10, seed: 1)
        try Data(garbage).write(to: URL(fileURLWithPath: path))
        let store = try MetricStore(options: .init(path: path), now: TestClock().now)
        let recovery = try #require(store.recovery)
        try expectRecovered(store, recovery, reason: .notADatabase, directory: directory, previousNextSeq: 1)
        #expect(try Data(contentsOf: URL(fileURLWithPath: recovery.movedTo)) == Data(garbage), "the old file is kept as it was")
        #expect(!recovery.seqSalvaged && recovery.nextSeq == 1_795_000_000_000, "an unreadable counter restarts from the clock")
        #expect(recovery.sqliteCode == 26)  // SQLITE_NOTADB
    }

    @Test func aTruncatedFileIsMovedAsideAndItsSeqCounterContinues() throws {
        let directory = try TemporaryDirectory()
        let path = directory.path("metrics.db")
        try filledStore(path)
        let size = fileBytes(path)
        try FileHandle(forUpdating: URL(fileURLWithPath: path)).truncate(atOffset: UInt64(size / 2))
        let store = try MetricStore(options: .init(path: path), now: TestClock().now)
        let recovery = try #require(store.recovery)
        try expectRecovered(store, recovery, reason: .corrupt, directory: directory, previousNextSeq: 601)
        #expect(recovery.seqSalvaged && recovery.nextSeq == 601)
    }

    @Test func aFileOverwrittenMidFileFailsQuickCheckAndIsMovedAside() throws {
        let directory = try TemporaryDirectory()
        let path = directory.path("metrics.db")
        try filledStore(path)
        let middle = UInt64(fileBytes(path) / 2 / 4096 * 4096)
        try overwrite(path, at: middle, with: randomBytes(3 * 4096, seed: 2))
        let store = try MetricStore(options: .init(path: path), now: TestClock().now)
        let recovery = try #require(store.recovery)
        try expectRecovered(store, recovery, reason: .corrupt, directory: directory, previousNextSeq: 601)
        #expect(recovery.detail.contains("quick_check") || recovery.sqliteCode == 11, "\(recovery.detail)")
    }

    @Test func corruptionSurfacingDuringACommitMovesTheFileAsideAndCommitsTheBatchToANewOne() throws {
        let directory = try TemporaryDirectory()
        let path = directory.path("metrics.db")
        let store = try MetricStore(options: .init(path: path), now: TestClock().now)
        for index in 0..<100 { try store.commit(.window(index, documents: 2, payloadBytes: 1000)) }
        try store.connection.exec("PRAGMA wal_checkpoint(TRUNCATE)")
        // Every page but the header page is overwritten under the open connection, which then
        // forgets its cached pages, as if the card had been damaged while the daemon ran.
        try overwrite(path, at: 4096, with: randomBytes(Int(fileBytes(path)) - 4096, seed: 3))
        try store.connection.exec("PRAGMA shrink_memory")

        let result = try store.commit(.window(100, documents: 3))
        let recovery = try #require(result.recovery)
        #expect(store.recovery == recovery)
        #expect(recovery.reason == .corrupt && recovery.sqliteCode.map { $0 & 0xFF } == 11, "\(recovery)")
        #expect(recovery.movedFiles == [path + ".corrupt-\(Self.stamp)", path + ".corrupt-\(Self.stamp)-wal", path + ".corrupt-\(Self.stamp)-shm"])
        #expect(result.seqs == recovery.nextSeq..<recovery.nextSeq + 3 && recovery.nextSeq > 200)
        #expect(try store.pending(limit: 10).map(\.seq) == Array(result.seqs), "the batch is in the new file")
        #expect(try store.events().map(\.kind) == ["store_recovered"])
        #expect(try store.commit(.window(101)).recovery == nil)
        #expect(try store.connection.texts("PRAGMA integrity_check") == ["ok"])
    }

    @Test func aDirectoryInPlaceOfTheFileIsMovedAside() throws {
        let directory = try TemporaryDirectory()
        let path = directory.path("metrics.db")
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: false)
        let store = try MetricStore(options: .init(path: path), now: TestClock().now)
        let recovery = try #require(store.recovery)
        try expectRecovered(store, recovery, reason: .unreadable, directory: directory, previousNextSeq: 1)
        #expect(recovery.detail.contains("not a regular file"))
    }

    /// As root (which reads any file) the store is opened by `metricstore-stress --open` running as nobody.
    @Test(.enabled(if: getuid() != 0 || FileManager.default.isExecutableFile(atPath: "/usr/bin/setpriv"), "needs setpriv as root"))
    func aFileWithoutReadPermissionIsMovedAside() throws {
        let directory = try TemporaryDirectory()
        let path = directory.path("metrics.db")
        try filledStore(path)
        chmod(path, 0)
        if getuid() != 0 {
            let store = try MetricStore(options: .init(path: path), now: TestClock().now)
            let recovery = try #require(store.recovery)
            try expectRecovered(store, recovery, reason: .unreadable, directory: directory, previousNextSeq: 1)
            return
        }
        chmod(directory.url.path, 0o777)
        let child = Process()
        child.executableURL = URL(fileURLWithPath: "/usr/bin/setpriv")
        child.arguments = ["--reuid=65534", "--regid=65534", "--clear-groups", KillTests.stressBinary.path, "--open", path]
        let output = Pipe()
        child.standardOutput = output
        try child.run()
        let printed = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        child.waitUntilExit()
        #expect(child.terminationStatus == 0)
        #expect(printed.hasPrefix("recovery unreadable \(path).corrupt-"), "\(printed)")
        let moved = try #require(directory.files.first { $0.hasPrefix("metrics.db.corrupt-") })
        #expect(try FileManager.default.attributesOfItem(atPath: directory.path(moved))[.posixPermissions] as? Int == 0)
        // The new file at the path is a working store, written by the unprivileged process.
        #expect(try query(path, "SELECT count(*) FROM outbox") == "1")
        #expect(try query(path, "SELECT kind FROM events") == "store_recovered")
    }

    @Test func twoRecoveriesInTheSameSecondGetDistinctNames() throws {
        let directory = try TemporaryDirectory()
        let path = directory.path("metrics.db")
        let clock = TestClock()
        for _ in 0..<2 {
            try Data(randomBytes(8192, seed: 4)).write(to: URL(fileURLWithPath: path))
            _ = try MetricStore(options: .init(path: path), now: clock.now)
        }
        #expect(directory.files.contains("metrics.db.corrupt-\(Self.stamp)"))
        #expect(directory.files.contains("metrics.db.corrupt-\(Self.stamp)-2"))
    }

    @Test func theRecoveryNameIsTheUTCTimeOfTheRecovery() {
        #expect(MetricStore.utcStamp(milliseconds: 1_795_000_000_999) == Self.stamp)
        #expect(MetricStore.utcStamp(milliseconds: 0) == "19700101T000000Z")
    }
}
