import Foundation
import MQTTLink
import Testing
import TestSupport

/// User name and password file; what a refused CONNACK looks like.
@Suite struct CredentialsTests {
    @Test(arguments: [MQTTProtocolVersion.v5, .v311])
    func rightPasswordFromTheFileConnects(version: MQTTProtocolVersion) async throws {
        let broker = try MosquittoBroker(users: ["dev1": "s3cret pass"])
        let (client, events) = try startedClient(broker.url, version: version) {
            $0.username = "dev1"
            $0.passwordFile = broker.passwordFiles["dev1"]
        }
        defer { client.stop() }
        try await events.connected()
    }

    @Test(arguments: [MQTTProtocolVersion.v5, .v311])
    func wrongPasswordIsAConnectionFailureNamingTheReasonAndRetriesContinue(version: MQTTProtocolVersion) async throws {
        let broker = try MosquittoBroker(users: ["dev1": "right"])
        let directory = broker.directory.appendingPathComponent("wrong").path
        try "wrong\n".write(toFile: directory, atomically: true, encoding: .utf8)
        let (client, events) = try startedClient(broker.url, version: version) {
            $0.username = "dev1"
            $0.passwordFile = directory
        }
        defer { client.stop() }
        let error = try await events.connectionFailed()
        #expect(error.message.contains(broker.url), "\(error)")
        #expect(error.message.contains("refused"), "\(error)")
        #expect(error.message.lowercased().contains("password") || error.message.lowercased().contains("not authorised")
                || error.message.lowercased().contains("not authorized"), "\(error)")
        if version == .v5 {
            // mosquitto 2.0.11 answers 135 (not authorized); others 134 (bad user name or password).
            #expect(error.code == .connack(134) || error.code == .connack(135), "\(error)")
        } else {
            #expect(error.code == .connack(5) || error.code == .connack(4), "\(error)")  // not authorised / bad credentials
        }
        // It keeps trying (with back-off), and nothing crashed.
        _ = try await events.connectionFailed()
        _ = try await events.connectionFailed()
        #expect(!client.isConnected)
    }

    @Test func missingPasswordFileFailsInitNamingTheFile() {
        var configuration = MQTTConfiguration(url: "mqtt://127.0.0.1", clientID: "dev1")
        configuration.username = "dev1"
        configuration.passwordFile = "/nonexistent/quantwatch/mqtt-password"
        #expect { try MQTTClient(configuration: configuration) } throws: { error in
            let message = (error as? MQTTError)?.message ?? ""
            return message.contains("/nonexistent/quantwatch/mqtt-password") && message.contains("No such file")
        }
    }
}

/// A message the broker's ACL refuses: MQTT 5 reports it; 3.1.1 cannot tell.
@Suite struct AuthorizationTests {
    @Test func publishRefusedByTheBrokerACLIsReportedOnMQTT5() async throws {
        let broker = try MosquittoBroker(users: ["dev1": "pw"], acl: "user dev1\ntopic write quantwatch/dev1/#\n")
        let (client, events) = try startedClient(broker.url) {
            $0.username = "dev1"
            $0.passwordFile = broker.passwordFiles["dev1"]
        }
        defer { client.stop() }
        try await events.connected()
        let allowed = try client.publish(MQTTMessage(topic: "quantwatch/dev1/metrics", payload: [1]))
        let refused = try client.publish(MQTTMessage(topic: "quantwatch/dev2/metrics", payload: [1]))
        try await events.acknowledged(allowed)
        let event = try await events.next(".publishRefused") { if case .publishRefused(refused, _) = $0 { true } else { false } }
        guard case .publishRefused(_, let error) = event else { return }
        #expect(error.code == .reason(135), "\(error)")  // not authorized
        #expect(error.message.contains("Not authorized"), "\(error)")
        #expect(client.isConnected)
    }
}

extension AuthorizationTests {
    /// MQTT 3.1.1 has no way to refuse a PUBLISH: mosquitto acknowledges it and drops it.
    @Test func publishRefusedByTheBrokerACLIsAcknowledgedOnMQTT311() async throws {
        let broker = try MosquittoBroker(users: ["dev1": "pw"], acl: "user dev1\ntopic write quantwatch/dev1/#\n")
        let (client, events) = try startedClient(broker.url, version: .v311) {
            $0.username = "dev1"
            $0.passwordFile = broker.passwordFiles["dev1"]
        }
        defer { client.stop() }
        try await events.connected()
        try await events.acknowledged(try client.publish(MQTTMessage(topic: "quantwatch/dev2/metrics", payload: [1])))
    }
}
