import Documents
import Foundation
import MetricStore
import ModelUpdate
import MQTTLink
import QuantWatchDaemon
import Testing
import TestSupport

/// Accepts any header and keeps the payload it was asked to install. The bundle checks themselves (signature,
/// manifest, version, canary) are the verifier's and tested with it; here the transfer is under test.
final class KeepingAdmission: UpdateAdmission, @unchecked Sendable {
    private let lock = NSLock()
    private var admittedCount = 0
    private var payloads: [[UInt8]] = []
    let refusal: UpdateRefusal?
    init(refusal: UpdateRefusal? = nil) { self.refusal = refusal }

    var admitted: Int { lock.withLock { admittedCount } }
    var installed: [[UInt8]] { lock.withLock { payloads } }

    func admit(header: [UInt8], payloadSize: Int) async throws(UpdateRefusal) -> AdmissionInfo {
        lock.withLock { admittedCount += 1 }
        if let refusal { throw refusal }
        return AdmissionInfo(name: "mqtt-test", version: 7)
    }

    func install(_ completed: CompletedTransfer) async -> UpdateVerdict {
        let payload = (try? Data(contentsOf: URL(fileURLWithPath: completed.payloadPath))).map(Array.init) ?? []
        lock.withLock { payloads.append(payload) }
        return .installed(details: .object(["version": .number(7)]))
    }
}

/// The daemon's MQTT side as `quantwatch run` wires it — its buffer, publisher, command dispatcher and
/// transfer receiver — without the inference loop.
final class TransferDevice: @unchecked Sendable {
    let id: String
    let buffer: MetricBuffer
    let client: MQTTClient
    let publisher: MQTTPublisher
    let receiver: TransferReceiver
    let loop: Task<Void, Never>

    init(id: String, group: String? = nil, broker: String, directory: URL, admission: any UpdateAdmission) async throws {
        self.id = id
        let now: @Sendable () -> Int64 = { Int64(Date().timeIntervalSince1970 * 1000) }
        let topics = TopicTree(device: id, group: group)
        buffer = try MetricBuffer(options: .init(path: directory.appendingPathComponent("\(id).db").path), device: id,
                                  model: ModelReference(name: "m", version: "1", sha256: String(repeating: "0", count: 64)))
        var link = MQTTConfiguration(url: broker, clientID: "qw-device-\(id)-\(UUID().uuidString.prefix(6))")
        link.reconnectDelay = 0.2...1
        client = try MQTTClient(configuration: link)
        let dispatcher = CommandDispatcher()
        publisher = MQTTPublisher(settings: PublisherSettings(topics: topics, software: "test"), buffer: buffer, client: client, commands: dispatcher, clock: now)
        receiver = UpdateCommands.receiver(settings: TransferSettings(stateDirectory: directory.appendingPathComponent("state-\(id)").path),
                                           admission: admission, publisher: publisher)
        await UpdateCommands.register(receiver, on: dispatcher)
        try await receiver.start()
        await publisher.update(model: ModelReference(name: "m", version: "1", sha256: String(repeating: "0", count: 64)), drift: nil, sinceMs: now())
        let publisher = publisher
        loop = Task { await publisher.run() }
        client.start()
    }

    /// Stops as a killed device would look to the broker (the transfer's files stay).
    func stop() async {
        loop.cancel()
        await buffer.changed()
        client.stop()
        await loop.value
        await receiver.close()
        await buffer.close()
    }

    /// Chunks on disk now.
    var received: Int { get async { await receiver.current?.received ?? 0 } }
}

@Suite(.serialized) struct TransferOverMQTTTests {
    let directory: URL
    init() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("qw-transfer-mqtt-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    }

    static func bundle(payloadSize: Int, seed: UInt64 = 7) -> [UInt8] { TransferBundle.make(payloadSize: payloadSize, seed: seed) }

    func pusher(_ bundle: [UInt8], broker: MosquittoBroker, target: PushTarget, chunkSize: Int = 64 << 10,
                windowBytes: Int = 1 << 20, timeout: Duration = .seconds(60)) throws -> BundlePusher {
        var link = MQTTConfiguration(url: broker.url, clientID: "qw-push-\(UUID().uuidString.prefix(8))")
        link.reconnectDelay = 0.2...1
        var settings = PushSettings(target: target)
        settings.chunkSize = chunkSize
        settings.windowBytes = windowBytes
        settings.timeout = timeout
        settings.silence = .seconds(2)
        settings.discovery = .seconds(1)
        return try BundlePusher(bundle: bundle, settings: settings, client: try MQTTClient(configuration: link))
    }

    static func seconds(_ d: Duration) -> Double { Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18 }

    @Test func aFiveMegabyteBundleCrossesABrokerLimitedTo100KiBMessagesIn64KiBChunks() async throws {
        defer { try? FileManager.default.removeItem(at: directory) }
        let broker = try MosquittoBroker(extraConfiguration: ["message_size_limit 102400"])
        // The limit is real: a 150 KiB message is not delivered, a 64 KiB chunk frame is.
        let probe = try MQTTClient(configuration: MQTTConfiguration(url: broker.url, clientID: "qw-probe"))
        let seen = Locked<[Int]>([])
        try probe.subscribe("probe/#", qos: 1)
        let listening = Task { for await e in probe.events { if case let .message(m) = e { seen.withLock { $0.append(m.payload.count) } } } }
        probe.start()
        while !probe.isConnected { try await Task.sleep(for: .milliseconds(20)) }
        try await Task.sleep(for: .milliseconds(200))
        _ = try? probe.publish(MQTTMessage(topic: "probe/big", payload: [UInt8](repeating: 1, count: 150 << 10)))
        _ = try probe.publish(MQTTMessage(topic: "probe/chunk", payload: [UInt8](repeating: 1, count: (64 << 10) + ChunkFrame.overhead)))
        try await Task.sleep(for: .seconds(1))
        probe.stop()
        listening.cancel()
        #expect(seen.withLock { $0 } == [(64 << 10) + ChunkFrame.overhead], "the broker's message_size_limit is not in force")

        let admission = KeepingAdmission()
        let device = try await TransferDevice(id: "pi-5mb", broker: broker.url, directory: directory, admission: admission)
        let bundle = Self.bundle(payloadSize: 5 << 20)
        let push = try pusher(bundle, broker: broker, target: .device("pi-5mb"))
        let start = ContinuousClock.now
        let outcomes = await push.run()
        let elapsed = ContinuousClock.now - start
        #expect(outcomes.map(\.verdict) == [.installed], "\(outcomes)")
        let payload = try #require(admission.installed.first)
        #expect(payload == TransferBundle.payload(of: bundle), "the installed payload differs from the bundle's")
        let sent = await push.chunksSent
        // Every chunk went at least once; on a loaded machine a device silent for the pusher's 2 s gets the
        // begin again and what it still misses (a resend is correct, not a failure).
        #expect(sent >= 80)
        print("5 MiB bundle, 80 chunks of 64 KiB, through a broker limited to 100 KiB messages: \(String(format: "%.2f", Self.seconds(elapsed))) s, \(sent) chunks sent")
        await device.stop()
    }

    @Test func aTransferInterruptedByABrokerRestartResumesAndCompletes() async throws {
        defer { try? FileManager.default.removeItem(at: directory) }
        let broker = try MosquittoBroker(extraConfiguration: ["message_size_limit 102400"])
        let admission = KeepingAdmission()
        let device = try await TransferDevice(id: "pi-restart", broker: broker.url, directory: directory, admission: admission)
        let bundle = Self.bundle(payloadSize: 5 << 20, seed: 11)
        // 16 KiB chunks, two in flight: slow enough on loopback to stop the broker part-way.
        let push = try pusher(bundle, broker: broker, target: .device("pi-restart"), chunkSize: 16 << 10, windowBytes: 32 << 10)
        let start = ContinuousClock.now
        let running = Task { await push.run() }
        var before = 0
        while before < 40, ContinuousClock.now - start < .seconds(30) {
            try await Task.sleep(for: .milliseconds(2))
            before = await device.received
        }
        broker.stop()
        let stoppedAt = await device.received
        try await Task.sleep(for: .seconds(1))
        try broker.start()
        let restarted = ContinuousClock.now
        let outcomes = await running.value
        let resumeTime = ContinuousClock.now - restarted
        #expect(stoppedAt > 0 && stoppedAt < 320, "the broker was not stopped mid-transfer (\(stoppedAt) of 320 chunks on disk)")
        #expect(outcomes.map(\.verdict) == [.installed], "\(outcomes)")
        #expect(admission.installed.first == TransferBundle.payload(of: bundle))
        #expect(admission.admitted == 1, "the transfer started over instead of resuming")
        let sent = await push.chunksSent
        print("broker restart at \(stoppedAt)/320 chunks: completed \(String(format: "%.2f", Self.seconds(resumeTime))) s after the broker came back; "
            + "\(sent) chunks sent for 320 (\(sent - 320) again)")
        await device.stop()
    }

    @Test func aDeviceRestartMidTransferResumesFromTheChunksOnItsDisk() async throws {
        defer { try? FileManager.default.removeItem(at: directory) }
        let broker = try MosquittoBroker()
        let admission = KeepingAdmission()
        let first = try await TransferDevice(id: "pi-reboot", broker: broker.url, directory: directory, admission: admission)
        let bundle = Self.bundle(payloadSize: 2 << 20, seed: 13)
        let push = try pusher(bundle, broker: broker, target: .device("pi-reboot"), chunkSize: 8 << 10, windowBytes: 16 << 10)
        let running = Task { await push.run() }
        let start = ContinuousClock.now
        while await first.received < 60, ContinuousClock.now - start < .seconds(30) { try await Task.sleep(for: .milliseconds(2)) }
        await first.stop()
        let kept = await first.receiver.current?.received ?? 0
        try await Task.sleep(for: .milliseconds(500))
        let second = try await TransferDevice(id: "pi-reboot", broker: broker.url, directory: directory, admission: admission)
        let found = await second.received
        let outcomes = await running.value
        #expect(found >= 60 && found < 256, "the new receiver found \(found) chunks on disk")
        #expect(outcomes.map(\.verdict) == [.installed], "\(outcomes)")
        #expect(admission.installed.first == TransferBundle.payload(of: bundle))
        #expect(admission.admitted == 1)
        print("device restart at \(kept)/256 chunks: \(found) found on disk by the new receiver; \(await push.chunksSent) chunks sent")
        await second.stop()
    }

    @Test func aGroupPushReachesEveryOnlineMemberAndReportsEachVerdict() async throws {
        defer { try? FileManager.default.removeItem(at: directory) }
        let broker = try MosquittoBroker()
        let good = KeepingAdmission(), bad = KeepingAdmission(refusal: UpdateRefusal(.version, "version 7 is not newer than the installed 9"))
        let a = try await TransferDevice(id: "lab-a", group: "lab", broker: broker.url, directory: directory, admission: good)
        let b = try await TransferDevice(id: "lab-b", group: "lab", broker: broker.url, directory: directory, admission: good)
        let c = try await TransferDevice(id: "lab-c", group: "lab", broker: broker.url, directory: directory, admission: bad)
        let other = KeepingAdmission()
        let outsider = try await TransferDevice(id: "field-1", group: "field", broker: broker.url, directory: directory, admission: other)
        try await Task.sleep(for: .milliseconds(500))   // their retained status documents are in
        let bundle = Self.bundle(payloadSize: 600_000, seed: 17)
        let outcomes = await (try pusher(bundle, broker: broker, target: .group("lab"))).run()
        #expect(outcomes.map(\.device) == ["lab-a", "lab-b", "lab-c"])
        #expect(outcomes.map(\.verdict) == [.installed, .installed, .refused])
        #expect(outcomes.last?.message == "version: version 7 is not newer than the installed 9")
        #expect(good.installed.count == 2 && good.installed.allSatisfy { $0 == TransferBundle.payload(of: bundle) })
        #expect(other.admitted == 0, "a device of another group took part")
        for d in [a, b, c, outsider] { await d.stop() }
    }

    @Test func garbageChunksAndMalformedBeginsGetErrorRepliesAndChangeNothing() async throws {
        defer { try? FileManager.default.removeItem(at: directory) }
        let broker = try MosquittoBroker()
        let admission = KeepingAdmission()
        let device = try await TransferDevice(id: "pi-garbage", broker: broker.url, directory: directory, admission: admission)
        let client = try MQTTClient(configuration: MQTTConfiguration(url: broker.url, clientID: "qw-garbage"))
        let replies = Locked<[String]>([])
        try client.subscribe("quantwatch/pi-garbage/reply/+", qos: 1)
        let listening = Task { for await e in client.events { if case let .message(m) = e { replies.withLock { $0.append(m.topic + " " + String(decoding: m.payload, as: UTF8.self)) } } } }
        client.start()
        while !client.isConnected { try await Task.sleep(for: .milliseconds(20)) }
        try await Task.sleep(for: .milliseconds(300))
        func send(_ name: String, _ payload: [UInt8]) throws { try client.publish(MQTTMessage(topic: "quantwatch/pi-garbage/cmd/\(name)", payload: payload)) }
        try send("update_chunk", Array("{\"id\":1}".utf8))
        try await Task.sleep(for: .milliseconds(1100))   // chunk errors: one reply a second
        try send("update_chunk", ChunkFrame(transfer: TransferID(hex: String(repeating: "1", count: 32))!, index: 3, bytes: [1, 2]).encoded)
        try send("update_begin", Array(#"{"id":"b1","transfer":"nothex"}"#.utf8))
        try send("update_begin", [0xFF, 0x00, 0x13])
        try send("update_status", Array(#"{"id":"s1","transfer":"\#(String(repeating: "2", count: 32))"}"#.utf8))
        try send("update_abort", Array(#"{"id":"a1","transfer":"\#(String(repeating: "2", count: 32))"}"#.utf8))
        let deadline = ContinuousClock.now + .seconds(5)
        while replies.withLock({ $0.count }) < 6, ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(50)) }
        client.stop()
        listening.cancel()
        let all = replies.withLock { $0 }
        func reply(_ suffix: String, containing text: String) -> Bool { all.contains { $0.hasPrefix("quantwatch/pi-garbage/reply/" + suffix + " ") && $0.contains(text) } }
        #expect(reply("update_chunk", containing: "does not start with \\\"QWCK\\\"") || reply("update_chunk", containing: "is 8 bytes"), "\(all)")
        #expect(reply("update_chunk", containing: "no such transfer under way"), "\(all)")
        #expect(reply("update_begin", containing: "'nothex' is not 32 hex digits"), "\(all)")
        #expect(reply("update_begin", containing: "not JSON"), "\(all)")
        #expect(reply("update_status", containing: #""state":"idle""#), "\(all)")
        #expect(reply("update_abort", containing: "no transfer 2222"), "\(all)")
        #expect(admission.admitted == 0)
        await device.stop()
    }
}

/// A value behind a lock, for test listeners.
final class Locked<T>: @unchecked Sendable {
    private let lock = NSLock()
    private var value: T
    init(_ value: T) { self.value = value }
    func withLock<R>(_ body: (inout T) -> R) -> R { lock.withLock { body(&value) } }
}
