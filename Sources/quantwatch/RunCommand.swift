import ArgumentParser
import Foundation
import Logging
import QuantWatchDaemon

struct RunCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "The daemon: frames → int8 inference → shadow float runs → drift detectors → SQLite → MQTT.",
        discussion: """
            Reads --config (default /etc/quantwatch/quantwatch.toml when it exists; docs/configuration.md). With no
            configuration at all it runs the bundled `patches` fixture on its bundled frames into ./quantwatch-demo.db
            (pushed models into ./quantwatch-demo-state) and says so. A bad configuration exits 78 (EX_CONFIG) naming the key. Under systemd (Type=notify):
            READY=1 once the model is loaded and the store open, STATUS= lines, WATCHDOG=1 from the inference loop,
            STOPPING=1 on SIGTERM after the current window is stored. SIGHUP reloads what can change live.
            """)

    @Option(name: .long, help: ArgumentHelp("The configuration file (TOML).", valueName: "FILE")) var config: String?

    static let systemConfiguration = "/etc/quantwatch/quantwatch.toml"

    func run() async throws {
        // A parent may have started us with these blocked (Foundation's Process passes its mask on):
        // the daemon must see SIGTERM, SIGINT and SIGHUP.
        var unblock = sigset_t()
        sigemptyset(&unblock)
        for signal in [SIGTERM, SIGINT, SIGHUP] { sigaddset(&unblock, signal) }
        pthread_sigmask(SIG_UNBLOCK, &unblock, nil)
        let path = config ?? (FileManager.default.fileExists(atPath: Self.systemConfiguration) ? Self.systemConfiguration : nil)
        let configuration: Configuration
        do {
            if let path {
                configuration = try Configuration.load(path: path)
            } else {
                configuration = try Self.embeddedDefault()
            }
        } catch let error as ConfigurationError {
            FileHandle.standardError.write(Data((error.description + "\n").utf8))
            throw ExitCode(ConfigurationError.exitCode)
        }
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = Logger.Level(rawValue: configuration.log.level.rawValue) ?? .info
            return handler
        }
        let logger = Logger(label: "quantwatch")
        if path == nil {
            let message = "no configuration file: running the embedded default — the bundled patches fixture on its bundled frames, "
                + "into \(configuration.store.path) (model updates in \(configuration.update.stateDir)), publishing to \(configuration.mqtt.url) when a broker is there"
            logger.notice("\(message)")
        }
        do {
            try await Daemon.run(configuration: configuration, configurationPath: path, software: QuantWatchVersion.string, logger: logger)
        } catch let error as ConfigurationError {
            FileHandle.standardError.write(Data((error.description + "\n").utf8))
            throw ExitCode(ConfigurationError.exitCode)
        } catch {
            throw CLIError("\(error)")
        }
    }

    /// The bundled fixture, found beside the binary (a build tree or an install) or in the working directory.
    static func embeddedDefault() throws -> Configuration {
        let executable = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent()
        let candidates = [URL(fileURLWithPath: FileManager.default.currentDirectoryPath).appendingPathComponent("Fixtures"),
                          executable.appendingPathComponent("../../../Fixtures").standardized,
                          executable.appendingPathComponent("../share/quantwatch/Fixtures").standardized]
        guard let fixtures = candidates.first(where: { FileManager.default.fileExists(atPath: $0.appendingPathComponent("patches/model.fp32.onnx").path) }) else {
            throw CLIError("no --config given, /etc/quantwatch/quantwatch.toml absent, and the bundled fixtures were not found (looked in "
                + candidates.map(\.path).joined(separator: ", ") + "); give --config FILE (Config/quantwatch.toml is the template)")
        }
        let p = fixtures.appendingPathComponent("patches").path
        let text = """
            [device]
            id = "demo"
            [model]
            int8 = "\(p)/model.int8.qop.onnx"
            float = "\(p)/model.fp32.onnx"
            name = "patches"
            version = "fixture"
            [frames]
            source = "directory"
            path = "\(p)/frames"
            fps = 10
            loop = true
            [preprocessing]
            scale = 0.00392156862745098
            mean = [0.485, 0.456, 0.406]
            std = [0.229, 0.224, 0.225]
            [store]
            path = "quantwatch-demo.db"
            [update]
            state_dir = "quantwatch-demo-state"
            [mqtt]
            url = "mqtt://localhost:1883"
            """
        do {
            return try Configuration.parse(text, file: "the embedded default", baseDirectory: FileManager.default.currentDirectoryPath)
        } catch {
            throw CLIError("the embedded default configuration does not load: \(error)")
        }
    }
}
