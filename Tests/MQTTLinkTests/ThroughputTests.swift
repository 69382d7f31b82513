import Foundation
import MQTTLink
import Testing
import TestSupport

/// QoS 1 publishes per second to a local broker, every PUBACK received. Printed, not asserted
/// (timing belongs in benchmarks; docs/mqtt-link.md has numbers from a quiet machine).
@Suite(.serialized) struct ThroughputTests {
    /// maxInflight 32 and 100 as the daemon would run; 1 (one PUBACK round trip per message) and
    /// the broker's default Receive Maximum (20, which replaces maxInflight on MQTT 5) for comparison.
    @Test(arguments: [(1, 0), (32, 0), (100, 0), (100, 20)])
    func qos1PublishRateWithAllAcknowledgements(maxInflight: Int, brokerReceiveMaximum: Int) async throws {
        // max_inflight_messages 0: the broker sends no Receive Maximum, so the client's maxInflight applies.
        let broker = try MosquittoBroker(extraConfiguration: ["max_inflight_messages \(brokerReceiveMaximum)"])
        let (client, events) = try startedClient(broker.url) { $0.maxInflight = maxInflight }
        defer { client.stop() }
        try await events.connected()
        let count = 10_000
        let payload = [UInt8](repeating: 0x7B, count: 300)  // about one metrics document
        let topic = uniqueTopic("metrics")
        let start = Date()
        var last: Int32 = 0
        for _ in 0..<count { last = try client.publish(MQTTMessage(topic: topic, payload: payload, qos: 1)) }
        try await events.acknowledged(last)
        let acknowledged = events.all.filter { if case .acknowledged = $0 { true } else { false } }.count
        let seconds = Date().timeIntervalSince(start)
        #expect(acknowledged == count)
        let limit = brokerReceiveMaximum == 0 ? "" : " (broker Receive Maximum \(brokerReceiveMaximum))"
        print("MQTTLink throughput: maxInflight \(maxInflight)\(limit): \(count) QoS 1 publishes of \(payload.count) B, all acknowledged, in \(String(format: "%.3f", seconds)) s = \(Int(Double(count) / seconds)) msg/s")
    }
}
