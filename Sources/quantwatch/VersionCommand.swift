import ArgumentParser
import MQTTLink
import MetricStore

struct VersionCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "version", abstract: "Print the versions of QuantWatch and of the libraries it runs on.")

    func run() throws {
        print("quantwatch \(QuantWatchVersion.string)")
        print("ONNX opsets 10-28 (ai.onnx)")
        print("libmosquitto \(MosquittoLibrary.version)")
        print("sqlite \(SQLiteLibrary.version)\(SQLiteLibrary.isThreadSafe ? "" : " (not thread-safe)")")
    }
}
