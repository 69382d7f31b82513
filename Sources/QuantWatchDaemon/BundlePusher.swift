// `quantwatch push`: sends a bundle to one device or a group over MQTT (docs/model-updates.md, "Transfer
// over MQTT"). The begin first; the chunks each device lists as missing (for a group, the union, sent once
// to the group topic), with a bounded number of bytes awaiting the broker's PUBACK; `update_status` once all
// was acknowledged, and again what is still missing; `update_begin` again to a device silent for a while
// (how a transfer resumes after a broker or device restart). Ends when every device gave its verdict.
import Documents
import Foundation
import ModelUpdate
import MQTTLink

/// Where a push goes.
public enum PushTarget: Sendable, Equatable {
    case device(String)
    case group(String)
}

/// How a push runs.
public struct PushSettings: Sendable {
    public var prefix = "quantwatch"
    public var target: PushTarget
    public var chunkSize = 64 << 10
    /// Give up on devices without a verdict after this long.
    public var timeout: Duration = .seconds(600)
    /// Chunk bytes published and not yet acknowledged by the broker, at most (at least one chunk).
    public var windowBytes = 1 << 20
    /// A device not heard from for this long is sent `update_begin` again.
    public var silence: Duration = .seconds(4)
    /// A group push waits this long after its begin for members to answer before it may end.
    public var discovery: Duration = .seconds(3)

    public init(target: PushTarget) { self.target = target }
}

/// One device's end of a push.
public struct PushOutcome: Sendable, Equatable {
    public enum Verdict: String, Sendable { case installed, refused, timedOut = "timed out" }
    public var device: String
    public var verdict: Verdict
    /// The reason of a refusal (step: message), or what was last heard before a time-out.
    public var message: String?
    public var progress: TransferProgress?
}

/// One line of progress: a device's state changed, or at most once a second while receiving.
public struct PushProgress: Sendable {
    public var device: String
    public var progress: TransferProgress
    public var text: String {
        let p = progress
        let mb = { (b: Int) in String(format: "%.1f", Double(b) / 1_048_576) }
        switch p.state {
        case .receiving: return "\(device): receiving \(p.received)/\(p.total) chunks (\(mb(p.bytesReceived))/\(mb(p.payloadSize)) MiB)"
        case .refused: return "\(device): refused — \(p.refusal.map { "\($0)" } ?? "no reason given")"
        default: return "\(device): \(p.state.rawValue)"
        }
    }
}

public actor BundlePusher {
    public nonisolated let settings: PushSettings
    let client: MQTTClient
    let bundle: [UInt8]
    public nonisolated let begin: UpdateBegin
    let payloadOffset: Int
    /// The id of every command of this push (replies carry it).
    public let commandID: CommandID
    let onProgress: @Sendable (PushProgress) -> Void

    struct Device {
        var name: String
        var progress: TransferProgress?
        var lastHeard: ContinuousClock.Instant
        var lastBegin: ContinuousClock.Instant?
        var lastStatus: ContinuousClock.Instant?
        var lastShown: ContinuousClock.Instant?
        var outcome: PushOutcome?
        var note: String?
    }

    /// The devices of the push: the target, or a group's members (named by their retained status, or
    /// answering the begin).
    private var devices: [String: Device] = [:]
    private var connected = false
    private var began: ContinuousClock.Instant?
    /// Chunk indexes to send, in order, and the same as a set.
    private var queue: [Int] = []
    private var queued: Set<Int> = []
    private var inflight: [Int32: Int] = [:]
    private var inflightBytes = 0
    public private(set) var chunksSent = 0
    public private(set) var beginsSent = 0

    /// - Parameter bundle: the bundle file's bytes.
    public init(bundle: [UInt8], settings: PushSettings, client: MQTTClient, onProgress: @escaping @Sendable (PushProgress) -> Void = { _ in }) throws(UpdateRefusal) {
        let plan = try UpdateBegin.plan(bundle: bundle, chunkSize: settings.chunkSize)
        self.bundle = bundle
        self.begin = plan.begin
        self.payloadOffset = plan.payloadOffset
        self.settings = settings
        self.client = client
        self.onProgress = onProgress
        commandID = .string("push-\(plan.begin.transfer.hex.prefix(8))-\(String(UInt32.random(in: 0...UInt32.max), radix: 16))")
    }

    // MARK: - Topics

    var prefix: String { settings.prefix }
    func command(_ name: String, device: String? = nil) -> String {
        if let device { return "\(prefix)/\(device)/cmd/\(name)" }
        switch settings.target {
        case let .device(d): return "\(prefix)/\(d)/cmd/\(name)"
        case let .group(g): return "\(prefix)/group/\(g)/cmd/\(name)"
        }
    }

    // MARK: - Running

    /// Subscribes, sends, waits for every verdict (or the timeout); the client must not be started yet.
    /// Returns one outcome per device, sorted by name.
    public func run() async -> [PushOutcome] {
        switch settings.target {
        case let .device(d):
            try? client.subscribe("\(prefix)/\(d)/reply/+", qos: 1)
            devices[d] = Device(name: d, lastHeard: .now)
        case .group:
            try? client.subscribe("\(prefix)/+/reply/+", qos: 1)
            try? client.subscribe("\(prefix)/+/status", qos: 1)
        }
        let deadline = ContinuousClock.now + settings.timeout
        let events = client.events
        client.start()
        await withTaskGroup(of: Void.self) { group in
            group.addTask {
                for await event in events {
                    await self.handle(event)
                    if await self.isFinished { break }
                }
            }
            group.addTask {
                while !Task.isCancelled, ContinuousClock.now < deadline {
                    try? await Task.sleep(for: .milliseconds(200))
                    await self.tick()
                    if await self.isFinished { break }
                }
            }
            await group.next()
            group.cancelAll()
        }
        client.stop()
        return outcomes()
    }

    /// Every device known has its verdict, and (a group) the members had time to answer.
    var isFinished: Bool {
        guard !devices.isEmpty, devices.values.allSatisfy({ $0.outcome != nil }) else { return false }
        if case .group = settings.target {
            guard let began, ContinuousClock.now - began >= settings.discovery else { return false }
        }
        return true
    }

    func outcomes() -> [PushOutcome] {
        devices.values.sorted { $0.name < $1.name }.map { d in
            d.outcome ?? PushOutcome(device: d.name, verdict: .timedOut,
                                     message: d.progress.map { "last heard: \(PushProgress(device: d.name, progress: $0).text)" } ?? d.note ?? "no answer",
                                     progress: d.progress)
        }
    }

    func handle(_ event: MQTTEvent) {
        switch event {
        case .connected:
            connected = true
            // First connect: the begin. A reconnect (the broker restarted): the begin again to every device
            // still under way, which answers what it is missing (chunks the broker held were lost).
            if began == nil {
                began = .now
                sendBegin(device: nil)
            } else {
                for d in devices.values where d.outcome == nil { sendBegin(device: d.name) }
                if devices.isEmpty { sendBegin(device: nil) }
            }
            pump()
        case .connectionFailed, .disconnected:
            connected = false
        case let .acknowledged(messageID):
            guard let bytes = inflight.removeValue(forKey: messageID) else { return }
            inflightBytes -= bytes
            pump()
            // The round's last chunk is with the broker: ask each device what it still misses.
            if queue.isEmpty, inflight.isEmpty { askStatus(force: true) }
        case let .publishRefused(messageID, _):
            if let bytes = inflight.removeValue(forKey: messageID) { inflightBytes -= bytes }
            pump()
        case let .message(message):
            receive(message)
        case .subscribed:
            break
        }
    }

    func tick() {
        guard connected else { return }
        let now = ContinuousClock.now
        for (name, d) in devices where d.outcome == nil {
            // Silent for a while (restarted, lost its connection, or lost the transfer): the begin again.
            if now - d.lastHeard >= settings.silence, d.lastBegin.map({ now - $0 >= settings.silence }) ?? true {
                sendBegin(device: name)
            } else if d.progress?.state == .receiving, queue.isEmpty, inflight.isEmpty, d.lastStatus.map({ now - $0 >= .seconds(2) }) ?? true {
                askStatus(force: false)
            }
        }
        if devices.isEmpty, let began, now - began >= settings.silence, now - (lastGroupBegin ?? began) >= settings.silence {
            sendBegin(device: nil)
        }
        pump()
    }

    private var lastGroupBegin: ContinuousClock.Instant?

    // MARK: - Sending

    func sendBegin(device: String?) {
        let topic = command("update_begin", device: device)
        do {
            try client.publish(MQTTMessage(topic: topic, payload: begin.json(id: commandID), qos: 1))
            beginsSent += 1
        } catch { return }
        let now = ContinuousClock.now
        if let device { devices[device]?.lastBegin = now } else {
            lastGroupBegin = now
            for name in devices.keys { devices[name]?.lastBegin = now }
        }
    }

    /// `update_status` to each device still receiving (at most every 2 s each unless forced by the end of a round).
    func askStatus(force: Bool) {
        let now = ContinuousClock.now
        let text = #"{"id":\#((try? DocumentCoding.encode(commandID)) ?? "null"),"transfer":"\#(begin.transfer.hex)"}"#
        for (name, d) in devices where d.outcome == nil && d.progress?.state == .receiving {
            if !force, let last = d.lastStatus, now - last < .seconds(2) { continue }
            guard (try? client.publish(MQTTMessage(topic: command("update_status", device: name), payload: Array(text.utf8), qos: 1))) != nil else { return }
            devices[name]?.lastStatus = now
        }
    }

    func enqueue(_ ranges: [ClosedRange<Int>]) {
        for r in ranges {
            for i in r where i < begin.chunkCount && !queued.contains(i) {
                queue.append(i)
                queued.insert(i)
            }
        }
        pump()
    }

    /// Publishes queued chunks while the bytes awaiting PUBACK stay under the window.
    func pump() {
        while connected, !queue.isEmpty, inflightBytes < settings.windowBytes || inflight.isEmpty {
            let index = queue[0]
            let range = begin.range(of: index)
            let frame = ChunkFrame(transfer: begin.transfer, index: index,
                                   bytes: bundle[(payloadOffset + range.lowerBound)..<(payloadOffset + range.upperBound)])
            let id: Int32
            do { id = try client.publish(MQTTMessage(topic: command("update_chunk"), payload: frame.encoded, qos: 1)) } catch { return }
            queue.removeFirst()
            queued.remove(index)
            inflight[id] = range.count
            inflightBytes += range.count
            chunksSent += 1
        }
    }

    // MARK: - Receiving

    func receive(_ message: MQTTMessage) {
        let levels = message.topic.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
        let prefixLevels = prefix.split(separator: "/").count
        guard levels.count > prefixLevels + 1 else { return }
        let device = levels[prefixLevels]
        let rest = levels[(prefixLevels + 1)...]
        if rest.count == 1, rest.first == "status" {
            // A group's members, from their retained status: expected to answer.
            guard case let .group(g) = settings.target, devices[device] == nil,
                  let status = try? DocumentCoding.decode(StatusDocument.self, from: String(decoding: message.payload, as: UTF8.self)),
                  status.group == g, status.status != .offline else { return }
            devices[device] = Device(name: device, lastHeard: .now, note: "named by its retained status (\(status.status.rawValue)); never answered")
            return
        }
        guard rest.count == 2, rest.first == "reply",
              let reply = try? DocumentCoding.decode(ReplyDocument.self, from: String(decoding: message.payload, as: UTF8.self)) else { return }
        let name = rest.last!
        if name == "update_chunk" {
            // A chunk the device could not take (it lost the transfer, or a chunk went bad): ask what it has.
            guard devices[device] != nil, devices[device]?.outcome == nil else { return }
            devices[device]?.note = reply.error
            devices[device]?.lastHeard = .now
            devices[device]?.lastStatus = nil
            askStatus(force: true)
            return
        }
        if name == "update_begin", reply.id == nil, !reply.ok, devices[device] != nil, devices[device]?.outcome == nil {
            // Refused before its id was read (e.g. larger than the device takes).
            finish(device, PushOutcome(device: device, verdict: .refused, message: reply.error, progress: nil))
            return
        }
        guard ["update_begin", "update_status", "update"].contains(name), reply.id == commandID else { return }
        if devices[device] == nil { devices[device] = Device(name: device, lastHeard: .now) }
        devices[device]?.lastHeard = .now
        guard devices[device]?.outcome == nil else { return }
        let progress = reply.result.flatMap(TransferProgress.init(json:))
        guard reply.ok || progress?.state == .refused || name == "update_begin" else {
            devices[device]?.note = reply.error
            return
        }
        if !reply.ok, progress == nil || progress?.state == .refused {
            // Refused at the begin (signature, version, busy, disk) or by the install.
            finish(device, PushOutcome(device: device, verdict: .refused, message: reply.error ?? progress?.refusal.map { "\($0)" }, progress: progress))
            return
        }
        guard let progress else { return }
        let before = devices[device]?.progress?.state
        devices[device]?.progress = progress
        switch progress.state {
        case .receiving:
            if name != "update" {   // begin and status replies list what is missing
                enqueue(progress.missing)
                if progress.moreMissing { devices[device]?.lastStatus = nil }
            }
        case .installed:
            finish(device, PushOutcome(device: device, verdict: .installed, message: nil, progress: progress))
            return
        case .refused:
            finish(device, PushOutcome(device: device, verdict: .refused, message: progress.refusal.map { "\($0)" } ?? reply.error, progress: progress))
            return
        case .idle, .aborted:
            sendBegin(device: device)   // it lost the transfer (expired, aborted): start again
        case .verifying:
            break
        }
        show(device, progress, changed: before != progress.state)
    }

    func finish(_ device: String, _ outcome: PushOutcome) {
        devices[device]?.outcome = outcome
        var p = outcome.progress ?? TransferProgress(transfer: begin.transfer, state: outcome.verdict == .installed ? .installed : .refused)
        if outcome.verdict == .refused, p.refusal == nil, let message = outcome.message { p.refusal = UpdateRefusal(.transfer, message) }
        p.state = outcome.verdict == .installed ? .installed : .refused
        show(device, p, changed: true)
    }

    func show(_ device: String, _ progress: TransferProgress, changed: Bool) {
        let now = ContinuousClock.now
        if !changed, let last = devices[device]?.lastShown, now - last < .seconds(1) { return }
        devices[device]?.lastShown = now
        onProgress(PushProgress(device: device, progress: progress))
    }
}
