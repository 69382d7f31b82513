import ArgumentParser
import Documents
import Foundation
import FrameSources
import MetricStore
import Monitor
import ONNXImport
import QuantWatchDaemon

struct ReplayCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "replay",
        abstract: "Runs recorded frames through the monitoring pipeline into a metric buffer, as the daemon would.",
        discussion: """
            Every frame runs the int8 model; sampled frames also run the float reference (the shadow). Windows,
            drift states and events are committed to the SQLite buffer at --db exactly as the daemon commits them
            (one transaction per window, each document with its per-device seq), without publishing anything.
            Frames are stamped --fps apart from --start, so a replay of recorded frames yields the windows they
            would have given live. Several --frames sets play in order (e.g. clean, then drifted); --repeat
            plays each that many times. Then: quantwatch report --db FILE.
            """)

    @Option(name: .long, help: "The int8 ONNX model.") var model: String
    @Option(name: .long, help: "Its float reference.") var reference: String
    @Option(name: .long, help: ArgumentHelp("Frames: a directory of .npy/.pgm/.ppm or one .npy [N, …]; repeat for sets played in order.", valueName: "PATH"))
    var frames: [String]
    @Option(name: .long, help: ArgumentHelp("How images become inputs (JSON: width, height, layout, color, scale, mean, std).", valueName: "FILE"))
    var preprocessing: String?
    @Option(name: .long, help: ArgumentHelp("The metric buffer (SQLite file, created if missing).", valueName: "FILE")) var db: String
    @Option(name: .long, help: "Device name in the documents.") var device: String = "replay"
    @Option(name: .long, help: "Plays of each frame set.") var `repeat`: Int = 1
    @Option(name: .long, help: "Frames per second of the stamped timeline.") var fps: Double = 10
    @Option(name: .long, help: ArgumentHelp("Time of the first frame: RFC 3339, Unix ms, or an age (2h). Default: now.", valueName: "TIME")) var start: String?
    @Option(name: .long, help: "Window length in seconds.") var windowSeconds: Double = 10
    @Option(name: .long, help: "Shadow every N-th frame (uniform stream).") var shadowEvery: Int = 5
    @Option(name: .long, help: "Model version recorded in the documents.") var modelVersion: String = "1"

    func validate() throws {
        guard !frames.isEmpty else { throw ValidationError("give at least one --frames PATH") }
        guard `repeat` >= 1 else { throw ValidationError("--repeat must be at least 1") }
        guard fps > 0, fps.isFinite else { throw ValidationError("--fps must be positive") }
        guard windowSeconds > 0 else { throw ValidationError("--window-seconds must be positive") }
        guard shadowEvery >= 1 else { throw ValidationError("--shadow-every must be at least 1") }
    }

    func run() throws {
        try withUserErrors {
            let int8URL = URL(fileURLWithPath: model)
            let models = try MonitoredModels.load(int8: int8URL, float: URL(fileURLWithPath: reference))
            let port = models.int8.inputs[0]
            let image = try preprocessing.map { try PreprocessingFile.read(URL(fileURLWithPath: $0)).imagePreprocessing(source: $0) }
            let sets = try frames.map { path in
                try FrameLoader.load(path, expecting: port.type, inputName: port.name, preprocessing: image).map { $0.tensor.floatValues() ?? [] }
            }
            var configuration = MonitorConfiguration()
            configuration.windowMs = Int64(windowSeconds * 1000)
            configuration.shadow.everyNth = shadowEvery
            configuration.shadow.minimumInterval = 0
            configuration.shadow.cpuShare = 1
            configuration.shadow.burstSeconds = 60

            let store = try MetricStore(options: .init(path: db))
            defer { store.close() }
            let reference = try ModelReference.file(int8URL, name: int8URL.deletingPathExtension().lastPathComponent, version: modelVersion)
            let recorder = MetricRecorder(store: store, device: device, model: reference)
            let startMs = try start.map { try TimeArgument.milliseconds($0) } ?? Int64(Date().timeIntervalSince1970 * 1000)
            let baseline = try recorder.storedBaseline()
            try recorder.activate(model: reference, path: int8URL.path, atMs: startMs)
            let monitor = try Monitor(models: models, configuration: configuration, baseline: baseline)

            var index = 0, committed = 0
            var events: [MonitorEvent] = []
            let total = sets.reduce(0) { $0 + $1.count } * `repeat`
            for set in sets {
                for _ in 0..<`repeat` {
                    for frame in set {
                        let t = startMs + Int64((Double(index) * 1000 / fps).rounded())
                        _ = try frame.withUnsafeBufferPointer { try monitor.process(frame: $0, timeMs: t) }
                        index += 1
                        let closed = monitor.takeWindows(), happened = monitor.takeEvents()
                        if !closed.isEmpty || !happened.isEmpty {
                            committed += try recorder.record(windows: closed, events: happened, samples: monitor.takeShadowSamples(),
                                                                 baseline: monitor.baseline).count
                            events += happened
                        }
                        if index % 1000 == 0 || index == total {
                            FileHandle.standardError.write(Data("\rframe \(index)/\(total)\(index == total ? "\n" : "")".utf8))
                        }
                    }
                }
            }
            monitor.flush(timeMs: startMs + Int64((Double(index) * 1000 / fps).rounded()))
            let last = monitor.takeEvents()
            committed += try recorder.record(windows: monitor.takeWindows(), events: last, samples: monitor.takeShadowSamples(),
                                             baseline: monitor.baseline).count
            events += last
            let stats = try store.stats()
            print("replayed \(index) frames (\(monitor.shadowCount) shadowed) into \(db): \(committed) commits, state \(monitor.state.rawValue)")
            print("buffer: \(stats.windowRows) windows, \(stats.eventRows) events, \(stats.sampleRows) shadow samples, "
                + "\(stats.pendingRows) documents undelivered, next seq \(stats.nextSeq)")
            for event in events { print("  \(rfc3339(milliseconds: event.tsMs))  \(event.kind.rawValue)  \(event.cause)") }
        }
    }
}
