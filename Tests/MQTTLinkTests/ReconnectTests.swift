import Foundation
import MQTTLink
import Testing
import TestSupport

/// The link keeps itself connected: broker restarts, broker down at start, publishing meanwhile.
@Suite struct ReconnectTests {
    @Test func reconnectsAfterTheBrokerRestartsAndRenewsSubscriptions() async throws {
        let broker = try MosquittoBroker()
        let topic = uniqueTopic("cmd/shadow-rate")
        let (client, events) = try startedClient(broker.url)
        defer { client.stop() }
        try await events.connected()
        try client.subscribe(topic)
        try await events.subscribed()

        broker.stop()
        let error = try #require(try await events.disconnected())
        #expect(error.message.contains(broker.url))
        #expect(!client.isConnected)
        // Not connected: publish throws NO_CONN, so the caller keeps the row buffered.
        #expect { try client.publish(MQTTMessage(topic: topic, payload: [1])) } throws: { ($0 as? MQTTError)?.isNotConnected == true }
        // While the broker is down, attempts fail and are reported.
        _ = try await events.connectionFailed()

        try broker.start()
        try await events.connected()
        #expect(client.isConnected)
        // In order: connected, disconnected (with the error), connection failures, connected.
        let kinds = events.all.compactMap { event -> String? in
            switch event {
            case .connected: "connected"
            case .disconnected(let error): error == nil ? "stopped" : "disconnected"
            case .connectionFailed: "failed"
            default: nil
            }
        }
        #expect(kinds.first == "connected" && kinds.last == "connected" && kinds[1] == "disconnected", "\(kinds)")
        #expect(kinds.dropFirst(2).dropLast().allSatisfy { $0 == "failed" }, "\(kinds)")

        // The subscription was renewed on the new connection (clean start: the broker forgot it).
        let (sender, sent) = try startedClient(broker.url)
        defer { sender.stop() }
        try await sent.connected()
        try sender.publish(MQTTMessage(topic: topic, payload: Array("42".utf8)))
        #expect(try await events.message(on: topic).payload == Array("42".utf8))
        // And publishing works again.
        let mid = try client.publish(MQTTMessage(topic: topic + "/reply", payload: [7]))
        try await events.acknowledged(mid)
    }

    @Test func brokerDownAtStartConnectsOnceItComesUp() async throws {
        let broker = try MosquittoBroker()
        broker.stop()
        let (client, events) = try startedClient(broker.url)
        defer { client.stop() }
        let error = try await events.connectionFailed()
        #expect(error.message.contains(broker.url), "\(error)")
        #expect(error.message.lowercased().contains("refused"), "\(error)")
        _ = try await events.connectionFailed()  // it keeps trying
        #expect { try client.publish(MQTTMessage(topic: "qw-test/x", payload: [1])) } throws: { ($0 as? MQTTError)?.isNotConnected == true }

        try broker.start()
        try await events.connected()
        let mid = try client.publish(MQTTMessage(topic: uniqueTopic("metrics"), payload: [1]))
        try await events.acknowledged(mid)
    }

    @Test func publishBeforeStartThrowsNotConnected() throws {
        let (client, _) = try startedClient("mqtt://127.0.0.1:1", start: false)
        #expect(!client.isConnected)
        #expect { try client.publish(MQTTMessage(topic: "qw-test/x", payload: [1])) } throws: { error in
            let error = error as? MQTTError
            return error?.isNotConnected == true && error?.message.contains("mqtt://127.0.0.1:1") == true
        }
    }
}

/// What happens to QoS 1 messages the broker never acknowledged when the connection drops.
@Suite struct InflightTests {
    @Test func unacknowledgedQoS1MessagesAreSentAgainByLibmosquittoAfterTheReconnect() async throws {
        let broker = try MosquittoBroker()
        let topic = uniqueTopic("status")
        let (client, events) = try startedClient(broker.url)
        defer { client.stop() }
        try await events.connected()

        // The broker hangs: the client still counts as connected, the messages are written to the
        // socket, no PUBACK comes. Then the broker dies without having read them.
        broker.suspend()
        let mids = try (1...3).map { try client.publish(MQTTMessage(topic: topic, payload: [UInt8($0)], retain: true)) }
        try await Task.sleep(for: .milliseconds(200))
        #expect(!events.all.contains { if case .acknowledged = $0 { true } else { false } })
        broker.kill()
        _ = try await events.disconnected()

        // A new broker process (persistence off: it knows nothing of them). After the CONNACK,
        // libmosquitto re-sends the three (DUP), on a clean-start session, and they are acknowledged.
        try broker.start()
        try await events.connected()
        for mid in mids { try await events.acknowledged(mid) }

        let (reader, read) = try startedClient(broker.url)
        defer { reader.stop() }
        try await read.connected()
        try reader.subscribe(topic)
        #expect(try await read.message(on: topic).payload == [3])  // the last retained one
    }
}

/// A broker that stops answering (a hung network) is noticed by the keep-alive.
@Suite struct KeepAliveTests {
    @Test func hungBrokerIsNoticedByTheKeepAliveAndTheLinkReconnectsWhenItAnswersAgain() async throws {
        let broker = try MosquittoBroker()
        let (client, events) = try startedClient(broker.url) { $0.keepAliveSeconds = 5 }
        defer { client.stop() }
        try await events.connected()
        broker.suspend()
        // PINGREQ after 5 s of silence, no PINGRESP within another 5 s: disconnected.
        let error = try #require(try await events.disconnected(timeout: 30))
        #expect(error.code == .library(19), "\(error)")  // MOSQ_ERR_KEEPALIVE
        broker.resume()
        try await events.connected(timeout: 30)
    }
}
