// The publisher: drains the MetricStore outbox in seq order at QoS 1 with a bounded number in flight;
// a row is marked delivered only when its PUBACK arrives; what was unacknowledged is sent again after
// a reconnect or a restart (subscribers dedupe by seq). Also the retained status and model documents,
// and the command subscriptions and replies.
import Documents
import Foundation
import MetricStore
import MQTTLink
import QuantMetrics

/// Publishing settings.
public struct PublisherSettings: Sendable {
    public var topics: TopicTree
    /// QoS 1 messages in flight at once (unacknowledged).
    public var maxInFlight = 64
    /// Acknowledged seqs are marked delivered in one transaction per this many (or when idle).
    public var deliveredBatch = 256
    public var software: String
    /// Frames arrive on this topic (frames.source "mqtt"): subscribed at QoS 0 and handed to `frames`.
    public var frameTopic: String?

    public init(topics: TopicTree, software: String) {
        self.topics = topics
        self.software = software
    }
}

public actor MQTTPublisher {
    public let settings: PublisherSettings
    let buffer: MetricBuffer
    let client: MQTTClient
    let commands: CommandDispatcher?
    let clock: @Sendable () -> Int64
    /// Takes the frames that arrive on `settings.frameTopic`.
    let frames: (@Sendable (MQTTMessage) -> Void)?
    private var connected = false
    private var subscribed = false
    private var inflight: [Int32: Int64] = [:]
    /// The highest seq sent on this connection (pending rows after it are next).
    private var sentUpTo: Int64 = 0
    private var acknowledged: [Int64] = []
    /// Status, model and replies go out at once, ahead of any backlog (a reply must not wait behind
    /// hours of buffered metrics); the in-order pass skips these seqs on this connection.
    private var sentOutOfOrder: Set<Int64> = []
    private var model: ModelReference?
    private var drift: DriftState?
    private var lastStatus: StatusDocument.Status?
    /// The Last Will given to the client: on a clean stop it is published by us (same seq), so a
    /// clean stop leaves no gap in the seqs.
    private var will: MQTTMessage?

    /// The Last Will the client was configured with (see `lastWill`).
    public func setWill(_ message: MQTTMessage?) { will = message }
    public private(set) var published = 0
    public private(set) var delivered = 0
    public private(set) var lastError: String?

    public init(settings: PublisherSettings, buffer: MetricBuffer, client: MQTTClient, commands: CommandDispatcher? = nil,
                clock: @escaping @Sendable () -> Int64 = { Int64(Date().timeIntervalSince1970 * 1000) },
                frames: (@Sendable (MQTTMessage) -> Void)? = nil) {
        self.frames = frames
        self.settings = settings
        self.buffer = buffer
        self.client = client
        self.commands = commands
        self.clock = clock
    }

    /// The Last Will for `MQTTConfiguration.will`: a retained `offline` status whose seq is reserved in
    /// the store now (so it is never reused; the broker publishes it, possibly more than once across
    /// reconnects — the same seq, which subscribers dedupe).
    public static func lastWill(buffer: MetricBuffer, topics: TopicTree, software: String, model: ModelReference?,
                                atMs: Int64) async throws -> MQTTMessage {
        let (_, text) = try await buffer.reserve(topic: "status", tsMs: atMs) { seq in
            try DocumentCoding.encode(StatusDocument(envelope: Envelope(schema: DocumentSchema.status, device: topics.device, seq: seq, tsMs: atMs),
                                                     status: .offline, software: software, model: model, group: topics.group, drift: nil,
                                                     reason: "offline (last will: connection lost, or stopped)"))
        }
        return MQTTMessage(topic: topics.status, payload: Array(text.utf8), qos: 1, retain: true)
    }

    /// Runs until cancelled: consumes the client's events, wakes on new outbox rows, flushes
    /// acknowledgements. Call `client.start()` before or after.
    public func run() async {
        await withTaskGroup(of: Void.self) { group in
            group.addTask { [client] in
                for await event in client.events {
                    if Task.isCancelled { break }
                    await self.handle(event)
                }
            }
            group.addTask { [buffer] in
                var seen = await buffer.changeCount
                while !Task.isCancelled {
                    seen = await buffer.waitForChange(after: seen)
                    await self.pump()
                }
            }
            group.addTask {
                while !Task.isCancelled {
                    try? await Task.sleep(for: .milliseconds(100))
                    await self.flushAcknowledged()
                }
            }
            await group.next()
            group.cancelAll()
        }
        await flushAcknowledged()
    }

    /// Sets what the retained documents say; publishes `model` and a new `status` when they change.
    public func update(model: ModelReference?, drift: DriftState?, sinceMs: Int64) async {
        let modelChanged = model != nil && model != self.model
        self.model = model
        self.drift = drift
        if modelChanged, let model {
            let device = settings.topics.device
            try? await enqueueAndSend(topic: "model", tsMs: sinceMs) { seq in
                try DocumentCoding.encode(ModelDocument(envelope: Envelope(schema: DocumentSchema.model, device: device, seq: seq, tsMs: sinceMs),
                                                        model: model, sinceMs: sinceMs))
            }
        }
        let status: StatusDocument.Status = drift == .drift ? .degraded : .online
        if connected, status != lastStatus || modelChanged { await enqueueStatus(status, reason: status == .degraded ? "a detector is in drift" : "running") }
    }

    /// A clean stop: `offline` is committed and published (with the remaining outbox) before the
    /// caller disconnects, waiting at most `timeout`.
    public func finish(timeout: Duration = .seconds(5)) async {
        if let will, connected {
            do {
                let id = try client.publish(will)
                inflight[id] = -1   // not an outbox row: its seq was reserved and marked delivered
            } catch {
                lastError = "\(error)"
            }
        } else if will == nil {
            await enqueueStatus(.offline, reason: "stopped")
        }
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            await pump()
            await flushAcknowledged()
            let pending = (try? await buffer.stats().pendingRows) ?? 0
            if (pending == 0 && inflight.isEmpty) || !connected { break }
            try? await Task.sleep(for: .milliseconds(20))
        }
        await flushAcknowledged()
    }

    func handle(_ event: MQTTEvent) async {
        switch event {
        case .connected:
            // libmosquitto re-sends what was in flight (same message ids, DUP set) after a reconnect, and
            // reports their PUBACKs under the original ids: keep the map and go on after `sentUpTo`.
            // (A new process starts from the first undelivered seq: the outbox still holds it.)
            connected = true
            lastError = nil
            if !subscribed {   // the client renews its subscriptions on every later connect itself
                subscribed = true
                for filter in settings.topics.commandFilters where commands != nil {
                    do { try client.subscribe(filter, qos: 1) } catch { lastError = "\(error)"; subscribed = false }
                }
                if let topic = settings.frameTopic, frames != nil {
                    do { try client.subscribe(topic, qos: 0) } catch { lastError = "\(error)"; subscribed = false }
                }
            }
            await enqueueStatus(drift == .drift ? .degraded : .online, reason: "connected")
            await pump()
        case let .connectionFailed(error):
            connected = false
            lastError = "\(error)"
        case let .disconnected(error):
            connected = false   // in-flight messages stay with libmosquitto, which re-sends them on reconnect
            if let error { lastError = "\(error)" }
            await flushAcknowledged()
        case let .acknowledged(messageID):
            if let seq = inflight.removeValue(forKey: messageID), seq > 0 {
                acknowledged.append(seq)
                if acknowledged.count >= settings.deliveredBatch || inflight.isEmpty { await flushAcknowledged() }
            }
            await pump()
        case let .publishRefused(messageID, error):
            // The broker refused it (MQTT 5 reason, e.g. not authorized): it stays in the outbox and
            // goes again after the next reconnect; the error is reported.
            if inflight.removeValue(forKey: messageID) != nil { lastError = "\(error)" }
            await pump()
        case let .message(message):
            if let topic = settings.frameTopic, let frames, TopicTree.matches(filter: topic, topic: message.topic) {
                frames(message)
            } else {
                await command(message)
            }
        case .subscribed:
            break
        }
    }

    /// Sends pending rows after `sentUpTo` while fewer than `maxInFlight` are unacknowledged.
    func pump() async {
        while connected, inflight.count < settings.maxInFlight {
            let rows: [MetricStore.OutboxRow]
            do { rows = try await buffer.pending(limit: settings.maxInFlight - inflight.count, afterSeq: sentUpTo) } catch {
                lastError = "\(error)"
                return
            }
            guard !rows.isEmpty else { return }
            for row in rows {
                guard connected else { return }
                if sentOutOfOrder.remove(row.seq) != nil {
                    sentUpTo = row.seq
                    continue
                }
                let message = self.message(for: row)
                do {
                    let id = try client.publish(message)
                    inflight[id] = row.seq
                    sentUpTo = row.seq
                    published += 1
                } catch {
                    lastError = "\(error)"
                    return   // not connected: the row stays in the outbox
                }
            }
        }
    }

    /// A reply to an MQTT 5 request with a response topic is stored under the outbox topic
    /// `>HEX TOPIC` (the correlation data in hex, then the full response topic), so it still goes to
    /// the right place after a restart.
    static func routedTopic(responseTopic: String, correlation: [UInt8]?) -> String {
        ">" + (correlation ?? []).map { String($0, radix: 16).count == 1 ? "0" + String($0, radix: 16) : String($0, radix: 16) }.joined()
            + " " + responseTopic
    }

    static func route(_ topic: String) -> (topic: String, correlation: [UInt8]?)? {
        guard topic.hasPrefix(">"), let space = topic.firstIndex(of: " ") else { return nil }
        let hex = Array(topic[topic.index(after: topic.startIndex)..<space].utf8)
        var bytes: [UInt8] = []
        var i = 0
        while i + 1 < hex.count, let b = UInt8(String(decoding: hex[i...i + 1], as: UTF8.self), radix: 16) {
            bytes.append(b)
            i += 2
        }
        return (String(topic[topic.index(after: space)...]), hex.isEmpty ? nil : bytes)
    }

    func message(for row: MetricStore.OutboxRow) -> MQTTMessage {
        if let route = Self.route(row.topic) {
            return MQTTMessage(topic: route.topic, payload: Array(row.payload.utf8), qos: 1, retain: false, correlationData: route.correlation)
        }
        return MQTTMessage(topic: settings.topics.device(row.topic), payload: Array(row.payload.utf8), qos: 1,
                           retain: TopicTree.isRetained(suffix: row.topic))
    }

    /// Unacknowledged messages now.
    public var inFlightCount: Int { inflight.count }

    /// Marks what was acknowledged so far as delivered now.
    public func flushAcknowledgedNow() async { await flushAcknowledged() }

    func flushAcknowledged() async {
        guard !acknowledged.isEmpty else { return }
        let seqs = acknowledged
        acknowledged.removeAll(keepingCapacity: true)
        do {
            try await buffer.markDelivered(seqs)
            delivered += seqs.count
        } catch {
            lastError = "marking \(seqs.count) documents delivered: \(error)"   // they go again after a restart
        }
    }

    /// Commits a document and, when connected, publishes it at once (out of seq order).
    func enqueueAndSend(topic: String, tsMs: Int64, payload: @escaping @Sendable (Int64) throws -> String) async throws {
        let (seq, text) = try await buffer.enqueue(topic: topic, tsMs: tsMs, notify: false, payload: payload)
        guard connected else { return }
        let row = MetricStore.OutboxRow(seq: seq, topic: topic, tsMs: tsMs, payload: text, windowID: nil)
        do {
            let id = try client.publish(message(for: row))
            inflight[id] = seq
            if seq > sentUpTo { sentOutOfOrder.insert(seq) }
            published += 1
        } catch {
            lastError = "\(error)"
        }
    }

    func enqueueStatus(_ status: StatusDocument.Status, reason: String) async {
        lastStatus = status
        let device = settings.topics.device, group = settings.topics.group, software = settings.software, model = model, drift = drift
        let now = clock()
        try? await enqueueAndSend(topic: "status", tsMs: now) { seq in
            try DocumentCoding.encode(StatusDocument(envelope: Envelope(schema: DocumentSchema.status, device: device, seq: seq, tsMs: now),
                                                     status: status, software: software, model: model, group: group, drift: drift, reason: reason))
        }
    }

    func command(_ message: MQTTMessage) async {
        guard let commands, let name = settings.topics.commandName(of: message.topic) else { return }
        if let binary = await commands.binaryHandler(name) {
            // Binary commands (update_chunk) answer only when something is wrong.
            if let failure = await binary(message.topic, message.payload) {
                await send(CommandReply(name: name, id: nil, ok: false, error: failure.message, result: failure.result,
                                        responseTopic: message.responseTopic, correlationData: message.correlationData))
            }
            return
        }
        let reply = await commands.dispatch(name: name, topic: message.topic, payload: message.payload,
                                            responseTopic: message.responseTopic, correlationData: message.correlationData)
        await send(reply)
    }

    /// Commits a reply document and publishes it at once: on the request's response topic when it had
    /// one (MQTT 5), else on `reply/<name>` (e.g. `reply/update` for a transfer's progress and verdict).
    public func send(_ reply: CommandReply) async {
        let name = reply.name, device = settings.topics.device, now = clock()
        do {
            let topic = reply.responseTopic.map { Self.routedTopic(responseTopic: $0, correlation: reply.correlationData) } ?? "reply/\(name)"
            try await enqueueAndSend(topic: topic, tsMs: now) { seq in
                try DocumentCoding.encode(ReplyDocument(envelope: Envelope(schema: DocumentSchema.reply, device: device, seq: seq, tsMs: now),
                                                        id: reply.id, command: name, ok: reply.ok, error: reply.error, result: reply.result))
            }
        } catch {
            lastError = "reply to \(name): \(error)"
        }
    }
}
