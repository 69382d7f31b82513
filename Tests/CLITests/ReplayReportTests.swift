import Foundation
import Testing

@Suite struct ReplayReportTests {
    static func temporaryDirectory() throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("qw-replay-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    /// digits: 450 clean frames, then the strongest brightness shift: the buffer holds the windows,
    /// a drift event, the model with its baseline; the report shows them in every format.
    @Test func replayOfCleanThenDriftedFramesFillsTheBufferAndTheReportShowsTheDrift() throws {
        let dir = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let db = dir.appendingPathComponent("metrics.db").path
        let replay = try CLIRun("replay", "--model", CLIRun.fixture("digits/model.int8.qop.onnx"),
                                "--reference", CLIRun.fixture("digits/model.fp32.onnx"),
                                "--frames", CLIRun.fixture("digits/heldout.npy"), "--frames", CLIRun.fixture("digits/drift/brightness-3.npy"),
                                "--db", db, "--device", "bench-01", "--start", "2026-11-29T00:00:00Z")
        #expect(replay.status == 0, "\(replay.stderr)")
        #expect(replay.stdout.contains("replayed 900 frames"))
        #expect(replay.stdout.contains("baseline_ready"))
        #expect(replay.stdout.contains("drift_state  sqnr_db detector rose from warning to drift") || replay.stdout.contains("to drift"))
        #expect(replay.stdout.contains("state drift"))
        // The buffer also keeps shadow samples (disagreements, triggered frames), bounded.
        let samples = replay.stdout.components(separatedBy: " shadow samples").first?.components(separatedBy: " ").last.flatMap { Int($0) }
        #expect((samples ?? 0) > 0)

        let table = try CLIRun("report", "--db", db)
        #expect(table.status == 0, "\(table.stderr)")
        #expect(table.stdout.contains("device   bench-01"))
        #expect(table.stdout.contains("windows  9   frames 900"))      // 90 s at 10 frames/s
        #expect(table.stdout.contains("model.int8.qop 1"))
        #expect(table.stdout.contains("baseline stored"))
        #expect(table.stdout.contains("drift_state"))

        let json = try CLIRun("report", "--db", db, "--format", "json")
        let object = try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as! [String: Any]
        let windows = object["windows"] as! [[String: Any]]
        #expect(windows.count == 9)
        #expect(windows.map { $0["seq"] as! Int } == windows.map { $0["seq"] as! Int }.sorted())
        #expect((windows.last?["drift"] as? [String: Any])?["state"] as? String == "drift")

        let html = dir.appendingPathComponent("report.html").path
        let page = try CLIRun("report", "--db", db, "--format", "html", "--output", html)
        #expect(page.status == 0, "\(page.stderr)")
        let text = try String(contentsOfFile: html, encoding: .utf8)
        #expect(text.contains("<svg") && text.contains("fill=\"#fecaca\""))

        // --since: only the last 30 s of windows.
        let recent = try CLIRun("report", "--db", db, "--since", "2026-11-29T00:01:00Z")
        #expect(recent.stdout.contains("windows  3   frames 300"))
    }

    @Test func reportOnAMissingOrForeignFileNamesTheFile() throws {
        let dir = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let missing = dir.appendingPathComponent("none.db").path
        let run = try CLIRun("report", "--db", missing)
        #expect(run.status != 0)
        #expect(run.stderr.contains(missing))
        let garbage = dir.appendingPathComponent("garbage.db")
        try Data(repeating: 0x41, count: 8192).write(to: garbage)
        let bad = try CLIRun("report", "--db", garbage.path)
        #expect(bad.status != 0)
        #expect(bad.stderr.contains(garbage.path))
        // The report never moves or changes the file it reads.
        #expect(try Data(contentsOf: garbage) == Data(repeating: 0x41, count: 8192))
    }

    @Test func badTimeArgumentIsExplained() throws {
        let run = try CLIRun("report", "--db", "/nonexistent.db", "--since", "yesterday")
        #expect(run.status != 0)
        #expect(run.stderr.contains("'yesterday' is not a time"))
    }
}
