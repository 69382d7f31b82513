// The Last Will test's child (Tests/MQTTLinkTests/WillTests.swift): connects with a Last Will,
// prints "connected" once the broker has accepted it, and waits to be killed.
//
//     mqttlink-child URL CLIENT_ID WILL_TOPIC WILL_PAYLOAD
import MQTTLink

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

let arguments = CommandLine.arguments
guard arguments.count == 5 else {
    print("usage: mqttlink-child URL CLIENT_ID WILL_TOPIC WILL_PAYLOAD")
    exit(2)
}
var configuration = MQTTConfiguration(url: arguments[1], clientID: arguments[2])
configuration.will = MQTTMessage(topic: arguments[3], payload: Array(arguments[4].utf8), qos: 1, retain: false)
configuration.reconnectDelay = 0.1...0.5
let client = try MQTTClient(configuration: configuration)
client.start()
for await event in client.events {
    switch event {
    case .connected: print("connected")
    case .connectionFailed(let error), .disconnected(let error?): print("error \(error)")
    default: continue
    }
    fflush(nil)  // stdout is a file: flush each line
}
