import Foundation
import MQTTLink
import Testing
import TestSupport

/// Publish QoS 1, the PUBACK event, and the message as a second client receives it.
@Suite struct RoundTripTests {
    @Test func qos1PublishIsAcknowledgedAndReceivedWithPayloadRetainFlagAndMQTT5Properties() async throws {
        let broker = try MosquittoBroker()
        let topic = uniqueTopic("status")
        let (publisher, published) = try startedClient(broker.url)
        defer { publisher.stop() }
        try await published.connected()
        #expect(publisher.isConnected)

        // Retained, with properties: a subscriber that comes later gets it with the retain flag.
        let retained = MQTTMessage(
            topic: topic, payload: Array("{\"state\":\"online\"}".utf8), qos: 1, retain: true,
            responseTopic: "qw-test/replies", correlationData: [0, 1, 2, 255])
        let mid = try publisher.publish(retained)
        try await published.acknowledged(mid)

        let (subscriber, received) = try startedClient(broker.url)
        defer { subscriber.stop() }
        try await received.connected()
        try subscriber.subscribe(topic + "/#", qos: 1)
        try subscriber.subscribe(topic, qos: 1)
        try await received.subscribed()
        #expect(try await received.message(on: topic) == retained)

        // Live, not retained, binary payload, other properties.
        let live = MQTTMessage(topic: topic + "/metrics", payload: (0...255).map(UInt8.init), qos: 1, retain: false,
                               responseTopic: "qw-test/other", correlationData: Array("id-42".utf8))
        let liveID = try publisher.publish(live)
        try await published.acknowledged(liveID)
        #expect(try await received.message(on: live.topic) == live)
        #expect(liveID != mid)
    }

    @Test func mqtt311RoundTripCarriesPayloadAndRetainAndIgnoresProperties() async throws {
        let broker = try MosquittoBroker()
        let topic = uniqueTopic("metrics")
        let (publisher, published) = try startedClient(broker.url, version: .v311)
        defer { publisher.stop() }
        let (subscriber, received) = try startedClient(broker.url, version: .v311)
        defer { subscriber.stop() }
        try await published.connected()
        try await received.connected()
        try subscriber.subscribe(topic)
        try await received.subscribed()

        let mid = try publisher.publish(MQTTMessage(topic: topic, payload: [1, 2, 3], responseTopic: "ignored", correlationData: [9]))
        try await published.acknowledged(mid)
        #expect(try await received.message(on: topic) == MQTTMessage(topic: topic, payload: [1, 2, 3], qos: 1, retain: false))

        let retainedID = try publisher.publish(MQTTMessage(topic: topic + "/r", payload: [4], retain: true))
        try await published.acknowledged(retainedID)
        try subscriber.subscribe(topic + "/r", qos: 0)
        #expect(try await received.message(on: topic + "/r") == MQTTMessage(topic: topic + "/r", payload: [4], qos: 0, retain: true))
    }

    @Test func stopDisconnectsCleanlyAndFinishesTheEvents() async throws {
        let broker = try MosquittoBroker()
        let (client, events) = try startedClient(broker.url)
        try await events.connected()
        client.stop()
        #expect(try await events.disconnected() == nil)
        #expect(!client.isConnected)
        client.stop()  // idempotent
        let deadline = Date().addingTimeInterval(5)
        while !events.isFinished, Date() < deadline { try await Task.sleep(for: .milliseconds(10)) }
        #expect(events.isFinished)
        #expect(throws: MQTTError.self) { try client.publish(MQTTMessage(topic: "qw-test/x", payload: [1])) }
    }
}
