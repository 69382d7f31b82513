import AllocationCounter
import ArgumentParser
import FrameSources
import Foundation
import Monitor
import ONNXImport
import QuantGraph
import QuantKernels
import QuantMetrics

#if canImport(Glibc)
import Glibc
#endif

struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Measure a model's latency, throughput, memory and allocations on this machine.",
        discussion: """
            Loads and plans the model (timed), runs --warmup inferences, then --iterations timed \
            single-frame inferences, cycling over the frames. Reading a frame into the input is \
            outside the timed region (frames are read one at a time: .npy data from the file, images \
            decoded and preprocessed again); heap allocations are counted on this thread around \
            each timed inference.

            --frames PATH: a directory of .npy/.ppm/.pgm files (sorted by name), or one .npy file \
            of shape [N, …] (N frames). .ppm/.pgm images need --preprocessing FILE, a JSON object \
            like Fixtures/patches/preprocessing.json: "width", "height", and optionally "layout" \
            (NCHW|NHWC), "color" (RGB|GRAY), "scale", "mean", "std", "input" (the input to fill). \
            Frames fill the model's first input (or that "input"); other inputs hold zeros. \
            Without --frames every input holds zeros.

            Percentiles are nearest-rank. --json prints one object with these keys \
            (times in ms, sizes in bytes; see docs/bench.md):
              model, input, frames, frames_source, counters, activation_floors, int8_kernels, warmup, iterations,
              load_ms, plan_ms, latency_ms {p50, p95, p99, max, mean},
              frames_per_second, peak_rss_bytes, rss_bytes, arena_bytes,
              scratch_bytes, steps, allocations, allocations_per_inference
            """)

    @Option(name: .long, help: ArgumentHelp("The ONNX model file.", valueName: "FILE")) var model: String
    @Option(name: .long, help: ArgumentHelp("A directory of .npy/.ppm/.pgm frames, or one .npy file [N,…].", valueName: "PATH"))
    var frames: String?
    @Option(name: .long, help: ArgumentHelp("Image preprocessing JSON for .ppm/.pgm frames.", valueName: "FILE"))
    var preprocessing: String?
    @Option(name: .long, help: ArgumentHelp("Timed inferences.", valueName: "N")) var iterations: Int = 100
    @Option(name: .long, help: ArgumentHelp("Untimed inferences before the timed ones.", valueName: "N")) var warmup: Int = 10
    @Flag(name: .long, help: "Print one JSON object (keys listed above) instead of text.") var json = false
    @Flag(name: .customLong("no-counters"), help: "Plan the model without saturation counters (to measure what they cost).")
    var noCounters = false
    @Flag(name: .customLong("portable-kernels"), help: "Run the int8 convolutions on the portable Swift kernels (what aarch64 boards run) even where VNNI is available.")
    var portableKernels = false
    @Option(name: .long, help: ArgumentHelp("The float reference of an int8 model: its folded activations' floors are not counted as saturation, as in `run` and `eval`.", valueName: "FILE"))
    var reference: String?

    func validate() throws {
        guard iterations >= 1 else { throw ValidationError("--iterations must be at least 1") }
        guard warmup >= 0 else { throw ValidationError("--warmup must be 0 or more") }
    }

    func run() throws {
        let report = try withUserErrors { try measure() }
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
            print(String(decoding: try encoder.encode(report), as: UTF8.self))
        } else {
            print(report.text)
        }
    }

    func measure() throws -> BenchReport {
        let clock = ContinuousClock()
        let loadStart = clock.now
        let loaded = try ONNXModel.load(contentsOf: URL(fileURLWithPath: model))
        let planStart = clock.now
        var options = loaded.compileOptions
        options.saturationCounters = !noCounters
        if portableKernels { options.int8Acceleration = .portable }
        if let reference {
            options.activationBounds = try MonitoredModels.activationBounds(int8: loaded.graph, reference: URL(fileURLWithPath: reference))
        }
        let compiled = try loaded.compile(options)
        let planEnd = clock.now

        let spec = try preprocessing.map { try PreprocessingFile.read(URL(fileURLWithPath: $0)) }
        var inputIndex = 0
        if let name = spec?.input {
            guard let index = compiled.inputIndex(named: name) else {
                let expected = compiled.inputs.map(\.description).joined(separator: ", ")
                throw CLIError("\(preprocessing!): the model has no input named '\(name)'; it expects \(expected)")
            }
            inputIndex = index
        }
        let port = compiled.inputs[inputIndex]
        for index in compiled.inputs.indices {
            try compiled.setInput(index, Tensor(zeros: compiled.inputs[index].type))
        }
        // Frames are read one at a time into the input buffer, outside the timed region: a .npy
        // frame straight from its file, an image decoded and preprocessed again. Memory holds one
        // frame however many there are (FrameFeed); the values are those `eval` would use.
        let feed = try frames.map {
            try FrameFeed($0, expecting: port.type, inputName: port.name,
                          preprocessing: try spec.map { try $0.imagePreprocessing(source: preprocessing!) })
        }
        let frameCount = feed?.count ?? 1
        let destination = compiled.inputBuffer(inputIndex).baseAddress!
        func fill(_ index: Int) throws {
            try feed?.fill(index % frameCount, into: destination)
        }

        var i = 0
        while i < warmup {
            try fill(i)
            compiled.run()
            i += 1
        }

        // Heap allocations are counted around each timed run() only (frame reading allocates).
        let recorder = LatencyRecorder(capacity: iterations)
        var totalMilliseconds = 0.0
        var allocations = 0
        i = 0
        while i < iterations {
            try fill(i)
            qw_allocations_begin()
            let start = clock.now
            compiled.run()
            let end = clock.now
            allocations += qw_allocations_end()
            let ms = milliseconds(end - start)
            recorder.add(ms)
            totalMilliseconds += ms
            i += 1
        }

        let percentiles = recorder.percentiles()!
        let mean = totalMilliseconds / Double(iterations)
        return BenchReport(
            model: model,
            input: port.description,
            frames: frameCount,
            framesSource: frames ?? "zeros",
            counters: !noCounters,
            activationFloors: options.activationBounds.floors.count,
            activationCeilings: options.activationBounds.ceilings.count,
            int8Kernels: portableKernels || Conv2DInt8.vnniSupport == 0 ? "portable" : "vnni",
            warmup: warmup,
            iterations: iterations,
            loadMilliseconds: milliseconds(planStart - loadStart),
            planMilliseconds: milliseconds(planEnd - planStart),
            latency: .init(p50: percentiles.p50, p95: percentiles.p95, p99: percentiles.p99, max: percentiles.max, mean: mean),
            framesPerSecond: totalMilliseconds > 0 ? Double(iterations) * 1000 / totalMilliseconds : 0,
            peakRSSBytes: ProcessMemory.peakResidentBytes(),
            rssBytes: ProcessMemory.residentBytes(),
            arenaBytes: compiled.arenaByteCount,
            scratchBytes: compiled.scratchByteCount,
            steps: compiled.stepCount,
            allocations: allocations,
            allocationsPerInference: Double(allocations) / Double(iterations)
        )
    }
}

/// What `bench` measured. The JSON keys are fixed (documented in docs/bench.md).
struct BenchReport: Encodable {
    struct Latency: Encodable {
        var p50: Double
        var p95: Double
        var p99: Double
        var max: Double
        var mean: Double
    }

    var model: String
    var input: String
    var frames: Int
    var framesSource: String
    var counters: Bool
    var activationFloors: Int
    var activationCeilings: Int
    var int8Kernels: String
    var warmup: Int
    var iterations: Int
    var loadMilliseconds: Double
    var planMilliseconds: Double
    var latency: Latency
    var framesPerSecond: Double
    var peakRSSBytes: Int
    var rssBytes: Int
    var arenaBytes: Int
    var scratchBytes: Int
    var steps: Int
    var allocations: Int
    var allocationsPerInference: Double

    enum CodingKeys: String, CodingKey {
        case model, input, frames, counters, warmup, iterations, steps, allocations
        case framesSource = "frames_source"
        case activationFloors = "activation_floors"
        case activationCeilings = "activation_ceilings"
        case int8Kernels = "int8_kernels"
        case loadMilliseconds = "load_ms"
        case planMilliseconds = "plan_ms"
        case latency = "latency_ms"
        case framesPerSecond = "frames_per_second"
        case peakRSSBytes = "peak_rss_bytes"
        case rssBytes = "rss_bytes"
        case arenaBytes = "arena_bytes"
        case scratchBytes = "scratch_bytes"
        case allocationsPerInference = "allocations_per_inference"
    }

    var text: String {
        func ms(_ value: Double) -> String { String(format: "%.4f", value) }
        let perInference = allocations == 0 ? "0" : String(format: "%.2f", allocationsPerInference)
        return [
            "model        \(model)",
            "input        \(input)",
            "frames       \(frames) (\(framesSource))",
            "load + plan  \(String(format: "%.1f ms + %.1f ms", loadMilliseconds, planMilliseconds)), \(steps) steps",
            "runs         \(warmup) warm-up, \(iterations) timed, saturation counters \(counters ? "on" : "off")"
                + (activationFloors + activationCeilings > 0
                    ? " (\(activationFloors) activation floors, \(activationCeilings) ceilings not counted)" : ""),
            "latency ms   p50 \(ms(latency.p50))  p95 \(ms(latency.p95))  p99 \(ms(latency.p99))  max \(ms(latency.max))  mean \(ms(latency.mean))",
            "throughput   \(String(format: "%.1f", framesPerSecond)) frames/s (one thread, one frame at a time)",
            "memory       peak RSS \(ByteFormatting.string(peakRSSBytes)), RSS now \(ByteFormatting.string(rssBytes)), "
                + "arena \(ByteFormatting.string(arenaBytes)), scratch \(ByteFormatting.string(scratchBytes))",
            "allocations  \(perInference) per inference (\(allocations) in \(iterations) timed runs)",
        ].joined(separator: "\n")
    }
}

enum ByteFormatting {
    static func string(_ bytes: Int) -> String {
        if bytes < 1024 { return "\(bytes) B" }
        if bytes < 1024 * 1024 { return String(format: "%.1f KiB", Double(bytes) / 1024) }
        return String(format: "%.1f MiB", Double(bytes) / (1024 * 1024))
    }
}

/// This process's resident memory.
enum ProcessMemory {
    /// The high-water mark of this process's resident set, in bytes: VmHWM of /proc/self/status
    /// where there is one, else getrusage's ru_maxrss (kilobytes on Linux).
    ///
    /// Linux keeps ru_maxrss across execve: a process started by a large one (a Python harness
    /// holding onnxruntime, say) reports its parent's peak when that is higher. VmHWM belongs to
    /// the address space, which exec replaces, so it is this program's own peak.
    static func peakResidentBytes() -> Int {
        if let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
           let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmHWM:") }),
           let kilobytes = Int(line.dropFirst("VmHWM:".count).split(whereSeparator: { $0 == " " || $0 == "\t" }).first ?? "") {
            return kilobytes * 1024
        }
        var usage = rusage()
        guard getrusage(RUSAGE_SELF.rawValue, &usage) == 0 else { return 0 }
        return Int(usage.ru_maxrss) * 1024
    }

    /// The resident set now (the second field of /proc/self/statm, in pages), in bytes; 0 where
    /// /proc is not available.
    static func residentBytes() -> Int {
        guard let statm = try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8) else { return 0 }
        let fields = statm.split(separator: " ")
        guard fields.count >= 2, let pages = Int(fields[1]) else { return 0 }
        return pages * Int(sysconf(Int32(_SC_PAGESIZE)))
    }
}
