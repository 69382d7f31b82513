import Foundation
import MQTTLink
import Testing
import TestSupport

/// QoS 1 publishes per second to a local broker, every PUBACK received. Printed, not asserted
/// (timing belongs in benchmarks; docs/mqtt-link.md has numbers from a quiet machine).
@Suite(.serialized) struct ThroughputTests {
    @Test(arguments: [32, 100])
    func qos1PublishRateWithAllAcknowledgements(maxInflight: Int) async throws {
        // max_inflight_messages 0: the broker sends no Receive Maximum, so the client's maxInflight
        // applies (mosquitto's default, 20, would replace it on MQTT 5).
        let broker = try MosquittoBroker(extraConfiguration: ["max_inflight_messages 0"])
        let (client, events) = try startedClient(broker.url) { $0.maxInflight = maxInflight }
        defer { client.stop() }
        try await events.connected()
        let count = 5000
        let payload = [UInt8](repeating: 0x7B, count: 300)  // about one metrics document
        let topic = uniqueTopic("metrics")
        let start = Date()
        var last: Int32 = 0
        for _ in 0..<count { last = try client.publish(MQTTMessage(topic: topic, payload: payload, qos: 1)) }
        try await events.acknowledged(last)
        let acknowledged = events.all.filter { if case .acknowledged = $0 { true } else { false } }.count
        let seconds = Date().timeIntervalSince(start)
        #expect(acknowledged == count)
        print("MQTTLink throughput: maxInflight \(maxInflight): \(count) QoS 1 publishes of \(payload.count) B, all acknowledged, in \(String(format: "%.3f", seconds)) s = \(Int(Double(count) / seconds)) msg/s")
    }
}
