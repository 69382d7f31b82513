import Foundation
import FrameSources
import Testing
import TestSupport

/// `quantwatch run` as systemd would run it, against a real broker: READY on the notify socket,
/// metrics with consecutive seqs, the drift event after the stream switches, SIGTERM with everything
/// delivered, and `quantwatch watch` writing the fleet table as a log (what `make demo` shows); a bad
/// configuration exits 78 naming the key.
@Suite(.serialized) struct DaemonEndToEndTests {
    /// A datagram socket bound at `path`, collecting what arrives (the NOTIFY_SOCKET side of systemd).
    final class NotifySocket: @unchecked Sendable {
        let descriptor: Int32
        private let lock = NSLock()
        private var received: [String] = []
        private var thread: Thread?

        init(path: String) throws {
            descriptor = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue), 0)
            var address = sockaddr_un()
            address.sun_family = sa_family_t(AF_UNIX)
            withUnsafeMutableBytes(of: &address.sun_path) { raw in
                for (i, b) in path.utf8.enumerated() where i < raw.count - 1 { raw[i] = b }
            }
            let rc = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(descriptor, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
            }
            guard rc == 0 else { throw CLIError("bind \(path): errno \(errno)") }
            var timeout = timeval(tv_sec: 0, tv_usec: 200_000)
            setsockopt(descriptor, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
            let t = Thread { [weak self] in
                var buffer = [UInt8](repeating: 0, count: 4096)
                while let self, !Thread.current.isCancelled {
                    let n = recv(self.descriptor, &buffer, buffer.count, 0)
                    if n > 0 { self.lock.withLock { self.received.append(String(decoding: buffer[0..<n], as: UTF8.self)) } }
                }
            }
            thread = t
            t.start()
        }

        var messages: [String] { lock.withLock { received } }
        func close() {
            thread?.cancel()
            Thread.sleep(forTimeInterval: 0.3)
            Glibc.close(descriptor)
        }
    }

    struct CLIError: Error { var message: String; init(_ m: String) { message = m } }

    @Test func daemonRunsPublishesDetectsDriftAndStopsCleanlyOnSIGTERM() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("qw-e2e-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir.appendingPathComponent("frames"), withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        // 450 clean digits frames, then 450 with the strongest brightness shift, one .npy each, in name order.
        let clean = try FrameSet.loadStacked(URL(fileURLWithPath: CLIRun.fixture("digits/heldout.npy")))
        let drifted = try FrameSet.loadStacked(URL(fileURLWithPath: CLIRun.fixture("digits/drift/brightness-3.npy")))
        for (i, t) in clean.enumerated() { try NPY.write(t, to: dir.appendingPathComponent("frames/a\(String(format: "%04d", i)).npy")) }
        for (i, t) in drifted.enumerated() { try NPY.write(t, to: dir.appendingPathComponent("frames/b\(String(format: "%04d", i)).npy")) }

        let broker = try MosquittoBroker(extraConfiguration: ["max_queued_messages 0", "max_inflight_messages 0"])
        let config = dir.appendingPathComponent("quantwatch.toml")
        try """
            [device]
            id = "e2e"
            [model]
            int8 = "\(CLIRun.fixture("digits/model.int8.qop.onnx"))"
            float = "\(CLIRun.fixture("digits/model.fp32.onnx"))"
            name = "digits"
            version = "e2e"
            [frames]
            source = "directory"
            path = "\(dir.appendingPathComponent("frames").path)"
            fps = 200
            loop = true
            [monitor]
            window_s = 1.0
            shadow.every_nth = 5
            shadow.min_interval_s = 0.0
            shadow.cpu_share = 1.0
            detectors.baseline_shadow_frames = 60
            detectors.baseline_frames = 200
            [store]
            path = "\(dir.appendingPathComponent("metrics.db").path)"
            [mqtt]
            url = "\(broker.url)"
            """.write(to: config, atomically: true, encoding: .utf8)

        let notify = try NotifySocket(path: dir.appendingPathComponent("notify").path)
        defer { notify.close() }
        let subscriber = try Subscriber(port: broker.port, topic: "quantwatch/e2e/#")
        defer { subscriber.stop() }
        // The fleet table with its output not a terminal: appended on every change of the row's state.
        let watch = Process()
        watch.executableURL = CLIRun.binary
        watch.arguments = ["watch", "--broker", broker.url, "--device", "e2e"]
        let watchOutput = Pipe()
        watch.standardOutput = watchOutput
        watch.standardError = FileHandle.nullDevice
        try watch.run()
        defer { if watch.isRunning { kill(watch.processIdentifier, SIGKILL) } }
        Thread.sleep(forTimeInterval: 0.3)
        let daemon = Process()
        daemon.executableURL = CLIRun.binary
        daemon.arguments = ["run", "--config", config.path]
        daemon.environment = ProcessInfo.processInfo.environment.merging(["NOTIFY_SOCKET": dir.appendingPathComponent("notify").path]) { $1 }
        let err = Pipe()
        daemon.standardError = err
        daemon.standardOutput = FileHandle.nullDevice
        try daemon.run()
        // Wait for the drift event (the stream switches after 450 frames, ~2.3 s at 200 fps).
        let deadline = Date().addingTimeInterval(60)
        func sawDrift() -> Bool { subscriber.messages(from: 0).contains { $0.topic.hasSuffix("/events") && $0.payload.contains(#""to":"drift""#) } }
        while !sawDrift(), daemon.isRunning, Date() < deadline { Thread.sleep(forTimeInterval: 0.1) }
        #expect(sawDrift(), "no drift event; daemon stderr: \(String(decoding: err.fileHandleForReading.availableData, as: UTF8.self))")
        kill(daemon.processIdentifier, SIGTERM)
        let stderr = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        daemon.waitUntilExit()
        #expect(daemon.terminationStatus == 0, "\(stderr)")
        #expect(stderr.contains("last window stored"))
        Thread.sleep(forTimeInterval: 0.5)

        let ready = notify.messages
        #expect(ready.contains { $0.hasPrefix("READY=1") }, "\(ready)")
        #expect(ready.contains { $0.contains("STATUS=") })
        #expect(ready.contains { $0.hasPrefix("STOPPING=1") })
        let documents = subscriber.messages(from: 0).filter { !$0.topic.contains("/cmd/") }
        let seqs = documents.compactMap(\.seq)
        // Every document the device published arrived: its seqs form one run with no gap.
        let distinct = Set(seqs)
        #expect(!distinct.isEmpty && distinct.count == Int(distinct.max()! - distinct.min()! + 1), "seqs \(distinct.sorted())")
        #expect(documents.filter { $0.topic.hasSuffix("/metrics") }.count >= 3)
        // In drift the retained status said `degraded`, naming why.
        #expect(documents.contains { $0.topic.hasSuffix("/status") && $0.payload.contains(#""status":"degraded""#) && $0.payload.contains("a detector is in drift") })
        // The last status is offline (published by the daemon itself on the clean stop).
        #expect(documents.last { $0.topic.hasSuffix("/status") }?.payload.contains(#""status":"offline""#) == true)
        // watch logged the row turning to drift with the event that says why, then the device going offline.
        kill(watch.processIdentifier, SIGKILL)   // SIGTERM may be blocked in a child of the test process
        watch.waitUntilExit()
        let table = String(decoding: watchOutput.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        let rows = table.split(separator: "\n").map(String.init)
        #expect(rows.contains { $0.hasPrefix("e2e ") && $0.contains(" drift ") }, "\(table)")
        #expect(rows.contains { $0.hasPrefix("e2e: ") && $0.contains(" to drift: ") }, "\(table)")
        #expect(rows.last { $0.hasPrefix("e2e ") }?.contains(" offline ") == true, "\(table)")
        // Everything was delivered: the outbox is empty.
        let report = try CLIRun("report", "--db", dir.appendingPathComponent("metrics.db").path)
        #expect(report.stdout.contains("undelivered 0"), "\(report.stdout)")
    }

    @Test func badConfigurationExits78NamingTheKey() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("qw-e2e-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let config = dir.appendingPathComponent("bad.toml")
        try "[monitor]\nshadow.every_nth = 0\n".write(to: config, atomically: true, encoding: .utf8)
        let run = try CLIRun("run", "--config", config.path)
        #expect(run.status == 78)
        #expect(run.stderr.contains("monitor.shadow.every_nth"), "\(run.stderr)")
    }
}

/// frames.source = "mqtt": a local sensor process publishes tensors on a topic and the daemon runs them —
/// `.npy` payloads and raw little-endian float32 of the model input; a payload of neither kind is
/// refused with a warning naming the topic, and the daemon goes on.
@Suite(.serialized) struct MQTTFrameSourceTests {
    @Test func framesPublishedOnATopicAreMonitoredAndGarbageIsRefused() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("qw-mqtt-frames-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let frames = try FrameSet.loadStacked(URL(fileURLWithPath: CLIRun.fixture("digits/heldout.npy")))
        try NPY.write(frames[0], to: URL(fileURLWithPath: dir + "/frame.npy"))
        try frames[1].withUnsafeBytes { try Data($0).write(to: URL(fileURLWithPath: dir + "/frame.f32")) }   // 256 bytes: float32 [1,1,8,8]
        try Data([1, 2, 3]).write(to: URL(fileURLWithPath: dir + "/garbage"))
        let broker = try MosquittoBroker()
        try """
            [device]
            id = "mq"
            [model]
            int8 = "\(CLIRun.fixture("digits/model.int8.qop.onnx"))"
            float = "\(CLIRun.fixture("digits/model.fp32.onnx"))"
            [frames]
            source = "mqtt"
            topic = "sensors/cam0/frames"
            format = "npy"
            [monitor]
            window_s = 0.5
            [store]
            path = "metrics.db"
            [mqtt]
            url = "\(broker.url)"
            """.write(toFile: dir + "/quantwatch.toml", atomically: true, encoding: .utf8)
        let metrics = try Subscriber(port: broker.port, topic: "quantwatch/mq/metrics")
        defer { metrics.stop() }
        let daemon = try Child(CLIRun.binary.path, ["run", "--config", dir + "/quantwatch.toml"])
        defer { daemon.kill() }
        Thread.sleep(forTimeInterval: 1.5)
        func publish(_ file: String) throws {
            try MosquittoBroker.run("/usr/bin/mosquitto_pub", ["-h", "127.0.0.1", "-p", "\(broker.port)", "-t", "sensors/cam0/frames", "-f", dir + "/" + file])
        }
        try publish("garbage")
        for i in 0..<30 {
            try publish(i % 2 == 0 ? "frame.npy" : "frame.f32")
            Thread.sleep(forTimeInterval: 0.02)
        }
        // Runtime commands end to end: the shadow rate changes, status reports it and the frames seen.
        let replies = try Subscriber(port: broker.port, topic: "quantwatch/mq/reply/+")
        defer { replies.stop() }
        Thread.sleep(forTimeInterval: 0.3)
        for (name, body) in [("shadow", #"{"id":"s1","every_nth":3}"#), ("config", #"{"id":"c1","key":"shadow.min_interval_s","value":0.5}"#),
                             ("config", #"{"id":"c2","key":"store.path","value":"x"}"#), ("status", #"{"id":"st"}"#)] {
            try MosquittoBroker.run("/usr/bin/mosquitto_pub", ["-h", "127.0.0.1", "-p", "\(broker.port)", "-q", "1", "-t", "quantwatch/mq/cmd/\(name)", "-m", body])
        }
        let deadline = Date().addingTimeInterval(10)
        while replies.received < 4, Date() < deadline { Thread.sleep(forTimeInterval: 0.05) }
        let answers = replies.messages(from: 0).map(\.payload)
        #expect(answers.contains { $0.contains(#""id":"s1""#) && $0.contains(#""ok":true"#) && $0.contains(#""every_nth":3"#) }, "\(answers)")
        #expect(answers.contains { $0.contains(#""id":"c1""#) && $0.contains(#""ok":true"#) }, "\(answers)")
        #expect(answers.contains { $0.contains(#""id":"c2""#) && $0.contains(#""ok":false"#) && $0.contains("'store.path' cannot be changed at run time") }, "\(answers)")
        #expect(answers.contains { $0.contains(#""id":"st""#) && $0.contains(#""every_nth":3"#) && $0.contains(#""min_interval_s":0.5"#) }, "\(answers)")
        Thread.sleep(forTimeInterval: 1.0)
        kill(daemon.process.processIdentifier, SIGTERM)
        let (status, _, stderr) = daemon.wait()
        #expect(status == 0, "\(stderr)")
        // Frames counted in the published windows: at most 30 (one mailbox: a frame arriving before the last was read replaces it).
        let counted = metrics.messages(from: 0).compactMap { m -> Int? in
            guard let r = m.payload.range(of: #""frames":"#) else { return nil }
            return Int(m.payload[r.upperBound...].prefix { $0.isNumber })
        }.reduce(0, +)
        #expect(counted >= 20 && counted <= 30, "frames in windows: \(counted); \(stderr)")
        #expect(stderr.contains("frame refused on sensors/cam0/frames") && stderr.contains("a payload of 3 bytes without a .npy header"), "\(stderr)")
    }
}
