import ArgumentParser
import MQTTLink

/// Broker options shared by `watch` and `publish`. The password comes from a file, never the command line.
struct BrokerOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp("The broker: mqtt://host[:1883] or mqtts://host[:8883].", valueName: "URL")) var broker: String
    @Option(name: .long, help: "MQTT username.") var username: String?
    @Option(name: .long, help: ArgumentHelp("A file whose first line is the password.", valueName: "FILE")) var passwordFile: String?
    @Option(name: .long, help: ArgumentHelp("CA certificates to verify the broker (mqtts).", valueName: "FILE")) var caFile: String?
    @Option(name: .long, help: ArgumentHelp("Client certificate (mqtts, optional).", valueName: "FILE")) var certFile: String?
    @Option(name: .long, help: ArgumentHelp("Client key (mqtts, optional).", valueName: "FILE")) var keyFile: String?
    @Flag(name: .long, help: "Speak MQTT 3.1.1 instead of 5.") var mqtt311 = false
    @Option(name: .long, help: "Topic prefix.") var prefix: String = "quantwatch"

    func configuration(clientID: String) -> MQTTConfiguration {
        var c = MQTTConfiguration(url: broker, clientID: clientID)
        c.protocolVersion = mqtt311 ? .v311 : .v5
        c.username = username
        c.passwordFile = passwordFile
        c.caFile = caFile
        c.certificateFile = certFile
        c.keyFile = keyFile
        return c
    }
}
