import ArgumentParser
import Foundation
import QuantWatchDaemon

struct ConfigCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "config", abstract: "Check a daemon configuration file; list the keys it takes.",
        subcommands: [ConfigCheckCommand.self, ConfigKeysCommand.self])
}

struct ConfigCheckCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check",
        abstract: "Load a configuration as `quantwatch run` would: print \"ok\" and the effective configuration, or the errors and exit 78 (EX_CONFIG).",
        discussion: "QUANTWATCH_<SECTION>_<KEY> environment variables override the file, as they do for the daemon (docs/configuration.md).")

    @Argument(help: ArgumentHelp("The TOML file.", valueName: "FILE")) var file: String

    func run() throws {
        do {
            let configuration = try Configuration.load(path: file)
            print("ok")
            print(configuration.effectiveTOML, terminator: "")
        } catch {
            FileHandle.standardError.write(Data((error.description + "\n").utf8))
            throw ExitCode(ConfigurationError.exitCode)
        }
    }
}

struct ConfigKeysCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "keys", abstract: "List every configuration key: default, environment variable, live or restart, what is allowed (a Markdown table).")

    func run() throws {
        print("| key | default | environment | on SIGHUP | allowed |")
        print("|---|---|---|---|---|")
        for key in Configuration.keys {
            let allowed = key.allowed.replacingOccurrences(of: "|", with: "\\|")
            print("| `\(key.path)` | \(key.defaultValue.map { "`\($0)`" } ?? "—") | `\(key.environmentVariable)` | \(key.live ? "live" : "restart") | \(allowed) |")
        }
    }
}
