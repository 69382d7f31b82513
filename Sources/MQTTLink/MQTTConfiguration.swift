#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// The MQTT protocol version spoken to the broker.
public enum MQTTProtocolVersion: Sendable {
    /// MQTT 5: reason codes, response topic and correlation data properties.
    case v5
    /// MQTT 3.1.1: the properties of `MQTTMessage` are ignored.
    case v311
}

/// One MQTT message, published or received.
public struct MQTTMessage: Sendable, Equatable {
    public var topic: String
    public var payload: [UInt8]
    /// 0, 1 or 2.
    public var qos: Int
    public var retain: Bool
    /// MQTT 5 Response Topic property (ignored on 3.1.1).
    public var responseTopic: String?
    /// MQTT 5 Correlation Data property (ignored on 3.1.1).
    public var correlationData: [UInt8]?

    public init(
        topic: String, payload: [UInt8], qos: Int = 1, retain: Bool = false, responseTopic: String? = nil,
        correlationData: [UInt8]? = nil
    ) {
        self.topic = topic
        self.payload = payload
        self.qos = qos
        self.retain = retain
        self.responseTopic = responseTopic
        self.correlationData = correlationData
    }
}

/// How to reach the broker. Validated (and the password file read) by `MQTTClient.init`.
public struct MQTTConfiguration: Sendable {
    /// `mqtt://host[:1883]` or `mqtts://host[:8883]`; an IPv6 host goes in brackets (`mqtt://[::1]`).
    public var url: String
    public var protocolVersion: MQTTProtocolVersion = .v5
    /// The MQTT client identifier; unique per device (the broker disconnects the older of two
    /// clients with the same identifier).
    public var clientID: String
    public var username: String?
    /// The password is read from this file (its first line, without the line end) when the client
    /// is created — never from a command line. Needs `username`.
    public var passwordFile: String?
    /// TLS (mqtts only): the CA certificate(s) that signed the broker's certificate, PEM. When nil,
    /// the system's CA certificates are used.
    public var caFile: String?
    /// TLS client certificate and its key, PEM (both or neither).
    public var certificateFile: String?, keyFile: String?
    public var keepAliveSeconds: Int = 30
    /// Exponential back-off between connection attempts, in seconds: the first retry waits the lower
    /// bound, each failed attempt doubles the wait up to the upper bound; a successful connection
    /// resets it. Each wait is shortened by up to 20 % at random (jitter), so that a fleet does not
    /// reconnect in lockstep after a broker restart.
    public var reconnectDelay: ClosedRange<Double> = 1...60
    /// The Last Will: published by the broker when the connection is lost without a DISCONNECT
    /// (process killed, network gone, keep-alive expired). Not published after `stop()`.
    public var will: MQTTMessage?
    /// libmosquitto's max_inflight_messages: QoS 1/2 messages sent and not yet acknowledged. Beyond
    /// it, messages wait in libmosquitto's memory queue. On MQTT 5 the broker's Receive Maximum (if it
    /// sends one; mosquitto's `max_inflight_messages`, 20 by default) replaces this value.
    public var maxInflight: Int = 32

    public init(url: String, clientID: String) {
        self.url = url
        self.clientID = clientID
    }
}

/// A parsed, validated `MQTTConfiguration`.
struct ValidatedConfiguration: Sendable {
    var configuration: MQTTConfiguration
    var host: String
    var port: Int32
    var tls: Bool
    var password: String?

    var url: String { configuration.url }

    init(_ configuration: MQTTConfiguration) throws(MQTTError) {
        self.configuration = configuration
        let url = configuration.url
        (host, port, tls) = try Self.parse(url: url)

        func fail(_ what: String) -> MQTTError { .configuration("MQTT \(url): \(what)") }

        if configuration.clientID.isEmpty || configuration.clientID.utf8.count > 65535 || configuration.clientID.contains("\0") {
            throw fail("the client ID must be 1 to 65535 bytes of UTF-8 without NUL, not \"\(configuration.clientID)\"")
        }
        if configuration.passwordFile != nil, configuration.username == nil {
            throw fail("a password file needs a username (MQTT sends no password without a user name)")
        }
        if !(0...65535).contains(configuration.keepAliveSeconds) || (1...4).contains(configuration.keepAliveSeconds) {
            throw fail("keepAliveSeconds must be 0 (off) or 5 to 65535, not \(configuration.keepAliveSeconds)")
        }
        let delay = configuration.reconnectDelay
        if !(delay.lowerBound > 0) || !delay.upperBound.isFinite {
            throw fail("reconnectDelay must be a range of positive, finite seconds, not \(delay)")
        }
        if !(1...65535).contains(configuration.maxInflight) {
            throw fail("maxInflight must be 1 to 65535, not \(configuration.maxInflight)")
        }
        if !tls, configuration.caFile != nil || configuration.certificateFile != nil || configuration.keyFile != nil {
            throw fail("caFile, certificateFile and keyFile are for TLS: use an mqtts:// URL")
        }
        if (configuration.certificateFile == nil) != (configuration.keyFile == nil) {
            throw fail("certificateFile and keyFile go together: give both or neither")
        }
        for file in [configuration.caFile, configuration.certificateFile, configuration.keyFile].compactMap({ $0 }) {
            if access(file, R_OK) != 0 {
                let reason = String(cString: strerror(errno))
                throw fail("cannot read the TLS file \(file): \(reason)")
            }
        }
        if let will = configuration.will {
            try Self.check(will, url: url, what: "the Last Will")
        }
        if let file = configuration.passwordFile {
            password = try Self.readPassword(file, url: url)
        }
    }

    /// `mqtt://host[:port]` or `mqtts://host[:port]` → host, port, TLS.
    static func parse(url: String) throws(MQTTError) -> (host: String, port: Int32, tls: Bool) {
        func fail(_ what: String) -> MQTTError {
            .configuration("MQTT URL \"\(url)\": \(what); expected mqtt://host[:port] (default port 1883) or mqtts://host[:port] (TLS, default port 8883)")
        }
        let tls: Bool
        var rest: Substring
        if url.hasPrefix("mqtt://") {
            (tls, rest) = (false, url.dropFirst("mqtt://".count))
        } else if url.hasPrefix("mqtts://") {
            (tls, rest) = (true, url.dropFirst("mqtts://".count))
        } else {
            throw fail("unsupported scheme")
        }
        if rest.hasSuffix("/") { rest = rest.dropLast() }
        if rest.contains("/") || rest.contains("@") || rest.contains("?") {
            throw fail("no path, user or query allowed (the user name and password file are settings of their own)")
        }
        var host: Substring, portText: Substring?
        if rest.hasPrefix("[") {  // [IPv6]:port
            guard let close = rest.firstIndex(of: "]") else { throw fail("unclosed [ in the host") }
            host = rest[rest.index(after: rest.startIndex)..<close]
            let after = rest[rest.index(after: close)...]
            if after.isEmpty {
                portText = nil
            } else if after.hasPrefix(":") {
                portText = after.dropFirst()
            } else {
                throw fail("unexpected text after the IPv6 address")
            }
        } else if let colon = rest.lastIndex(of: ":") {
            host = rest[..<colon]
            portText = rest[rest.index(after: colon)...]
        } else {
            host = rest
            portText = nil
        }
        if host.isEmpty || host.contains(":") && !rest.hasPrefix("[") { throw fail("no host") }
        var port: Int32 = tls ? 8883 : 1883
        if let portText {
            guard let value = Int32(portText), (1...65535).contains(value) else { throw fail("the port must be 1 to 65535") }
            port = value
        }
        return (String(host), port, tls)
    }

    /// The first line of the password file, without its line end.
    static func readPassword(_ path: String, url: String) throws(MQTTError) -> String {
        guard let file = fopen(path, "r") else {
            let reason = String(cString: strerror(errno))
            throw .configuration("MQTT \(url): cannot read the password file \(path): \(reason)")
        }
        defer { fclose(file) }
        var bytes: [UInt8] = []
        while true {
            let c = fgetc(file)
            if c == EOF || c == 0x0A { break }
            bytes.append(UInt8(c))
            if bytes.count > 65535 { break }
        }
        if ferror(file) != 0 {
            throw .configuration("MQTT \(url): cannot read the password file \(path): read error")
        }
        if bytes.last == 0x0D { bytes.removeLast() }  // CRLF
        if bytes.isEmpty {
            throw .configuration("MQTT \(url): the password file \(path) is empty (the password is its first line)")
        }
        if bytes.count > 65535 || bytes.contains(0) {
            throw .configuration("MQTT \(url): the password file \(path) holds no usable password (its first line is over 65535 bytes or holds NUL)")
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// A message MQTT can carry: valid topic, QoS, sizes.
    static func check(_ message: MQTTMessage, url: String, what: String) throws(MQTTError) {
        func fail(_ reason: String) -> MQTTError { .configuration("MQTT \(url): \(what): \(reason)") }
        if !(0...2).contains(message.qos) { throw fail("QoS must be 0, 1 or 2, not \(message.qos)") }
        if message.topic.isEmpty || message.topic.utf8.count > 65535 || message.topic.contains("\0")
            || message.topic.contains("+") || message.topic.contains("#")
        {
            throw fail("\"\(message.topic)\" is not a topic to publish to (1 to 65535 bytes, no +, # or NUL)")
        }
        if message.payload.count > 268_435_455 { throw fail("the payload is over MQTT's 256 MiB limit") }
        if let topic = message.responseTopic,
            topic.isEmpty || topic.utf8.count > 65535 || topic.contains("\0") || topic.contains("+") || topic.contains("#")
        {
            throw fail("\"\(topic)\" is not a response topic (1 to 65535 bytes, no +, # or NUL)")
        }
        if let data = message.correlationData, data.count > 65535 { throw fail("correlation data is over 65535 bytes") }
    }
}
