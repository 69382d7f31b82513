import ArgumentParser
import Documents
import Foundation
import MetricStore
import MQTTLink
import QuantWatchDaemon

struct PublishCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "publish",
        abstract: "Publish a metric buffer's undelivered documents to a broker, as the daemon's publisher does.",
        discussion: """
            Drains the outbox of the SQLite buffer at --db in seq order at QoS 1 with at most --max-in-flight
            unacknowledged; a document leaves the buffer only when the broker acknowledged it. Publishes the retained
            `online` status on connect and sets the retained `offline` status as the Last Will. Reconnects with
            back-off while the broker is unreachable. Without --until-empty it keeps running (and answers the
            ping and status commands); with it, it exits once the outbox is empty.
            """)

    @OptionGroup var broker: BrokerOptions
    @Option(name: .long, help: ArgumentHelp("The metric buffer (SQLite file).", valueName: "FILE")) var db: String
    @Option(name: .long, help: "Device id (topic path and documents).") var device: String
    @Option(name: .long, help: "Device group (commands to the group reach it).") var group: String?
    @Option(name: .long, help: "QoS 1 messages unacknowledged at once.") var maxInFlight: Int = 64
    @Flag(name: .long, help: "Exit once every document was acknowledged.") var untilEmpty = false
    @Option(name: .long, help: "With --until-empty: give up after this many seconds (exit 1).") var timeout: Double = 600

    func run() async throws {
        do {
            try TopicTree.validate(name: device, what: "device")
            if let group { try TopicTree.validate(name: group, what: "group") }
        } catch { throw CLIError("\(error)") }
        let topics = TopicTree(prefix: broker.prefix, device: device, group: group)
        let now: @Sendable () -> Int64 = { Int64(Date().timeIntervalSince1970 * 1000) }
        let buffer: MetricBuffer
        do {
            buffer = try MetricBuffer(options: .init(path: db), device: device, model: ModelReference(name: "", version: "", sha256: ""))
        } catch { throw CLIError("\(db): \(error)") }
        let active = try? await buffer.activeModel()
        let client: MQTTClient
        var configuration = broker.configuration(clientID: "quantwatch-\(device)")
        configuration.maxInflight = maxInFlight
        do {
            configuration.will = try await MQTTPublisher.lastWill(buffer: buffer, topics: topics, software: QuantWatchVersion.string,
                                                                 model: active, atMs: now())
            client = try MQTTClient(configuration: configuration)
        } catch { throw CLIError("\(error)") }
        var settings = PublisherSettings(topics: topics, software: QuantWatchVersion.string)
        settings.maxInFlight = maxInFlight
        let dispatcher = CommandDispatcher()
        let control = RuntimeControl(shadowPolicy: .init())
        await control.register(on: dispatcher, clock: now)
        let publisher = MQTTPublisher(settings: settings, buffer: buffer, client: client, commands: dispatcher, clock: now)
        await publisher.setWill(configuration.will)
        await publisher.update(model: active, drift: nil, sinceMs: now())
        let start = ContinuousClock.now
        let initial = (try? await buffer.stats().pendingRows) ?? 0
        client.start()
        let running = Task { await publisher.run() }
        var failed: String?
        if untilEmpty {
            let deadline = start + .milliseconds(Int(timeout * 1000))
            while true {
                try? await Task.sleep(for: .milliseconds(50))
                await publisher.flushAcknowledgedNow()
                let pending = (try? await buffer.stats().pendingRows) ?? 0
                if pending == 0, await publisher.inFlightCount == 0 { break }
                if ContinuousClock.now > deadline {
                    failed = "\(pending) documents still undelivered after \(timeout) s" + ((await publisher.lastError).map { ": \($0)" } ?? "")
                    break
                }
            }
            await publisher.finish()
        } else {
            await withTaskCancellationHandler { _ = await running.value } onCancel: { running.cancel() }
        }
        running.cancel()
        await buffer.changed()
        client.stop()
        await running.value
        await publisher.flushAcknowledgedNow()
        await buffer.close()
        let seconds = Double((ContinuousClock.now - start).components.attoseconds) / 1e18 + Double((ContinuousClock.now - start).components.seconds)
        let delivered = await publisher.delivered
        print("delivered \(delivered) documents (\(initial) were waiting) in \(String(format: "%.2f", seconds)) s, "
            + "\(String(format: "%.0f", Double(delivered) / max(seconds, 1e-9))) documents/s")
        if let failed { throw CLIError(failed) }
    }
}
