import Foundation
import Testing
@testable import MetricStore

/// SIGKILLs `metricstore-stress` (Tests/MetricStoreStress) at random moments while it commits in a
/// loop, then checks the file the way the daemon would find it after a crash.
@Suite struct KillTests {
    static var stressBinary: URL {
        let beside = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        let candidates = [beside, beside.deletingLastPathComponent()].map { $0.appendingPathComponent("metricstore-stress") }
        return candidates.first { FileManager.default.isExecutableFile(atPath: $0.path) } ?? candidates[0]
    }

    /// What the children reported, in order, over all the runs.
    struct Log {
        var committed: [ClosedRange<Int64>] = []
        var deliveryAsked: Int64 = 0  // the highest seq a markDelivered was called for (it may not have committed)
        var delivered: Int64 = 0  // the highest seq a markDelivered returned for

        mutating func read(_ text: String) throws {
            for line in text.split(separator: "\n") {
                let fields = line.split(separator: " ")
                guard fields.count >= 2, let value = Int64(fields[1]) else { continue }
                switch fields[0] {
                case "C": committed.append(value...Int64(fields[2])!)
                case "d": deliveryAsked = max(deliveryAsked, value)
                case "D": delivered = max(delivered, value)
                default: break
                }
            }
        }
    }

    @Test func noCommittedRowIsLostWhenTheWriterIsKilledAtRandomMoments() throws {
        let directory = try TemporaryDirectory()
        let path = directory.path("metrics.db")
        var random = SystemRandomNumberGenerator()
        var log = Log()
        let kills = 24
        var killsAfterACommit = 0
        for kill in 0..<kills {
            let output = directory.path("child-\(kill).out"), errors = directory.path("child-\(kill).err")
            _ = FileManager.default.createFile(atPath: output, contents: nil)
            _ = FileManager.default.createFile(atPath: errors, contents: nil)
            let child = Process()
            child.executableURL = Self.stressBinary
            child.arguments = [path, String(kill + 1)]
            child.standardOutput = try FileHandle(forWritingTo: URL(fileURLWithPath: output))
            child.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: errors))
            try child.run()
            // Even runs: 20–400 ms after the start, so some kills land while the child opens the
            // file. Odd runs: 0–200 ms after its first commit, so half the kills surely land mid-loop
            // however slow the machine is.
            if kill % 2 == 1 {
                let deadline = Date().addingTimeInterval(10)
                while Date() < deadline, !(try String(contentsOfFile: output, encoding: .utf8)).contains("C ") { usleep(2000) }
                usleep(UInt32.random(in: 0...200_000, using: &random))
            } else {
                usleep(UInt32.random(in: 20_000...400_000, using: &random))
            }
            Glibc.kill(child.processIdentifier, SIGKILL)
            child.waitUntilExit()
            let childErrors = try String(contentsOfFile: errors, encoding: .utf8)
            try #require(child.terminationReason == .uncaughtSignal && child.terminationStatus == SIGKILL,
                         "the child exited by itself (\(child.terminationStatus)): \(childErrors)")
            let before = log.committed.count
            try log.read(try String(contentsOfFile: output, encoding: .utf8))
            if log.committed.count > before { killsAfterACommit += 1 }

            // What the next start finds.
            let check = try SQLiteConnection(path: path)
            #expect(try check.texts("PRAGMA integrity_check") == ["ok"], "after kill \(kill)")
            let seqs = try check.texts("SELECT seq FROM outbox ORDER BY seq").map { Int64($0)! }
            let nextSeq = try check.int64("SELECT value FROM counters WHERE name = 'next_seq'")!
            check.close()
            try verify(log, outbox: seqs, nextSeq: nextSeq, after: kill)
        }
        #expect(killsAfterACommit >= kills / 2, "half the kills land mid-loop: \(killsAfterACommit) of \(kills)")

        let store = try MetricStore(options: .init(path: path))
        #expect(store.recovery == nil)
        print("kill test: \(kills) SIGKILLs (\(killsAfterACommit) after at least one commit), \(log.committed.count) commits "
            + "reported, \(log.committed.last?.upperBound ?? 0) seqs, \(try store.stats().pendingRows) pending")
    }

    func verify(_ log: Log, outbox seqs: [Int64], nextSeq: Int64, after kill: Int) throws {
        // Seqs were never reused: each reported commit starts after the previous one.
        for (earlier, later) in zip(log.committed, log.committed.dropFirst()) {
            #expect(later.lowerBound > earlier.upperBound, "after kill \(kill): \(earlier) then \(later)")
        }
        let highestCommitted = log.committed.last?.upperBound ?? 0
        #expect(nextSeq > highestCommitted, "after kill \(kill): the counter \(nextSeq) is behind a committed seq \(highestCommitted)")
        // Deliveries take the oldest first, so the outbox is one run of seqs without gaps,
        // ending at the last committed seq (a commit that returned but was not reported may follow).
        if let first = seqs.first, let last = seqs.last {
            #expect(seqs.count == Int(last - first + 1), "after kill \(kill): gaps in the outbox \(first)…\(last), \(seqs.count) rows")
            #expect(last == nextSeq - 1)
        }
        // Every committed seq is there, unless a markDelivered was called for it.
        let present = Set(seqs)
        let missing = log.committed.flatMap { $0 }.filter { $0 > log.deliveryAsked && !present.contains($0) }
        #expect(missing.isEmpty, "after kill \(kill): committed seqs lost: \(missing.prefix(10))")
        // And a markDelivered that returned did delete.
        #expect(seqs.allSatisfy { $0 > log.delivered }, "after kill \(kill): delivered rows came back")
    }
}
