// METRICS.md's window: the aggregates of every int8 frame and of the shadowed frames in a period
// (default 10 s), as published in a `metrics` document. Uniform and triggered shadow frames are
// kept apart: only the uniform stream gives unbiased rates.
import QuantKernels

/// How a shadowed frame was chosen.
public enum ShadowStream: String, Sendable, Codable {
    /// Every N-th frame / at most every T seconds: an unbiased sample.
    case uniform
    /// Chosen because its saturation or input-range counters jumped: diagnostics, biased.
    case triggered
}

/// Accumulates one window. All buffers are allocated at init: adding a frame never allocates;
/// `summary` allocates its result (once per window).
public final class WindowAggregator {
    public let tensors: [String]
    public let classLabels: [String]
    /// int8 latency, and float latency on shadowed frames.
    public let latency: LatencyRecorder
    public let floatLatency: LatencyRecorder
    private let sqnr: SampleRing
    private var saturationHigh: [Int], saturationLow: [Int], saturationTotal: [Int]
    private var classCounts: [Int]

    public private(set) var frames = 0
    private var inputOutOfRange = 0.0, inputOutOfRangeFrames = 0
    private var confidence = 0.0
    private var frameSaturationMax = 0.0
    private var uniform = StreamSums(), triggered = StreamSums()
    /// int8 latency summed over shadowed frames (for int8_speedup on the same frames).
    private var shadowInt8Ms = 0.0, shadowFloatMs = 0.0

    /// - Parameters:
    ///   - tensors: the int8 tensors whose saturation is aggregated (`SaturationReader.tensors`).
    ///   - classLabels: one key per class of the histogram (the output's last axis); empty: none.
    ///   - capacity: latency and SQNR samples kept per window (beyond it the most recent are kept).
    public init(tensors: [String], classLabels: [String], capacity: Int = 4096) {
        self.tensors = tensors
        self.classLabels = classLabels
        latency = LatencyRecorder(capacity: capacity)
        floatLatency = LatencyRecorder(capacity: capacity)
        sqnr = SampleRing(capacity: capacity)
        saturationHigh = Array(repeating: 0, count: tensors.count)
        saturationLow = saturationHigh
        saturationTotal = saturationHigh
        classCounts = Array(repeating: 0, count: classLabels.count)
    }

    /// Adds one int8 frame. `perTensor`: this frame's counts per tensor (`SaturationReader.read`).
    public func addFrame(latencyMs: Double, saturation: FrameSaturation, perTensor: UnsafeBufferPointer<SaturationCounts>,
                         confidence c: Double, topClass: Int) {
        frames += 1
        latency.add(latencyMs)
        for j in 0..<min(perTensor.count, tensors.count) {
            saturationHigh[j] += perTensor[j].high
            saturationLow[j] += perTensor[j].low
            saturationTotal[j] += perTensor[j].total
        }
        frameSaturationMax = max(frameSaturationMax, saturation.max)
        if let oor = saturation.inputOutOfRange {
            inputOutOfRange += oor
            inputOutOfRangeFrames += 1
        }
        if c.isFinite { confidence += c }
        if topClass >= 0, topClass < classCounts.count { classCounts[topClass] += 1 }
    }

    /// Adds a shadowed frame's comparison (after `addFrame` of the same frame).
    public func addShadow(_ comparison: TensorComparison, stream: ShadowStream, int8LatencyMs: Double, floatLatencyMs: Double) {
        switch stream {
        case .uniform:
            uniform.add(comparison)
            sqnr.add(comparison.sqnrDb)
        case .triggered:
            triggered.add(comparison)
        }
        floatLatency.add(floatLatencyMs)
        if int8LatencyMs.isFinite, floatLatencyMs.isFinite {
            shadowInt8Ms += int8LatencyMs
            shadowFloatMs += floatLatencyMs
        }
    }

    /// The window's aggregates; nil when no frame was added.
    public func summary(startMs: Int64, endMs: Int64, drift: DriftSummary) -> WindowSummary? {
        guard frames > 0 else { return nil }
        var s = WindowSummary(startMs: startMs, endMs: endMs, frames: frames,
                              shadowed: .init(uniform: uniform.frames, triggered: triggered.frames), drift: drift)
        s.latencyMs = latency.percentiles()
        s.floatLatencyMs = floatLatency.percentiles()
        if shadowInt8Ms > 0, shadowFloatMs > 0 { s.int8Speedup = shadowFloatMs / shadowInt8Ms }
        if uniform.frames > 0 {
            s.sqnrDb = .init(mean: uniform.sqnr / Double(uniform.frames), p5: sqnr.percentile(5) ?? uniform.sqnr / Double(uniform.frames))
            s.cosine = .init(mean: uniform.cosine / Double(uniform.frames))
            if uniform.classifierFrames > 0 {
                s.top1Agree = uniform.top1 / Double(uniform.classifierFrames)
                s.topkOverlap = uniform.topk / Double(uniform.classifierFrames)
                s.kl = .init(mean: uniform.kl / Double(uniform.classifierFrames))
            }
        }
        if triggered.frames > 0 {
            s.triggered = .init(frames: triggered.frames, sqnrDbMean: triggered.sqnr / Double(triggered.frames),
                                top1Agree: triggered.classifierFrames > 0 ? triggered.top1 / Double(triggered.classifierFrames) : nil)
        }
        var fractions: [(String, Double)] = []
        for j in tensors.indices where saturationTotal[j] > 0 {
            let f = Double(saturationHigh[j] + saturationLow[j]) / Double(saturationTotal[j])
            if f > 0 { fractions.append((tensors[j], f)) }
        }
        fractions.sort { $0.1 != $1.1 ? $0.1 > $1.1 : $0.0 < $1.0 }
        s.saturation = .init(max: fractions.first?.1 ?? 0, frameMax: frameSaturationMax,
                             top: Dictionary(fractions.prefix(3).map { ($0.0, $0.1) }, uniquingKeysWith: { a, _ in a }))
        if inputOutOfRangeFrames > 0 { s.inputOutOfRange = inputOutOfRange / Double(inputOutOfRangeFrames) }
        s.confidence = .init(mean: confidence / Double(frames))
        if !classLabels.isEmpty {
            s.classes = Dictionary(zip(classLabels, classCounts).map { ($0, $1) }, uniquingKeysWith: +)
        }
        return s
    }

    /// Starts a new window (keeps every buffer).
    public func reset() {
        frames = 0
        latency.reset()
        floatLatency.reset()
        sqnr.reset()
        for j in saturationHigh.indices {
            saturationHigh[j] = 0
            saturationLow[j] = 0
            saturationTotal[j] = 0
        }
        for j in classCounts.indices { classCounts[j] = 0 }
        inputOutOfRange = 0
        inputOutOfRangeFrames = 0
        confidence = 0
        frameSaturationMax = 0
        uniform = StreamSums()
        triggered = StreamSums()
        shadowInt8Ms = 0
        shadowFloatMs = 0
    }
}

/// Sums of one shadow stream's per-frame comparisons.
struct StreamSums {
    var frames = 0, classifierFrames = 0
    var sqnr = 0.0, cosine = 0.0, top1 = 0.0, topk = 0.0, kl = 0.0

    mutating func add(_ c: TensorComparison) {
        frames += 1
        sqnr += c.sqnrDb
        cosine += c.cosine
        if let t = c.top1Agree {
            classifierFrames += 1
            top1 += t
            topk += c.topkOverlap ?? 0
            kl += c.kl ?? 0
        }
    }
}

/// A fixed-capacity ring of samples with a nearest-rank percentile (no allocation after init).
final class SampleRing {
    let capacity: Int
    private let samples: UnsafeMutablePointer<Double>
    private let scratch: UnsafeMutablePointer<Double>
    private var next = 0
    private(set) var stored = 0

    init(capacity: Int) {
        precondition(capacity > 0)
        self.capacity = capacity
        samples = .allocate(capacity: capacity)
        scratch = .allocate(capacity: capacity)
    }

    deinit {
        samples.deallocate()
        scratch.deallocate()
    }

    func add(_ x: Double) {
        guard x.isFinite else { return }
        samples[next] = x
        next = next + 1 == capacity ? 0 : next + 1
        stored = Swift.min(stored + 1, capacity)
    }

    func reset() {
        next = 0
        stored = 0
    }

    func percentile(_ p: Double) -> Double? { percentiles(p, p, p)?.0 }

    /// Three nearest-rank percentiles from one sort of the kept samples.
    func percentiles(_ a: Double, _ b: Double, _ c: Double) -> (Double, Double, Double)? {
        guard stored > 0 else { return nil }
        scratch.update(from: samples, count: stored)
        let sorted = UnsafeMutableBufferPointer(start: scratch, count: stored)
        heapSort(sorted)
        let view = UnsafeBufferPointer(sorted)
        return (nearestRankPercentile(view, a)!, nearestRankPercentile(view, b)!, nearestRankPercentile(view, c)!)
    }
}

/// The drift part of a window: the device's state (the worst detector's) and each detector's.
public struct DriftSummary: Sendable, Codable, Equatable {
    public var state: DriftState
    /// Detector name → state, e.g. `{"sqnr_db":"ok","top1_agree":"ok","saturation":"warning",…}`.
    public var detectors: [String: DriftState]
    /// Whether the baseline is complete (detectors run only then).
    public var baselineReady: Bool

    public init(state: DriftState, detectors: [String: DriftState], baselineReady: Bool) {
        self.state = state
        self.detectors = detectors
        self.baselineReady = baselineReady
    }

    enum CodingKeys: String, CodingKey { case state, detectors, baselineReady = "baseline_ready" }
}

/// One window's aggregates, the body of a `metrics` document (docs/documents.md). Metric values are
/// nested objects with fixed keys (Telegraf's json parser flattens `latency_ms.p95` to
/// `latency_ms_p95`); absent metrics (no shadowed frame, no classifier output) are omitted.
public struct WindowSummary: Sendable, Codable, Equatable {
    public struct Shadowed: Sendable, Codable, Equatable {
        public var uniform: Int
        public var triggered: Int
        public init(uniform: Int, triggered: Int) { self.uniform = uniform; self.triggered = triggered }
    }
    public struct Mean: Sendable, Codable, Equatable {
        public var mean: Double
        public init(mean: Double) { self.mean = mean }
    }
    public struct SQNR: Sendable, Codable, Equatable {
        public var mean: Double
        public var p5: Double
        public init(mean: Double, p5: Double) { self.mean = mean; self.p5 = p5 }
    }
    public struct SaturationSummary: Sendable, Codable, Equatable {
        /// The largest window-level fraction over the int8 tensors (high + low, floors excluded).
        public var max: Double
        /// The largest single-frame value (the per-frame detector's input).
        public var frameMax: Double
        /// The (up to) three most saturated tensors by name → fraction.
        public var top: [String: Double]

        public init(max: Double, frameMax: Double, top: [String: Double]) {
            self.max = max
            self.frameMax = frameMax
            self.top = top
        }

        enum CodingKeys: String, CodingKey { case max, frameMax = "frame_max", top }
    }
    public struct Triggered: Sendable, Codable, Equatable {
        public var frames: Int
        public var sqnrDbMean: Double
        public var top1Agree: Double?

        public init(frames: Int, sqnrDbMean: Double, top1Agree: Double?) {
            self.frames = frames
            self.sqnrDbMean = sqnrDbMean
            self.top1Agree = top1Agree
        }

        enum CodingKeys: String, CodingKey { case frames, sqnrDbMean = "sqnr_db_mean", top1Agree = "top1_agree" }
    }

    public var startMs: Int64
    public var endMs: Int64
    public var frames: Int
    public var shadowed: Shadowed
    public var latencyMs: LatencyPercentiles?
    public var floatLatencyMs: LatencyPercentiles?
    public var int8Speedup: Double?
    public var top1Agree: Double?
    public var topkOverlap: Double?
    public var sqnrDb: SQNR?
    public var kl: Mean?
    public var cosine: Mean?
    public var saturation = SaturationSummary(max: 0, frameMax: 0, top: [:])
    public var inputOutOfRange: Double?
    public var confidence = Mean(mean: 0)
    /// Output class histogram: every class label as a key (fixed keys), frames whose int8 top-1 it was.
    public var classes: [String: Int]?
    /// The triggered shadow stream, apart from the uniform one.
    public var triggered: Triggered?
    public var drift: DriftSummary

    public init(startMs: Int64, endMs: Int64, frames: Int, shadowed: Shadowed, drift: DriftSummary) {
        self.startMs = startMs
        self.endMs = endMs
        self.frames = frames
        self.shadowed = shadowed
        self.drift = drift
    }

    enum CodingKeys: String, CodingKey {
        case startMs = "start_ms", endMs = "end_ms", frames, shadowed, latencyMs = "latency_ms", floatLatencyMs = "float_latency_ms"
        case int8Speedup = "int8_speedup", top1Agree = "top1_agree", topkOverlap = "topk_overlap", sqnrDb = "sqnr_db", kl, cosine
        case saturation, inputOutOfRange = "input_out_of_range", confidence, classes, triggered, drift
    }
}
