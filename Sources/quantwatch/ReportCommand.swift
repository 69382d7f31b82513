import ArgumentParser
import Documents
import Foundation
import MetricStore
import Reports

struct ReportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "report",
        abstract: "What a device's metric buffer holds: windows over time, drift states, events, models.",
        discussion: """
            Reads the SQLite buffer (for instance copied off a board) without changing it. --format html writes
            one self-contained file with inline SVG charts (top-1 agreement, SQNR, saturation, latency over time,
            drift states as bands, model switches as markers).
            """)

    @Option(name: .long, help: ArgumentHelp("The metric buffer (SQLite file).", valueName: "FILE")) var db: String
    @Option(name: .long, help: ArgumentHelp("Only windows and events from then on: RFC 3339, Unix ms, or an age (2h, 7d).", valueName: "TIME"))
    var since: String?
    @Option(name: .long, help: "Output format: table, json or html.") var format: String = "table"
    @Option(name: .shortAndLong, help: ArgumentHelp("Write to FILE instead of standard output.", valueName: "FILE")) var output: String?

    func validate() throws {
        guard DeviceReportFormat(rawValue: format) != nil else { throw ValidationError("--format must be table, json or html") }
    }

    func run() throws {
        try withUserErrors {
            let sinceMs = try since.map { try TimeArgument.milliseconds($0) }
            let reader = try MetricStoreReader(path: db)
            defer { reader.close() }
            let windows = try reader.windows(sinceMs: sinceMs ?? .min).map { row -> MetricsDocument in
                do { return try DocumentCoding.decode(MetricsDocument.self, from: row.json) } catch {
                    throw CLIError("\(db): window \(row.id) holds a document this version cannot read (\(error)); expected a quantwatch.metrics document")
                }
            }
            let events = try reader.events(sinceMs: sinceMs ?? .min).map { DeviceReport.event(tsMs: $0.tsMs, kind: $0.kind, json: $0.json) }
            let models = try reader.models().map {
                ReportModel(name: $0.name, version: $0.version, sha256: $0.sha256, activatedMs: $0.activatedMs, hasBaseline: $0.baselineJSON != nil)
            }
            let report = DeviceReport(source: db, device: nil, since: sinceMs, windows: windows, events: events, models: models,
                                      pending: try reader.pendingCount())
            let text = try report.render(DeviceReportFormat(rawValue: format)!)
            if let output {
                try Data(text.utf8).write(to: URL(fileURLWithPath: output), options: .atomic)
                FileHandle.standardError.write(Data("wrote \(output)\n".utf8))
            } else {
                print(text, terminator: "")
            }
        }
    }
}
