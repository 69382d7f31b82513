import Foundation
import MetricStore
import Testing
import TestSupport

/// `quantwatch publish` (the daemon's publisher) against a real mosquitto broker the test starts.
@Suite(.serialized) struct PublishTests {
    static func temporaryDirectory() throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("qw-publish-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    /// A buffer holding `count` metrics documents (seqs 1…count), as a device would have committed them.
    static func fillBuffer(_ path: String, count: Int, device: String = "dev") throws {
        let store = try MetricStore(options: .init(path: path))
        defer { store.close() }
        var left = count
        while left > 0 {
            let n = min(left, 500)
            try store.commit(.init(documents: (0..<n).map { _ in
                .init(topic: "metrics", tsMs: 1) { seq in
                    #"{"device":"\#(device)","schema":"quantwatch.metrics/1","seq":\#(seq),"ts":"1970-01-01T00:00:00.001Z","ts_ms":1}"#
                }
            }))
            left -= n
        }
    }

    /// mosquitto drops QoS 1 messages for a slow subscriber beyond 1000 queued by default.
    static let unlimitedQueues = ["max_queued_messages 0", "max_inflight_messages 0"]

    static func pending(_ path: String) throws -> (count: Int, first: Int64?) {
        let store = try MetricStore(options: .init(path: path))
        defer { store.close() }
        let stats = try store.stats()
        return (stats.pendingRows, stats.oldestPendingSeq)
    }

    @Test func everySeqArrivesThroughThreeBrokerRestartsAndTheOutboxEndsEmpty() throws {
        let dir = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        // Persistence, so the subscriber's persistent session and its queued messages survive restarts.
        let broker = try MosquittoBroker(extraConfiguration: ["persistence true", "persistence_location \(dir.path)/",
                                                              "max_queued_messages 0", "max_inflight_messages 0"])
        let db = dir.appendingPathComponent("m.db").path
        try Self.fillBuffer(db, count: 10_000)
        let subscriber = try Subscriber(port: broker.port, topic: "quantwatch/dev/metrics", persistentID: "qw-test-sub")
        defer { subscriber.stop() }
        Thread.sleep(forTimeInterval: 0.5)
        let publish = try Child(CLIRun.binary.path, ["publish", "--broker", broker.url, "--db", db, "--device", "dev", "--until-empty",
                                                     "--max-in-flight", "64", "--timeout", "120"])
        for _ in 0..<3 {
            Thread.sleep(forTimeInterval: 0.25)
            broker.stop()
            Thread.sleep(forTimeInterval: 0.4)
            try broker.start()
        }
        let (status, out, err) = publish.wait()
        #expect(status == 0, "\(out)\(err)")
        #expect(try Self.pending(db).count == 0)
        let deadline = Date().addingTimeInterval(30)
        while subscriber.seqs().count < 10_000, Date() < deadline { Thread.sleep(forTimeInterval: 0.1) }
        let seqs = subscriber.seqs()
        let missing = Set(1...10_000).subtracting(seqs)
        #expect(missing.isEmpty, "missing \(missing.count) seqs, e.g. \(missing.sorted().prefix(10))")
        print("10,000 documents through 3 broker restarts: \(subscriber.received) received (\(subscriber.received - seqs.count) duplicates); \(out)")
    }

    @Test func sigkillLeavesTheOfflineWillAndARestartResumesFromTheFirstUndeliveredSeq() throws {
        let dir = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let broker = try MosquittoBroker(extraConfiguration: Self.unlimitedQueues)
        let db = dir.appendingPathComponent("m.db").path
        try Self.fillBuffer(db, count: 20_000)
        let subscriber = try Subscriber(port: broker.port, topic: "quantwatch/dev/#")
        defer { subscriber.stop() }
        Thread.sleep(forTimeInterval: 0.3)
        let first = try Child(CLIRun.binary.path, ["publish", "--broker", broker.url, "--db", db, "--device", "dev", "--max-in-flight", "8"])
        let deadline = Date().addingTimeInterval(20)
        while subscriber.seqs().count < 500, Date() < deadline { Thread.sleep(forTimeInterval: 0.02) }
        first.kill()
        _ = first.wait()
        // The broker publishes the retained Last Will: offline.
        let will = try MosquittoBroker.run("/usr/bin/mosquitto_sub", ["-h", "127.0.0.1", "-p", "\(broker.port)", "-t", "quantwatch/dev/status", "-C", "1", "-W", "5"])
        #expect(will.contains(#""status":"offline""#) && will.contains("last will"), "\(will)")
        let (left, firstUndelivered) = try Self.pending(db)
        #expect(left > 0 && left < 20_000)
        let before = subscriber.received
        let second = try Child(CLIRun.binary.path, ["publish", "--broker", broker.url, "--db", db, "--device", "dev", "--until-empty"])
        let (status, out, err) = second.wait()
        #expect(status == 0, "\(out)\(err)")
        Thread.sleep(forTimeInterval: 0.5)
        let after = subscriber.messages(from: before)
        // Online first, then the outbox from its first undelivered seq on.
        #expect(after.first { $0.topic.hasSuffix("/status") }.map { $0.payload.contains(#""status":"online""#) } == true)
        let resumed = after.filter { $0.topic.hasSuffix("/metrics") }.compactMap(\.seq)
        #expect(resumed.first == firstUndelivered.map(Int.init))
        #expect(Set(1...20_000).subtracting(subscriber.seqs()).isEmpty)
        #expect(try Self.pending(db).count == 0)
    }

    @Test func wrongPasswordAndUnknownCAAreClearErrorsAndTheBufferKeepsItsDocuments() throws {
        let dir = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let broker = try MosquittoBroker(users: ["device": "right"], tls: true)
        let db = dir.appendingPathComponent("m.db").path
        try Self.fillBuffer(db, count: 100)
        let wrong = dir.appendingPathComponent("wrong-password").path
        try "wrong\n".write(toFile: wrong, atomically: true, encoding: .utf8)
        let denied = try CLIRun("publish", "--broker", broker.url, "--username", "device", "--password-file", wrong, "--db", db,
                                "--device", "dev", "--until-empty", "--timeout", "3")
        #expect(denied.status == 1)
        #expect(denied.stderr.contains("documents still undelivered"))
        #expect(denied.stderr.lowercased().contains("not authorized") || denied.stderr.lowercased().contains("password"), "\(denied.stderr)")
        // The 100 documents are all still there.
        #expect(try Self.pending(db) == (100, 1))

        let untrusted = try CLIRun("publish", "--broker", broker.tlsURL!, "--ca-file", broker.unrelatedCAFile!, "--username", "device",
                                   "--password-file", broker.passwordFiles["device"]!, "--db", db, "--device", "dev", "--until-empty", "--timeout", "3")
        #expect(untrusted.status == 1)
        #expect(untrusted.stderr.lowercased().contains("tls") || untrusted.stderr.lowercased().contains("certificate"), "\(untrusted.stderr)")
        #expect(try Self.pending(db) == (100, 1))

        let trusted = try CLIRun("publish", "--broker", broker.tlsURL!, "--ca-file", broker.caFile!, "--username", "device",
                                 "--password-file", broker.passwordFiles["device"]!, "--db", db, "--device", "dev", "--until-empty", "--timeout", "20")
        #expect(trusted.status == 0, "\(trusted.stderr)")
        #expect(try Self.pending(db).count == 0)
    }

    @Test func garbageOversizeAndUnknownCommandsGetErrorRepliesAndChangeNothing() throws {
        let dir = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let broker = try MosquittoBroker()
        let db = dir.appendingPathComponent("m.db").path
        try Self.fillBuffer(db, count: 1)
        let replies = try Subscriber(port: broker.port, topic: "quantwatch/dev/reply/#")
        defer { replies.stop() }
        let device = try Child(CLIRun.binary.path, ["publish", "--broker", broker.url, "--db", db, "--device", "dev", "--group", "lab"])
        defer { device.kill(); _ = device.wait() }
        Thread.sleep(forTimeInterval: 1)
        func send(_ topic: String, _ payload: String) throws {
            _ = try MosquittoBroker.run("/usr/bin/mosquitto_pub", ["-h", "127.0.0.1", "-p", "\(broker.port)", "-q", "1", "-t", topic, "-m", payload])
        }
        try send("quantwatch/dev/cmd/shadow", "{not json")
        try send("quantwatch/dev/cmd/shadow", "[1]")
        try send("quantwatch/dev/cmd/reboot", #"{"id":"r"}"#)
        try send("quantwatch/dev/cmd/shadow", #"{"id":"big","pad":""# + String(repeating: "x", count: 70_000) + #""}"#)
        try send("quantwatch/dev/cmd/shadow", #"{"id":"bad","every_nth":-1}"#)
        try send("quantwatch/group/lab/cmd/ping", #"{"id":42}"#)
        try send("quantwatch/dev/cmd/status", #"{"id":"s"}"#)
        let deadline = Date().addingTimeInterval(10)
        while replies.received < 7, Date() < deadline { Thread.sleep(forTimeInterval: 0.05) }
        let all = replies.messages(from: 0)
        #expect(all.count == 7)
        let errors = all.filter { $0.payload.contains(#""ok":false"#) }
        #expect(errors.count == 5)
        #expect(errors.contains { $0.payload.contains("not JSON") })
        #expect(errors.contains { $0.payload.contains("unknown command 'reboot'") && $0.topic.hasSuffix("/reply/reboot") })
        #expect(errors.contains { $0.payload.contains("at most 65536 bytes") })
        #expect(errors.contains { $0.payload.contains(#""id":"bad""#) && $0.payload.contains("shadow.every_nth is -1") })
        #expect(all.contains { $0.topic.hasSuffix("/reply/ping") && $0.payload.contains(#""id":42"#) && $0.payload.contains(#""ok":true"#) })
        // MQTT 5: a request with a response topic is answered there (with its correlation data).
        let responses = try Subscriber(port: broker.port, topic: "ops/answers/#")
        defer { responses.stop() }
        Thread.sleep(forTimeInterval: 0.3)
        _ = try MosquittoBroker.run("/usr/bin/mosquitto_pub", ["-h", "127.0.0.1", "-p", "\(broker.port)", "-q", "1", "-V", "mqttv5",
                                                               "-t", "quantwatch/dev/cmd/ping", "-m", #"{"id":"v5"}"#,
                                                               "-D", "publish", "response-topic", "ops/answers/1",
                                                               "-D", "publish", "correlation-data", "req-1"])
        let answerDeadline = Date().addingTimeInterval(10)
        while responses.received < 1, Date() < answerDeadline { Thread.sleep(forTimeInterval: 0.05) }
        let answer = responses.messages(from: 0).first
        #expect(answer?.topic == "ops/answers/1" && answer?.payload.contains(#""id":"v5""#) == true, "\(String(describing: answer))")
        // The rate the refused command tried to set is unchanged.
        let status = try #require(all.first { $0.topic.hasSuffix("/reply/status") })
        #expect(status.payload.contains(#""every_nth":10"#))
    }

    @Test func watchShowsTheDeviceFromItsRetainedDocumentsAndStreamsJSON() throws {
        let dir = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let broker = try MosquittoBroker()
        let db = dir.appendingPathComponent("m.db").path
        try Self.fillBuffer(db, count: 3, device: "pi-7")
        let published = try CLIRun("publish", "--broker", broker.url, "--db", db, "--device", "pi-7", "--group", "lab", "--until-empty")
        #expect(published.status == 0, "\(published.stderr)")
        // The retained status (offline after the clean stop) is what a late subscriber sees.
        let table = try CLIRun("watch", "--broker", broker.url, "--once", "--wait", "1.5")
        #expect(table.status == 0, "\(table.stderr)")
        #expect(table.stdout.contains("DEVICE") && table.stdout.contains("pi-7") && table.stdout.contains("offline"), "\(table.stdout)")
        let grouped = try CLIRun("watch", "--broker", broker.url, "--group", "other", "--once", "--wait", "1")
        #expect(grouped.stdout.contains("no device has published yet"))
        let lines = try CLIRun("watch", "--broker", broker.url, "--device", "pi-7", "--json", "--once", "--wait", "1.5")
        #expect(lines.stdout.contains(#""topic":"quantwatch/pi-7/status","retained":true,"document":{"#), "\(lines.stdout)")
        // An unreachable broker is an error that names it.
        let nowhere = try CLIRun("watch", "--broker", "mqtt://127.0.0.1:\(try MosquittoBroker.freePort())", "--once", "--wait", "1.5")
        #expect(nowhere.status != 0 && nowhere.stderr.contains("127.0.0.1"))
    }

    @Test func throughputToTheLocalBroker() throws {
        let dir = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let broker = try MosquittoBroker()
        let db = dir.appendingPathComponent("m.db").path
        try Self.fillBuffer(db, count: 20_000)
        let run = try CLIRun("publish", "--broker", broker.url, "--db", db, "--device", "dev", "--until-empty", "--max-in-flight", "256")
        #expect(run.status == 0, "\(run.stderr)")
        #expect(run.stdout.contains("(20000 were waiting)"))   // and the online/offline status documents
        print("QoS 1 throughput to the local broker: \(run.stdout)")   // a figure for the benchmark notes, not asserted
    }
}

/// A process whose output is collected; `wait()` returns status, stdout, stderr.
final class Child: @unchecked Sendable {
    let process = Process()
    let out = Pipe(), err = Pipe()

    init(_ path: String, _ arguments: [String]) throws {
        process.executableURL = URL(fileURLWithPath: path)
        process.arguments = arguments
        process.standardOutput = out
        process.standardError = err
        try process.run()
    }

    func kill() { if process.isRunning { Foundation.kill(process.processIdentifier, SIGKILL) } }

    func wait() -> (Int32, String, String) {
        let o = out.fileHandleForReading.readDataToEndOfFile(), e = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: o, as: UTF8.self), String(decoding: e, as: UTF8.self))
    }
}

/// `mosquitto_sub -v` in the background: every message (topic, payload) in order, with its `seq`.
final class Subscriber: @unchecked Sendable {
    struct Message {
        var topic: String
        var payload: String
        var seq: Int?
    }

    let process = Process()
    let pipe = Pipe()
    private let lock = NSLock()
    private var lines: [Message] = []
    private var partial = Data()

    init(port: Int, topic: String, persistentID: String? = nil) throws {
        process.executableURL = URL(fileURLWithPath: "/usr/bin/mosquitto_sub")
        var arguments = ["-h", "127.0.0.1", "-p", "\(port)", "-q", "1", "-v", "-t", topic]
        if let persistentID { arguments += ["-c", "-i", persistentID] }
        process.arguments = arguments
        process.standardOutput = pipe
        process.standardError = FileHandle.nullDevice
        pipe.fileHandleForReading.readabilityHandler = { [weak self] handle in
            let data = handle.availableData
            guard let self, !data.isEmpty else { return }
            self.lock.withLock {
                self.partial.append(data)
                while let newline = self.partial.firstIndex(of: UInt8(ascii: "\n")) {
                    let line = String(decoding: self.partial[self.partial.startIndex..<newline], as: UTF8.self)
                    self.partial.removeSubrange(self.partial.startIndex...newline)
                    let parts = line.split(separator: " ", maxSplits: 1).map(String.init)
                    guard parts.count == 2 else { continue }
                    self.lines.append(Message(topic: parts[0], payload: parts[1], seq: Subscriber.seq(in: parts[1])))
                }
            }
        }
        try process.run()
    }

    static func seq(in payload: String) -> Int? {
        guard let range = payload.range(of: #""seq":"#) else { return nil }
        return Int(payload[range.upperBound...].prefix { $0.isNumber })
    }

    var received: Int { lock.withLock { lines.count } }
    func seqs() -> Set<Int> { lock.withLock { Set(lines.filter { $0.topic.hasSuffix("/metrics") }.compactMap(\.seq)) } }
    func messages(from index: Int) -> [Message] { lock.withLock { Array(lines[min(index, lines.count)...]) } }

    func stop() {
        // SIGKILL: a child started by Foundation's Process inherits the test process's blocked SIGTERM.
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        process.waitUntilExit()
        pipe.fileHandleForReading.readabilityHandler = nil
    }
}
