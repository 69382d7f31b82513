import Foundation
import MQTTLink
import Synchronization
import TestSupport

/// A client's events, collected in the background as they arrive; tests take the first one not
/// taken yet that matches (events of other kinds stay for later waits, whatever their order).
final class EventLog: Sendable {
    private let events = Mutex<[MQTTEvent]>([])
    /// The indices `next` has returned.
    private let taken = Mutex(Set<Int>())
    private let finished = Mutex(false)

    init(_ stream: AsyncStream<MQTTEvent>) {
        Task { [self] in
            for await event in stream { events.withLock { $0.append(event) } }
            finished.withLock { $0 = true }
        }
    }

    var all: [MQTTEvent] { events.withLock { $0 } }
    var isFinished: Bool { finished.withLock { $0 } }

    struct Timeout: Error, CustomStringConvertible {
        var description: String
    }

    /// The first event not returned before that matches, and its index in `all`; waits for it.
    @discardableResult
    func next(_ what: String, timeout: Double = 20, where match: (MQTTEvent) -> Bool) async throws -> MQTTEvent {
        try await indexed(what, timeout: timeout, where: match).event
    }

    func indexed(_ what: String, timeout: Double = 20, where match: (MQTTEvent) -> Bool) async throws -> (event: MQTTEvent, index: Int) {
        let deadline = Date().addingTimeInterval(timeout)
        while true {
            let snapshot = all
            let found = taken.withLock { taken -> Int? in
                guard let index = snapshot.indices.first(where: { !taken.contains($0) && match(snapshot[$0]) }) else { return nil }
                taken.insert(index)
                return index
            }
            if let found { return (snapshot[found], found) }
            if Date() > deadline {
                throw Timeout(description: "no \(what) within \(timeout) s; events: \(all)")
            }
            try await Task.sleep(for: .milliseconds(10))
        }
    }

    /// Whether an event matching arrives within `seconds` (for "must not happen" checks).
    func arrives(within seconds: Double, where match: @escaping (MQTTEvent) -> Bool) async throws -> Bool {
        do {
            try await next("event", timeout: seconds, where: match)
            return true
        } catch is Timeout {
            return false
        }
    }

    func connected(timeout: Double = 20) async throws {
        try await next(".connected", timeout: timeout) { if case .connected = $0 { true } else { false } }
    }

    func connectionFailed() async throws -> MQTTError {
        let event = try await next(".connectionFailed") { if case .connectionFailed = $0 { true } else { false } }
        guard case .connectionFailed(let error) = event else { fatalError() }
        return error
    }

    func disconnected(timeout: Double = 20) async throws -> MQTTError? {
        let event = try await next(".disconnected", timeout: timeout) { if case .disconnected = $0 { true } else { false } }
        guard case .disconnected(let error) = event else { fatalError() }
        return error
    }

    func acknowledged(_ mid: Int32) async throws {
        try await next(".acknowledged(\(mid))") { if case .acknowledged(mid) = $0 { true } else { false } }
    }

    func subscribed() async throws { try await next(".subscribed") { if case .subscribed = $0 { true } else { false } } }

    func message(on topic: String, timeout: Double = 20) async throws -> MQTTMessage {
        let event = try await next("message on \(topic)", timeout: timeout) { if case .message(let m) = $0 { m.topic == topic } else { false } }
        guard case .message(let message) = event else { fatalError() }
        return message
    }
}

/// A client with test-friendly settings (fast reconnects), its event log, started.
func startedClient(
    _ url: String, id: String = "qw-test-\(UUID().uuidString.prefix(8))", version: MQTTProtocolVersion = .v5,
    start: Bool = true, configure: (inout MQTTConfiguration) -> Void = { _ in }
) throws -> (MQTTClient, EventLog) {
    var configuration = MQTTConfiguration(url: url, clientID: id)
    configuration.protocolVersion = version
    configuration.reconnectDelay = 0.1...0.5
    configure(&configuration)
    let client = try MQTTClient(configuration: configuration)
    let log = EventLog(client.events)
    if start { client.start() }
    return (client, log)
}

/// A unique topic prefix per test, so concurrent tests never see each other's messages.
func uniqueTopic(_ name: String) -> String { "qw-test/\(UUID().uuidString.prefix(8))/\(name)" }
