import ArgumentParser
import Foundation
import FrameSources
import QuantGraph

@main
struct QuantWatchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "quantwatch",
        abstract: "Runs int8-quantized ONNX models and measures how far they drift from their float originals.",
        version: QuantWatchVersion.string,
        subcommands: [InspectCommand.self, InferCommand.self, EvalCommand.self, BenchCommand.self, ReplayCommand.self, ReportCommand.self, PublishCommand.self, WatchCommand.self, PushCommand.self, RunCommand.self, ConfigCommand.self, KeygenCommand.self, BundleCommand.self, VersionCommand.self]
    )
}

enum QuantWatchVersion {
    static let string = "0.1.0"
}

/// Turns the errors the libraries throw into one line on stderr and a failing exit code.
struct CLIError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

func withUserErrors<R>(_ body: () throws -> R) throws -> R {
    do { return try body() } catch let error as ModelError {
        throw CLIError(error.message)
    } catch let error as FrameSourceError {
        throw CLIError(error.description)
    } catch let error as CLIError {
        throw error
    } catch let error as ValidationError {
        throw error
    } catch {
        throw CLIError("\(error)")
    }
}

extension CLIError: LocalizedError {
    var errorDescription: String? { description }
}
