import CMosquitto
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// What the link reports, in order, on `MQTTClient.events`.
public enum MQTTEvent: Sendable {
    /// The broker accepted the connection (CONNACK success). Subscriptions made with `subscribe`
    /// have been sent again (the link connects with a clean start, so the broker forgot them).
    case connected(sessionPresent: Bool)
    /// A connection attempt failed: TCP refused or unreachable, TLS failure, the broker refused
    /// (bad credentials: the CONNACK reason). Retries continue with back-off.
    case connectionFailed(MQTTError)
    /// An established connection ended. nil: the clean disconnect `stop()` asked for (the last event).
    /// Otherwise retries continue with back-off.
    case disconnected(MQTTError?)
    /// QoS 1: the broker's PUBACK for this message id arrived (QoS 2: PUBCOMP; QoS 0: written).
    case acknowledged(messageID: Int32)
    /// MQTT 5: the broker answered this message id with a failure reason code (e.g. 135, not
    /// authorized): it was not delivered and will not be re-sent.
    case publishRefused(messageID: Int32, MQTTError)
    /// An incoming message on a subscription.
    case message(MQTTMessage)
    /// The broker's SUBACK for this SUBSCRIBE message id.
    case subscribed(messageID: Int32)
}

/// `mosquitto_lib_init`, once per process, on first use. Also ignores SIGPIPE: OpenSSL writes to
/// the socket with write(2), and a write to a connection the broker closed would kill the process.
private let mosquittoLibraryInitialised: Bool = {
    _ = mosquitto_lib_init()
    signal(SIGPIPE, SIG_IGN)
    return true
}()

/// An MQTT client over libmosquitto that keeps itself connected.
///
/// Threading: libmosquitto's network loop runs on one thread this client owns (`start()` …
/// `stop()`); libmosquitto's callbacks run there and yield into `events`. `publish`, `subscribe`,
/// `stop` and `isConnected` may be called from any thread or task.
///
/// Reconnecting: every failed attempt or lost connection is reported and followed by another
/// attempt after an exponential back-off (`MQTTConfiguration.reconnectDelay`), forever, until
/// `stop()` — whatever the failure (refused, TLS, bad credentials, broker down at start).
public final class MQTTClient: Sendable {
    /// The event stream (one consumer). It finishes after `stop()`.
    public let events: AsyncStream<MQTTEvent>
    private let link: Link

    /// Validates the configuration and reads the password file; no connection yet (see `start()`).
    /// Throws a configuration error naming the URL, file or setting that is wrong.
    public init(configuration: MQTTConfiguration) throws(MQTTError) {
        let validated = try ValidatedConfiguration(configuration)
        let (stream, continuation) = AsyncStream.makeStream(of: MQTTEvent.self, bufferingPolicy: .unbounded)
        events = stream
        link = try Link(validated, continuation: continuation)
    }

    deinit { link.stop() }

    /// Starts the network thread, which connects in the background and reconnects with back-off
    /// forever. Returns at once; watch `events` for `.connected`. Once only: a second call, or a
    /// call after `stop()`, does nothing.
    public func start() { link.start() }

    /// Disconnects cleanly (a DISCONNECT, so the broker does not publish the Will), stops the
    /// network thread and finishes `events`. Blocks until the thread has ended (at most about two
    /// seconds when the broker does not answer). Idempotent. Messages not yet acknowledged are
    /// dropped from memory: publish them again with a new client.
    public func stop() { link.stop() }

    /// Whether the broker has accepted the connection (CONNACK) and it has not been lost since.
    public var isConnected: Bool { link.state.withLock { $0.connected } }

    /// Publishes a message; returns its message id (1…65535, reused after wrapping), which a
    /// `.acknowledged(messageID:)` event reports when the broker has it (QoS 1).
    ///
    /// Throws `MOSQ_ERR_NO_CONN` (`error.isNotConnected`) when not connected: the message was not
    /// taken; keep it and publish it after the next `.connected`. Once an id is returned,
    /// libmosquitto owns the message until it is acknowledged: when the connection drops first,
    /// libmosquitto sends it again (DUP) after the next successful connect, within this client's
    /// lifetime — do not publish it again yourself while this client lives.
    @discardableResult
    public func publish(_ message: MQTTMessage) throws(MQTTError) -> Int32 {
        try link.publish(message)
    }

    /// Subscribes to a topic filter; incoming messages arrive as `.message` events. The filter is
    /// remembered and subscribed again on every reconnect; when not connected now, it is subscribed
    /// at the next connect. Throws for an invalid filter or QoS.
    public func subscribe(_ filter: String, qos: Int = 1) throws(MQTTError) {
        try link.subscribe(filter, qos: qos)
    }
}

/// A `struct mosquitto *`.
///
/// `@unchecked Sendable`: libmosquitto in threaded mode (`mosquitto_threaded_set(true)`) guards the
/// state that `publish`, `subscribe` and `disconnect` touch from other threads with its own pthread
/// mutexes, and wakes the loop through its socket pair. Only the link's thread calls
/// `mosquitto_loop` and the connect functions; `mosquitto_destroy` runs after that thread is joined.
struct MosquittoHandle: @unchecked Sendable {
    let pointer: OpaquePointer
}

/// The link's mutable state, behind `Link.state`.
struct LinkState {
    enum Phase { case idle, running(pthread_t), stopped }
    var phase: Phase = .idle
    var stopRequested = false
    /// CONNACK success seen and the connection not lost since.
    var connected = false
    /// Set by the callbacks during one connection attempt; read by the loop when it ends.
    var connackSucceeded = false
    var connackFailure: MQTTError?
    var disconnectCode: Int32?
    var lastLoggedError: String?
    /// The subscriptions to renew on every connect, in the order made.
    var subscriptions: [(filter: String, qos: Int)] = []
}

/// The client's machinery. `Sendable`: immutable references; the mutable state is in `state`
/// (a `Mutex`), the libmosquitto handle is thread-safe as `MosquittoHandle` says.
final class Link: Sendable {
    let mosq: MosquittoHandle
    let config: ValidatedConfiguration
    let continuation: AsyncStream<MQTTEvent>.Continuation
    let state = Mutex(LinkState())
    /// A pipe that wakes the back-off sleep when `stop()` is called.
    private let wakeRead: Int32, wakeWrite: Int32

    init(_ config: ValidatedConfiguration, continuation: AsyncStream<MQTTEvent>.Continuation) throws(MQTTError) {
        precondition(mosquittoLibraryInitialised)
        self.config = config
        self.continuation = continuation
        let url = config.url
        guard let pointer = mosquitto_new(config.configuration.clientID, true, nil) else {
            throw mqttError(.returnCode(MOSQ_ERR_ERRNO.rawValue, errno: errno), url: url, doing: "creating the client")
        }
        mosq = MosquittoHandle(pointer: pointer)
        var fds: [Int32] = [0, 0]
        if pipe(&fds) != 0 {
            let saved = errno
            mosquitto_destroy(pointer)
            throw mqttError(.returnCode(MOSQ_ERR_ERRNO.rawValue, errno: saved), url: url, doing: "creating the wake-up pipe")
        }
        (wakeRead, wakeWrite) = (fds[0], fds[1])
        // From here on, deinit cleans up.
        mosquitto_user_data_set(pointer, Unmanaged.passUnretained(self).toOpaque())
        try configure()
    }

    deinit {
        mosquitto_destroy(mosq.pointer)
        close(wakeRead)
        close(wakeWrite)
        continuation.finish()
    }

    private var v5: Bool { config.configuration.protocolVersion == .v5 }

    private func check(_ rc: Int32, _ doing: String) throws(MQTTError) {
        if rc != MOSQ_ERR_SUCCESS.rawValue {
            throw mqttError(.returnCode(rc, errno: errno), url: config.url, doing: doing, caFile: config.configuration.caFile)
        }
    }

    /// Options, credentials, TLS, Will, callbacks: everything before the first connect.
    private func configure() throws(MQTTError) {
        let m = mosq.pointer, c = config.configuration
        try check(mosquitto_int_option(m, MOSQ_OPT_PROTOCOL_VERSION, v5 ? MQTT_PROTOCOL_V5 : MQTT_PROTOCOL_V311), "setting the protocol version")
        try check(mosquitto_threaded_set(m, true), "setting threaded mode")
        try check(mosquitto_max_inflight_messages_set(m, UInt32(c.maxInflight)), "setting maxInflight")
        if let user = c.username {
            try check(mosquitto_username_pw_set(m, user, config.password), "setting the user name and password")
        }
        if config.tls {
            if let ca = c.caFile {
                try check(mosquitto_tls_set(m, ca, nil, c.certificateFile, c.keyFile, nil), "setting up TLS with \(ca)")
            } else {
                try check(mosquitto_int_option(m, MOSQ_OPT_TLS_USE_OS_CERTS, 1), "using the system's CA certificates")
                if let cert = c.certificateFile {
                    try check(mosquitto_tls_set(m, nil, "/etc/ssl/certs", cert, c.keyFile, nil), "setting up TLS with \(cert)")
                }
            }
        }
        if let will = c.will {
            let rc: Int32 = will.payload.withUnsafeBytes { payload in
                if v5 {
                    var properties = Self.properties(of: will)
                    let rc = mosquitto_will_set_v5(m, will.topic, Int32(payload.count), payload.baseAddress, Int32(will.qos), will.retain, properties)
                    if rc != MOSQ_ERR_SUCCESS.rawValue { mosquitto_property_free_all(&properties) }  // taken on success
                    return rc
                }
                return mosquitto_will_set(m, will.topic, Int32(payload.count), payload.baseAddress, Int32(will.qos), will.retain)
            }
            try check(rc, "setting the Last Will on \(will.topic)")
        }
        installCallbacks()
    }

    /// The MQTT 5 properties of a message (nil when it has none); the caller frees them.
    private static func properties(of message: MQTTMessage) -> OpaquePointer? {
        var list: OpaquePointer? = nil
        if let topic = message.responseTopic {
            _ = mosquitto_property_add_string(&list, Int32(MQTT_PROP_RESPONSE_TOPIC.rawValue), topic)
        }
        if let data = message.correlationData {
            _ = data.withUnsafeBytes { mosquitto_property_add_binary(&list, Int32(MQTT_PROP_CORRELATION_DATA.rawValue), $0.baseAddress, UInt16(data.count)) }
        }
        return list
    }

    // MARK: - Start and stop

    func start() {
        state.withLock { state in
            guard case .idle = state.phase, !state.stopRequested else { return }
            var thread = pthread_t()
            let retained = Unmanaged.passRetained(self).toOpaque()
            let rc = pthread_create(&thread, nil, { argument in
                let pointer: UnsafeMutableRawPointer? = argument
                let link = Unmanaged<Link>.fromOpaque(pointer!).takeRetainedValue()
                link.run()
                return nil
            }, retained)
            precondition(rc == 0, "pthread_create failed: \(rc)")  // out of threads: nothing to recover
            state.phase = .running(thread)
        }
    }

    func stop() {
        let thread: pthread_t? = state.withLock { state in
            guard !state.stopRequested else { return nil }
            state.stopRequested = true
            if case .running(let thread) = state.phase {
                state.phase = .stopped
                return thread
            }
            state.phase = .stopped
            return nil
        }
        if let thread {
            sendDisconnect()  // also wakes the network thread
            var byte: UInt8 = 1
            _ = write(wakeWrite, &byte, 1)
            pthread_join(thread, nil)
        }
        continuation.finish()
    }

    /// DISCONNECT with reason 0 (normal): the broker discards the Will. NO_CONN when not connected.
    private func sendDisconnect() {
        _ = v5 ? mosquitto_disconnect_v5(mosq.pointer, 0, nil) : mosquitto_disconnect(mosq.pointer)
    }

    // MARK: - The network thread

    /// Connect, run the connection, report how it ended, back off, again — until `stop()`.
    private func run() {
        var attempt = 0
        var first = true
        while !state.withLock({ $0.stopRequested }) {
            state.withLock { state in
                state.connackSucceeded = false
                state.connackFailure = nil
                state.disconnectCode = nil
                state.lastLoggedError = nil
            }
            errno = 0
            var rc = first
                ? mosquitto_connect_bind_async(mosq.pointer, config.host, config.port, Int32(config.configuration.keepAliveSeconds), nil)
                : mosquitto_reconnect_async(mosq.pointer)
            var savedErrno = errno
            first = false
            if rc == MOSQ_ERR_SUCCESS.rawValue {
                var stopDeadline: ContinuousClock.Instant?
                while true {
                    errno = 0
                    rc = mosquitto_loop(mosq.pointer, 1000, 1)
                    savedErrno = errno
                    if rc != MOSQ_ERR_SUCCESS.rawValue { break }
                    if state.withLock({ $0.stopRequested }) {
                        // Give the DISCONNECT up to two seconds to be written.
                        let now = ContinuousClock.now
                        if let deadline = stopDeadline {
                            if now > deadline { break }
                        } else {
                            stopDeadline = now + .seconds(2)
                            // stop() raced with this connect (its DISCONNECT found no socket): send
                            // it now; it follows the CONNECT, so the broker discards the Will.
                            sendDisconnect()
                        }
                    }
                }
            }
            let (wasConnected, stopping, connackFailure, disconnectCode, logged) = state.withLock { state in
                let wasConnected = state.connackSucceeded
                state.connected = false
                return (wasConnected, state.stopRequested, state.connackFailure, state.disconnectCode, state.lastLoggedError)
            }
            if stopping {
                if wasConnected { continuation.yield(.disconnected(nil)) }
                break
            }
            let doing = wasConnected ? "the connection" : "connecting"
            let error: MQTTError
            if let connackFailure {
                error = connackFailure
            } else if let code = disconnectCode, code != 0, rc == MOSQ_ERR_NO_CONN.rawValue || rc == MOSQ_ERR_SUCCESS.rawValue || code >= 128 {
                error = mqttError(.returnCode(code, errno: savedErrno), url: config.url, doing: doing, detail: logged, caFile: config.configuration.caFile)
            } else {
                error = mqttError(.returnCode(rc, errno: savedErrno), url: config.url, doing: doing, detail: logged, caFile: config.configuration.caFile)
            }
            if wasConnected {
                attempt = 0
                continuation.yield(.disconnected(error))
            } else {
                continuation.yield(.connectionFailed(error))
            }
            // lower × 2ⁿ capped at upper, less up to 20 % at random: a fleet that lost the same
            // broker does not come back in lockstep.
            let range = config.configuration.reconnectDelay
            let delay = min(range.upperBound, range.lowerBound * Double(1 << min(attempt, 30))) * Double.random(in: 0.8...1)
            attempt += 1
            sleepUnlessStopped(seconds: delay)
        }
    }

    /// Waits `seconds`, or less when `stop()` writes to the wake-up pipe.
    private func sleepUnlessStopped(seconds: Double) {
        let deadline = ContinuousClock.now + .milliseconds(Int64(seconds * 1000))
        while !state.withLock({ $0.stopRequested }) {
            let left = ContinuousClock.now.duration(to: deadline)
            if left <= .zero { return }
            let ms = Int32(min(left.components.seconds * 1000 + left.components.attoseconds / 1_000_000_000_000_000, 60_000))
            var descriptor = pollfd(fd: wakeRead, events: Int16(POLLIN), revents: 0)
            _ = poll(&descriptor, 1, max(ms, 1))
        }
    }

    // MARK: - Publish and subscribe (any thread)

    func publish(_ message: MQTTMessage) throws(MQTTError) -> Int32 {
        let doing = "publishing to \(message.topic)"
        try ValidatedConfiguration.check(message, url: config.url, what: doing)
        // Not connected: do not hand the message to libmosquitto, which would keep it queued and
        // send it after the reconnect although we report the failure.
        guard state.withLock({ $0.connected }) else {
            throw mqttError(.returnCode(MOSQ_ERR_NO_CONN.rawValue), url: config.url, doing: doing)
        }
        var mid: Int32 = 0
        let rc: Int32 = message.payload.withUnsafeBytes { payload in
            if v5 {
                var properties = Self.properties(of: message)
                defer { mosquitto_property_free_all(&properties) }
                return mosquitto_publish_v5(mosq.pointer, &mid, message.topic, Int32(payload.count), payload.baseAddress, Int32(message.qos), message.retain, properties)
            }
            return mosquitto_publish(mosq.pointer, &mid, message.topic, Int32(payload.count), payload.baseAddress, Int32(message.qos), message.retain)
        }
        // QoS > 0 and NO_CONN: the connection dropped just now, after the check above; libmosquitto
        // has queued the message and sends it after the reconnect, so it counts as taken.
        if rc == MOSQ_ERR_SUCCESS.rawValue || (rc == MOSQ_ERR_NO_CONN.rawValue && message.qos > 0) {
            return mid
        }
        throw mqttError(.returnCode(rc, errno: errno), url: config.url, doing: doing)
    }

    func subscribe(_ filter: String, qos: Int) throws(MQTTError) {
        let doing = "subscribing to \(filter)"
        guard (0...2).contains(qos) else { throw .configuration("MQTT \(config.url): \(doing): QoS must be 0, 1 or 2, not \(qos)") }
        guard !filter.contains("\0"), mosquitto_sub_topic_check(filter) == MOSQ_ERR_SUCCESS.rawValue else {
            throw .configuration("MQTT \(config.url): \(doing): \"\(filter)\" is not a valid topic filter")
        }
        let connected = state.withLock { state in
            state.subscriptions.removeAll { $0.filter == filter }
            state.subscriptions.append((filter, qos))
            return state.connected
        }
        guard connected else { return }  // subscribed on connect
        let rc = sendSubscribe(filter, qos: qos)
        if rc != MOSQ_ERR_SUCCESS.rawValue && rc != MOSQ_ERR_NO_CONN.rawValue {
            throw mqttError(.returnCode(rc, errno: errno), url: config.url, doing: doing)
        }
    }

    private func sendSubscribe(_ filter: String, qos: Int) -> Int32 {
        var mid: Int32 = 0
        return v5
            ? mosquitto_subscribe_v5(mosq.pointer, &mid, filter, Int32(qos), 0, nil)
            : mosquitto_subscribe(mosq.pointer, &mid, filter, Int32(qos))
    }

    // MARK: - Callbacks (the network thread)

    private static func link(_ userdata: UnsafeMutableRawPointer?) -> Link {
        Unmanaged<Link>.fromOpaque(userdata!).takeUnretainedValue()
    }

    private func installCallbacks() {
        let m = mosq.pointer
        if v5 {
            mosquitto_connect_v5_callback_set(m) { _, userdata, rc, flags, _ in Link.link(userdata).onConnect(rc, flags: flags) }
            mosquitto_disconnect_v5_callback_set(m) { _, userdata, rc, _ in Link.link(userdata).onDisconnect(rc) }
            mosquitto_publish_v5_callback_set(m) { _, userdata, mid, reason, _ in Link.link(userdata).onPublish(mid, reason: reason) }
            mosquitto_message_v5_callback_set(m) { _, userdata, message, properties in
                Link.link(userdata).onMessage(message!.pointee, properties: properties)
            }
            mosquitto_subscribe_v5_callback_set(m) { _, userdata, mid, _, _, _ in Link.link(userdata).onSubscribe(mid) }
        } else {
            mosquitto_connect_with_flags_callback_set(m) { _, userdata, rc, flags in Link.link(userdata).onConnect(rc, flags: flags) }
            mosquitto_disconnect_callback_set(m) { _, userdata, rc in Link.link(userdata).onDisconnect(rc) }
            mosquitto_publish_callback_set(m) { _, userdata, mid in Link.link(userdata).onPublish(mid, reason: 0) }
            mosquitto_message_callback_set(m) { _, userdata, message in Link.link(userdata).onMessage(message!.pointee, properties: nil) }
            mosquitto_subscribe_callback_set(m) { _, userdata, mid, _, _ in Link.link(userdata).onSubscribe(mid) }
        }
        mosquitto_log_callback_set(m) { _, userdata, level, text in
            guard level == MOSQ_LOG_ERR, let text else { return }
            let line = String(cString: text)
            Link.link(userdata).state.withLock { $0.lastLoggedError = line }
        }
    }

    private func onConnect(_ rc: Int32, flags: Int32) {
        guard rc == 0 else {
            let error = mqttError(.connack(rc, config.configuration.protocolVersion), url: config.url, doing: "connecting")
            state.withLock { $0.connackFailure = error }
            return
        }
        let subscriptions = state.withLock { state in
            state.connected = true
            state.connackSucceeded = true
            return state.subscriptions
        }
        for (filter, qos) in subscriptions { _ = sendSubscribe(filter, qos: qos) }
        continuation.yield(.connected(sessionPresent: flags & 1 != 0))
    }

    private func onDisconnect(_ rc: Int32) {
        state.withLock { state in
            state.connected = false
            state.disconnectCode = rc
        }
    }

    private func onPublish(_ mid: Int32, reason: Int32) {
        if reason >= 128 {
            let error = mqttError(.reason(reason), url: config.url, doing: "publishing message \(mid)")
            continuation.yield(.publishRefused(messageID: mid, error))
        } else {
            continuation.yield(.acknowledged(messageID: mid))
        }
    }

    private func onMessage(_ message: mosquitto_message, properties: OpaquePointer?) {
        let topic = String(cString: message.topic)
        let payload: [UInt8] = message.payloadlen > 0
            ? Array(UnsafeRawBufferPointer(start: message.payload, count: Int(message.payloadlen)))
            : []
        var received = MQTTMessage(topic: topic, payload: payload, qos: Int(message.qos), retain: message.retain)
        if let properties {
            var text: UnsafeMutablePointer<CChar>? = nil
            if mosquitto_property_read_string(properties, Int32(MQTT_PROP_RESPONSE_TOPIC.rawValue), &text, false) != nil, let text {
                received.responseTopic = String(cString: text)
                free(text)
            }
            var data: UnsafeMutableRawPointer? = nil
            var length: UInt16 = 0
            if mosquitto_property_read_binary(properties, Int32(MQTT_PROP_CORRELATION_DATA.rawValue), &data, &length, false) != nil {
                received.correlationData = data.map { Array(UnsafeRawBufferPointer(start: $0, count: Int(length))) } ?? []
                free(data)
            }
        }
        continuation.yield(.message(received))
    }

    private func onSubscribe(_ mid: Int32) {
        continuation.yield(.subscribed(messageID: mid))
    }
}
