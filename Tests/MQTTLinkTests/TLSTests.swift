import Foundation
import MQTTLink
import Testing
import TestSupport

/// mqtts against the broker's TLS listener, its certificate made by openssl for the test.
@Suite struct TLSTests {
    @Test func rightCAConnectsOverMQTTS() async throws {
        let broker = try MosquittoBroker(tls: true)
        let (client, events) = try startedClient(try #require(broker.tlsURL)) { $0.caFile = broker.caFile }
        defer { client.stop() }
        try await events.connected()
        let topic = uniqueTopic("metrics")
        try client.subscribe(topic)
        try await events.subscribed()
        let message = MQTTMessage(topic: topic, payload: Array("over TLS".utf8))
        try await events.acknowledged(try client.publish(message))
        #expect(try await events.message(on: topic) == message)
    }

    @Test func unknownCAIsAConnectionFailureSayingTLSVerificationFailedAndRetriesContinue() async throws {
        let broker = try MosquittoBroker(tls: true)
        let url = try #require(broker.tlsURL)
        let (client, events) = try startedClient(url) { $0.caFile = broker.unrelatedCAFile }
        defer { client.stop() }
        let error = try await events.connectionFailed()
        #expect(error.message.contains("TLS verification failed"), "\(error)")
        #expect(error.message.contains(url), "\(error)")
        _ = try await events.connectionFailed()
        _ = try await events.connectionFailed()
        #expect(!client.isConnected)
    }

    @Test func plainClientOnTheTLSPortFailsAndRetries() async throws {
        let broker = try MosquittoBroker(tls: true)
        let (client, events) = try startedClient("mqtt://127.0.0.1:\(try #require(broker.tlsPort))")
        defer { client.stop() }
        _ = try await events.connectionFailed()
        _ = try await events.connectionFailed()
    }
}
