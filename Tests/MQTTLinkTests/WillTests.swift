import Foundation
import MQTTLink
import Testing
import TestSupport

/// The Last Will: published when the client dies (SIGKILL of `mqttlink-child`), not after `stop()`.
@Suite struct WillTests {
    static var childBinary: URL {
        let beside = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        let candidates = [beside, beside.deletingLastPathComponent()].map { $0.appendingPathComponent("mqttlink-child") }
        return candidates.first { FileManager.default.isExecutableFile(atPath: $0.path) } ?? candidates[0]
    }

    @Test(arguments: [MQTTProtocolVersion.v5, .v311])
    func willIsDeliveredWhenTheClientProcessIsKilled(version: MQTTProtocolVersion) async throws {
        let broker = try MosquittoBroker()
        let willTopic = uniqueTopic("status")
        let (watcher, watched) = try startedClient(broker.url, version: version)
        defer { watcher.stop() }
        try await watched.connected()
        try watcher.subscribe(willTopic)
        try await watched.subscribed()

        let output = broker.directory.appendingPathComponent("child.out")
        _ = FileManager.default.createFile(atPath: output.path, contents: nil)
        let child = Process()
        child.executableURL = Self.childBinary
        child.arguments = [broker.url, "qw-test-child-\(UUID().uuidString.prefix(8))", willTopic, "offline"]
        child.standardOutput = try FileHandle(forWritingTo: output)
        try child.run()
        defer { if child.isRunning { kill(child.processIdentifier, SIGKILL); child.waitUntilExit() } }
        let deadline = Date().addingTimeInterval(20)
        while !((try? String(contentsOf: output, encoding: .utf8)) ?? "").contains("connected") {
            try #require(child.isRunning && Date() < deadline, "the child did not connect: \((try? String(contentsOf: output, encoding: .utf8)) ?? "")")
            try await Task.sleep(for: .milliseconds(10))
        }

        kill(child.processIdentifier, SIGKILL)
        child.waitUntilExit()
        let will = try await watched.message(on: willTopic)
        #expect(will.payload == Array("offline".utf8))
    }

    @Test(arguments: [MQTTProtocolVersion.v5, .v311])
    func willIsNotDeliveredAfterACleanStop(version: MQTTProtocolVersion) async throws {
        let broker = try MosquittoBroker()
        let willTopic = uniqueTopic("status")
        let (watcher, watched) = try startedClient(broker.url, version: version)
        defer { watcher.stop() }
        try await watched.connected()
        try watcher.subscribe(willTopic + "/#")
        try await watched.subscribed()

        let (client, events) = try startedClient(broker.url, version: version) {
            $0.will = MQTTMessage(topic: willTopic, payload: Array("offline".utf8))
        }
        try await events.connected()
        client.stop()
        #expect(try await events.disconnected() == nil)

        // A message sent after the stop arrives; the Will, had it been published, would be there too by then.
        let (marker, markers) = try startedClient(broker.url)
        defer { marker.stop() }
        try await markers.connected()
        try marker.publish(MQTTMessage(topic: willTopic + "/marker", payload: [1]))
        _ = try await watched.message(on: willTopic + "/marker")
        let willArrived = try await watched.arrives(within: 1) { if case .message(let m) = $0 { m.topic == willTopic } else { false } }
        #expect(!willArrived)
    }
}
