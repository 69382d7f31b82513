import MQTTLink
import Testing

/// What `MQTTClient.init` refuses, with a message naming the URL, file or setting.
@Suite struct ConfigurationTests {
    func initError(_ url: String, _ configure: (inout MQTTConfiguration) -> Void = { _ in }) -> MQTTError? {
        var configuration = MQTTConfiguration(url: url, clientID: "dev1")
        configure(&configuration)
        do {
            _ = try MQTTClient(configuration: configuration)
            return nil
        } catch {
            return error
        }
    }

    @Test(arguments: ["http://broker:1883", "tcp://broker", "mqtt://", "mqtt://broker:0", "mqtt://broker:99999",
                      "mqtt://broker:port", "broker:1883", "mqtt://user@broker", "mqtt://broker/topic", "mqtt://[::1"])
    func badURLFailsInitNamingTheURLAndWhatIsExpected(url: String) throws {
        let error = try #require(initError(url))
        #expect(error.code == .configuration)
        #expect(error.message.contains("\"\(url)\""), "\(error)")
        #expect(error.message.contains("mqtt://host[:port]") && error.message.contains("mqtts://host[:port]"), "\(error)")
    }

    @Test(arguments: ["mqtt://broker", "mqtt://broker:1884", "mqtts://broker.example.com", "mqtt://[::1]:1883", "mqtt://10.0.0.2/"])
    func goodURLsAreAccepted(url: String) {
        #expect(initError(url) == nil)
    }

    @Test func settingsThatCannotWorkAreRefused() {
        #expect(initError("mqtt://broker") { $0.caFile = "/etc/hostname" }?.message.contains("mqtts://") == true)
        #expect(initError("mqtts://broker") { $0.caFile = "/nonexistent/ca.crt" }?.message.contains("/nonexistent/ca.crt") == true)
        #expect(initError("mqtts://broker") { $0.certificateFile = "/etc/hostname" }?.message.contains("both or neither") == true)
        #expect(initError("mqtt://broker") { $0.passwordFile = "/etc/hostname" }?.message.contains("username") == true)
        #expect(initError("mqtt://broker") { $0.clientID = "" }?.message.contains("client ID") == true)
        #expect(initError("mqtt://broker") { $0.maxInflight = 0 }?.message.contains("maxInflight") == true)
        #expect(initError("mqtt://broker") { $0.keepAliveSeconds = 2 }?.message.contains("keepAliveSeconds") == true)
        #expect(initError("mqtt://broker") { $0.reconnectDelay = 0...1 }?.message.contains("reconnectDelay") == true)
        #expect(initError("mqtt://broker") { $0.will = MQTTMessage(topic: "a/+/b", payload: []) }?.message.contains("Last Will") == true)
    }

    @Test func invalidPublishAndSubscribeArgumentsThrow() throws {
        let client = try MQTTClient(configuration: MQTTConfiguration(url: "mqtt://127.0.0.1:1", clientID: "dev1"))
        #expect(throws: MQTTError.self) { try client.publish(MQTTMessage(topic: "a/#", payload: [])) }
        #expect(throws: MQTTError.self) { try client.publish(MQTTMessage(topic: "a", payload: [], qos: 3)) }
        #expect(throws: MQTTError.self) { try client.subscribe("a/#/b") }
        #expect(throws: MQTTError.self) { try client.subscribe("a/b", qos: -1) }
        try client.subscribe("a/+/b")  // remembered for the first connect
    }
}
