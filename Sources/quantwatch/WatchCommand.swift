import ArgumentParser
import Documents
import Foundation
import MQTTLink
import Reports

struct WatchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "watch",
        abstract: "Subscribe to the fleet's topics and show a live table, one row per device.",
        discussion: """
            Rows: status, model and version, frames/s, p95 latency, top-1 agreement, SQNR, worst saturation, drift
            state, last seen, and seq gaps seen (documents a subscriber missed), and under them the event that explains
            each device's drift state. On a terminal the table is redrawn in place; when the output is not a terminal (a
            log, a pipe) it is appended whenever a device's status, drift state or event changes, and every 5 s
            otherwise. --once prints one snapshot after --wait seconds and exits; --json streams every document as one
            line {topic, retained, document} for scripts.
            """)

    @OptionGroup var broker: BrokerOptions
    @Option(name: .long, help: "Only this device.") var device: String?
    @Option(name: .long, help: "Only devices of this group (from their status documents).") var group: String?
    @Flag(name: .long, help: "Print one snapshot and exit.") var once = false
    @Flag(name: .long, help: "Stream the documents as JSON lines instead of the table.") var json = false
    @Option(name: .long, help: "With --once: seconds to listen before printing.") var wait: Double = 3

    func run() async throws {
        let client: MQTTClient
        do {
            client = try MQTTClient(configuration: broker.configuration(clientID: "quantwatch-watch-\(ProcessInfo.processInfo.processIdentifier)"))
        } catch { throw CLIError("\(error)") }
        var table = FleetTable(prefix: broker.prefix, device: device, group: group)
        let filter = "\(broker.prefix)/\(device ?? "+")/#"
        client.start()
        defer { client.stop() }
        let deadline = once ? ContinuousClock.now + .milliseconds(Int(wait * 1000)) : nil
        let interactive = isatty(STDOUT_FILENO) != 0
        // A terminal: redrawn in place. A log: appended on every change a reader must see, else now and then.
        let period: Duration = interactive ? .milliseconds(500) : .seconds(5)
        var lastDraw = ContinuousClock.now - period
        var lastError: String?
        var drawn: (state: [String], error: String?) = ([], nil)
        let events = client.events
        let ticker = AsyncStream<Void> { continuation in
            let task = Task {
                while !Task.isCancelled {
                    try? await Task.sleep(for: .milliseconds(500))
                    continuation.yield()
                }
                continuation.finish()
            }
            continuation.onTermination = { _ in task.cancel() }
        }
        do {
            let merged = AsyncStream<MQTTEvent?> { continuation in
                let a = Task { for await e in events { continuation.yield(e) }; continuation.finish() }
                let b = Task { for await _ in ticker { continuation.yield(nil) } }
                continuation.onTermination = { _ in a.cancel(); b.cancel() }
            }
            for await event in merged {
                let now = Int64(Date().timeIntervalSince1970 * 1000)
                switch event {
                case .connected?:
                    lastError = nil
                    do { try client.subscribe(filter, qos: 1) } catch { lastError = "\(error)" }
                case let .connectionFailed(error)?:
                    lastError = "\(error)"
                    if once, !json { FileHandle.standardError.write(Data("\(error)\n".utf8)) }
                case let .disconnected(error)?:
                    lastError = error.map { "\($0)" } ?? "disconnected"
                case let .message(message)?:
                    let accepted = table.ingest(topic: message.topic, payload: message.payload, retained: message.retain, nowMs: now)
                    if json, accepted {
                        let line = "{\"topic\":\(quoted(message.topic)),\"retained\":\(message.retain),\"document\":\(String(decoding: message.payload, as: UTF8.self))}\n"
                        FileHandle.standardOutput.write(Data(line.utf8))
                    }
                default:
                    break
                }
                if let deadline, ContinuousClock.now >= deadline { break }
                if !json, !once, ContinuousClock.now - lastDraw >= period
                    || (!interactive && (table.stateSnapshot != drawn.state || lastError != drawn.error)) {
                    lastDraw = ContinuousClock.now
                    drawn = (table.stateSnapshot, lastError)
                    var screen = interactive ? "\u{1B}[H\u{1B}[2J" : "\n"
                    screen += "quantwatch watch  \(broker.broker)  \(filter)  \(rfc3339(milliseconds: now))"
                        + (lastError.map { "\n! \($0)" } ?? "") + "\n\n" + table.render(nowMs: now)
                    FileHandle.standardOutput.write(Data(screen.utf8))
                }
            }
        }
        if once, !json {
            if let lastError, table.visibleRows.isEmpty { throw CLIError("no documents from \(broker.broker): \(lastError)") }
            print(table.render(nowMs: Int64(Date().timeIntervalSince1970 * 1000)), terminator: "")
        }
    }

    func quoted(_ s: String) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = .withoutEscapingSlashes
        return String(decoding: (try? encoder.encode(s)) ?? Data("\"\"".utf8), as: UTF8.self)
    }
}
