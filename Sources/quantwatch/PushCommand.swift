import ArgumentParser
import Foundation
import ModelUpdate
import MQTTLink
import QuantWatchDaemon

struct PushCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "push",
        abstract: "Send a signed bundle to a device or a group over MQTT and wait for each device's verdict.",
        discussion: """
            Sends update_begin (the signed header, sizes, chunk hashes), then the chunks each device is missing (for a
            group, once to the group topic), asks for status and sends what is still missing; a device silent for a
            few seconds is sent the begin again, so a transfer interrupted by a broker or device restart resumes.
            Prints a progress line per device, then each verdict. Exits 0 when every device installed the bundle,
            1 when any refused it or did not answer within --timeout. A group's devices are those whose retained
            status names the group and is not offline, and any device that answers. docs/model-updates.md.
            """)

    @OptionGroup var broker: BrokerOptions
    @Option(name: .long, help: "The device to update.") var device: String?
    @Option(name: .long, help: "The group to update (every device of it).") var group: String?
    @Option(name: .long, help: ArgumentHelp("Chunk size in bytes, 1024 … 1048576 (a chunk is 24 bytes more on the wire).", valueName: "BYTES"))
    var chunkSize: Int = 64 << 10
    @Option(name: .long, help: ArgumentHelp("Give up on devices without a verdict after this many seconds.", valueName: "S")) var timeout: Double = 600
    @Argument(help: ArgumentHelp("The bundle (.qwb) to push.", valueName: "BUNDLE")) var bundle: String

    func validate() throws {
        guard (device == nil) != (group == nil) else { throw ValidationError("give exactly one of --device ID or --group G") }
        guard UpdateBegin.chunkSizes.contains(chunkSize) else { throw ValidationError("--chunk-size \(chunkSize): expected 1024 … 1048576 bytes") }
        guard timeout > 0, timeout.isFinite else { throw ValidationError("--timeout must be a positive number of seconds") }
    }

    func run() async throws {
        do {
            if let device { try TopicTree.validate(name: device, what: "device") }
            if let group { try TopicTree.validate(name: group, what: "group") }
        } catch { throw CLIError("\(error)") }
        let bytes: [UInt8]
        do { bytes = Array(try Data(contentsOf: URL(fileURLWithPath: bundle))) } catch {
            throw CLIError("\(bundle): \(error.localizedDescription)")
        }
        var settings = PushSettings(target: device.map { .device($0) } ?? .group(group!))
        settings.prefix = broker.prefix
        settings.chunkSize = chunkSize
        settings.timeout = .milliseconds(Int(timeout * 1000))
        let client: MQTTClient
        do {
            client = try MQTTClient(configuration: broker.configuration(clientID: "quantwatch-push-\(ProcessInfo.processInfo.processIdentifier)"))
        } catch { throw CLIError("\(error)") }
        let pusher: BundlePusher
        do {
            pusher = try BundlePusher(bundle: bytes, settings: settings, client: client) { line in
                FileHandle.standardOutput.write(Data((line.text + "\n").utf8))
            }
        } catch { throw CLIError("\(bundle): \(error)") }
        let begin = pusher.begin
        print("pushing \(bundle): transfer \(begin.transfer), \(begin.payloadSize) bytes in \(begin.chunkCount) chunks of \(begin.chunkSize) "
            + "to \(device.map { "device \($0)" } ?? "group \(group!)") via \(broker.broker)")
        let start = ContinuousClock.now
        let outcomes = await pusher.run()
        let elapsed = ContinuousClock.now - start
        let chunks = await pusher.chunksSent
        print(String(format: "%.1f s; %d chunks sent (%d needed)", Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18,
                     chunks, begin.chunkCount))
        if outcomes.isEmpty { throw CLIError("no device of group \(group ?? "?") answered within \(timeout) s") }
        for o in outcomes {
            print("\(o.device): \(o.verdict.rawValue)" + (o.message.map { " — \($0)" } ?? ""))
        }
        if outcomes.contains(where: { $0.verdict != .installed }) { throw ExitCode(1) }
    }
}
