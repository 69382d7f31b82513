// The per-frame monitoring pipeline: int8 inference on every frame with its counters, shadow
// scheduling, float inference and comparison on shadowed frames, windows, baseline, detectors,
// events. Knows nothing of MQTT, SQLite or configuration files: the daemon feeds frames in and
// takes windows and events out.
import QuantGraph
import QuantKernels
import QuantMetrics

/// Settings of the pipeline (the daemon reads them from its configuration file).
public struct MonitorConfiguration: Sendable, Codable, Equatable {
    /// Window length in milliseconds (METRICS.md default 10 s).
    public var windowMs: Int64 = 10_000
    public var shadow = ShadowPolicy()
    public var detectors = DetectorSettings()
    /// k of `topk_overlap`.
    public var k = Comparison.defaultK
    /// Class names for the window's histogram (default "0" … "n−1").
    public var classLabels: [String]?
    /// Latency and SQNR samples kept per window for percentiles.
    public var samplesPerWindow = 4096

    public init() {}

    enum CodingKeys: String, CodingKey {
        case windowMs = "window_ms", shadow, detectors, k, classLabels = "class_labels", samplesPerWindow = "samples_per_window"
    }
}

/// What one frame gave.
public struct FrameOutcome: Sendable, Equatable {
    /// The int8 output's top class (−1 when the output is not a classifier).
    public var topClass: Int
    public var confidence: Double
    public var latencyMs: Double
    public var saturation: FrameSaturation
    public var shadow: ShadowDecision
    /// The comparison of this frame, when it was shadowed.
    public var comparison: TensorComparison?
    /// The device's drift state after this frame.
    public var state: DriftState
}

/// Runs the pipeline for one active model. Not thread-safe: one task feeds it. After `init`, the
/// int8 path of `process` allocates nothing; a shadowed frame allocates only inside the comparison's
/// top-k; events and closed windows allocate when they happen.
public final class Monitor {
    public let models: MonitoredModels
    public let configuration: MonitorConfiguration
    public let saturationReader: SaturationReader
    public private(set) var scheduler: ShadowScheduler
    private var tracker: DriftTracker
    private let window: WindowAggregator
    private var windowStartMs: Int64?
    private var perTensor: [SaturationCounts]
    private var recentSaturation: [Double]
    private var int8Output: [Float]
    private var transitions: [(DetectorName, DriftState, DriftState)] = []
    private var pendingWindows: [WindowSummary] = []
    private var pendingEvents: [MonitorEvent] = []
    private var pendingSamples: [ShadowSample] = []
    /// Shadow samples kept between two `takeShadowSamples()` calls (the oldest are dropped).
    public var shadowSampleLimit = 64
    private let clock = ContinuousClock()
    /// Frames processed since the monitor started.
    public private(set) var frameCount = 0
    public private(set) var shadowCount = 0

    /// `baseline`: a persisted baseline of this model (detectors start at once); nil: built from the
    /// first frames.
    public init(models: MonitoredModels, configuration: MonitorConfiguration = MonitorConfiguration(), baseline: Baseline? = nil) throws {
        try configuration.shadow.validate()
        guard configuration.windowMs > 0 else { throw MonitorError("window_ms is \(configuration.windowMs); expected milliseconds > 0") }
        guard configuration.samplesPerWindow > 0 else { throw MonitorError("samples_per_window is \(configuration.samplesPerWindow); expected > 0") }
        let classes = models.classes ?? 0
        if let labels = configuration.classLabels, classes > 0, labels.count != classes {
            throw MonitorError("class_labels has \(labels.count) names; the output '\(models.float.outputs[models.floatOutput].name)' has \(classes) classes")
        }
        self.models = models
        self.configuration = configuration
        saturationReader = SaturationReader(model: models.int8, activationBounds: models.activationBounds)
        scheduler = ShadowScheduler(policy: configuration.shadow)
        tracker = DriftTracker(settings: configuration.detectors, baseline: baseline)
        let labels = classes > 0 ? (configuration.classLabels ?? (0..<classes).map(String.init)) : []
        window = WindowAggregator(tensors: saturationReader.tensors, classLabels: labels, capacity: configuration.samplesPerWindow)
        perTensor = Array(repeating: SaturationCounts(), count: saturationReader.tensors.count)
        recentSaturation = Array(repeating: 0, count: saturationReader.tensors.count)
        int8Output = Array(repeating: 0, count: models.int8.outputs[models.int8Output].type.elementCount)
        transitions.reserveCapacity(8)
    }

    /// The baseline (complete when `isBaselineReady`).
    public var baseline: Baseline { tracker.baseline }
    public var isBaselineReady: Bool { tracker.isBaselineReady }
    public var state: DriftState { tracker.state }
    public func state(of detector: DetectorName) -> DriftState { tracker.state(of: detector) }
    public func statistic(of detector: DetectorName) -> Double { tracker.statistic(of: detector) }

    /// Changes the shadow sampling policy from the next frame on.
    public func updateShadowPolicy(_ policy: ShadowPolicy) throws(MonitorError) { try scheduler.update(policy: policy) }

    /// Shadows the next frame (as a triggered frame: kept out of the unbiased statistics).
    public func shadowNextFrame() { scheduler.forceNext = true }

    /// Calls `body` with the last frame's int8 output, dequantized.
    public func withLastOutput<R>(_ body: (UnsafeBufferPointer<Float>) throws -> R) rethrows -> R {
        try int8Output.withUnsafeBufferPointer(body)
    }

    /// Processes one frame (the model input's elements, float32) seen at `timeMs` — a clock that
    /// only moves forward (the daemon derives it from a monotonic clock; windows are stamped with
    /// it). Closes the current window first when `timeMs` passed its end.
    public func process(frame: UnsafeBufferPointer<Float>, timeMs: Int64) throws(MonitorError) -> FrameOutcome {
        let input = models.int8.inputBuffer(0)
        guard frame.count * MemoryLayout<Float>.size == input.count else {
            throw MonitorError("frame has \(frame.count) values; input '\(models.int8.inputs[0].name)' expects \(models.int8.inputs[0].type) (\(input.count / 4) values)")
        }
        tick(timeMs: timeMs)
        if windowStartMs == nil { windowStartMs = timeMs }
        frameCount += 1

        input.copyMemory(from: UnsafeRawBufferPointer(frame))
        models.int8.resetCounters()
        let start = clock.now
        models.int8.run()
        let latencyMs = milliseconds(clock.now - start)
        let saturation = perTensor.withUnsafeMutableBufferPointer { saturationReader.read(models.int8, perTensor: $0) }
        for j in recentSaturation.indices {
            let c = perTensor[j]
            recentSaturation[j] = 0.9 * recentSaturation[j] + 0.1 * FrameMetrics.fraction(c.high + c.low, of: c.total)
        }
        let outputName = models.int8.outputs[models.int8Output].name
        _ = int8Output.withUnsafeMutableBufferPointer { models.int8.readDequantized(outputName, into: $0) }
        let (confidence, topClass) = int8Output.withUnsafeBufferPointer { out -> (Double, Int) in
            (FrameMetrics.confidence(out), models.classes != nil ? Comparison.argmax(out) : -1)
        }
        perTensor.withUnsafeBufferPointer {
            window.addFrame(latencyMs: latencyMs, saturation: saturation, perTensor: $0, confidence: confidence, topClass: topClass)
        }
        transitions.removeAll(keepingCapacity: true)
        if tracker.addFrame(saturation: saturation.max, inputOutOfRange: saturation.inputOutOfRange, confidence: confidence,
                            latencyMs: latencyMs, transitions: &transitions) {
            baselineCompleted(timeMs: timeMs)
        }
        emitTransitions(timeMs: timeMs)

        let decision = scheduler.decide(time: Double(timeMs) / 1000, saturation: saturation.max,
                                        inputOutOfRange: saturation.inputOutOfRange, warning: tracker.anyWarning)
        var comparison: TensorComparison?
        if decision != .none {
            shadowCount += 1
            models.float.inputBuffer(0).copyMemory(from: UnsafeRawBufferPointer(frame))
            let floatStart = clock.now
            models.float.run()
            let floatMs = milliseconds(clock.now - floatStart)
            scheduler.recordFloat(seconds: floatMs / 1000)
            let floatOut = models.float.outputBuffer(models.floatOutput).bindMemory(to: Float.self)
            let c = int8Output.withUnsafeBufferPointer {
                Comparison.compare(reference: floatOut, quantized: $0, classAxisCount: models.classes, k: configuration.k)
            }
            comparison = c
            let stream: ShadowStream = decision == .uniform ? .uniform : .triggered
            window.addShadow(c, stream: stream, int8LatencyMs: latencyMs, floatLatencyMs: floatMs)
            let floatClass = models.classes != nil ? Comparison.argmax(floatOut) : -1
            if stream == .triggered || floatClass != topClass {
                if pendingSamples.count >= shadowSampleLimit { pendingSamples.removeFirst() }
                pendingSamples.append(ShadowSample(tsMs: timeMs, stream: stream, comparison: c, int8Class: topClass, floatClass: floatClass,
                                                   saturation: saturation.max,
                                                   saturatedTensor: saturation.maxTensor >= 0 ? saturationReader.tensors[saturation.maxTensor] : nil,
                                                   inputOutOfRange: saturation.inputOutOfRange))
            }
            if stream == .uniform {
                transitions.removeAll(keepingCapacity: true)
                if tracker.addShadow(c, floatLatencyMs: floatMs, transitions: &transitions) { baselineCompleted(timeMs: timeMs) }
                emitTransitions(timeMs: timeMs)
            }
        }
        return FrameOutcome(topClass: topClass, confidence: confidence, latencyMs: latencyMs, saturation: saturation,
                            shadow: decision, comparison: comparison, state: tracker.state)
    }

    /// Closes the current window when `timeMs` passed its end (call it also when no frames come, so
    /// windows keep closing). The next window starts at the first frame after.
    public func tick(timeMs: Int64) {
        guard let start = windowStartMs, timeMs >= start + configuration.windowMs else { return }
        closeWindow(endMs: start + configuration.windowMs)
        windowStartMs = nil
    }

    /// Closes the current window now (a clean stop), whatever its length.
    public func flush(timeMs: Int64) {
        guard windowStartMs != nil else { return }
        closeWindow(endMs: timeMs)
        windowStartMs = nil
    }

    /// Windows closed since the last call, oldest first.
    public func takeWindows() -> [WindowSummary] {
        defer { pendingWindows.removeAll() }
        return pendingWindows
    }

    /// Shadow samples (triggered frames, top-1 disagreements) since the last call, oldest first.
    public func takeShadowSamples() -> [ShadowSample] {
        defer { pendingSamples.removeAll() }
        return pendingSamples
    }

    /// Events since the last call, oldest first.
    public func takeEvents() -> [MonitorEvent] {
        defer { pendingEvents.removeAll() }
        return pendingEvents
    }

    private func closeWindow(endMs: Int64) {
        guard let start = windowStartMs else { return }
        let drift = DriftSummary(state: tracker.state,
                                 detectors: Dictionary(uniqueKeysWithValues: DetectorName.allCases.map { ($0.rawValue, tracker.state(of: $0)) }),
                                 baselineReady: tracker.isBaselineReady)
        if let summary = window.summary(startMs: start, endMs: endMs, drift: drift) { pendingWindows.append(summary) }
        window.reset()
    }

    private func topSaturating(_ count: Int) -> [TensorSaturation] {
        recentSaturation.indices.filter { recentSaturation[$0] >= 0.0005 }   // what rounds to 0.0 % is not "saturating"
            .sorted { recentSaturation[$0] > recentSaturation[$1] }
            .prefix(count)
            .map { TensorSaturation(tensor: saturationReader.tensors[$0], fraction: recentSaturation[$0]) }
    }

    private func baselineCompleted(timeMs: Int64) {
        let b = tracker.baseline
        pendingEvents.append(MonitorEvent(
            kind: .baselineReady, tsMs: timeMs, state: tracker.state, saturating: topSaturating(3),
            cause: "baseline complete: \(b.shadowedFrames) shadowed frames (sqnr_db \(format(b.sqnrDb.mean)) ± \(format(b.sqnrDb.standardDeviation)) dB"
                + (b.top1Agree.count > 0 ? ", top1_agree \(format(b.top1Agree.mean))" : "") + "), \(b.frames) frames"))
    }

    private func emitTransitions(timeMs: Int64) {
        for (name, from, to) in transitions {
            let base = tracker.baselineValue(of: name)
            let recent = tracker.recent[name]
            pendingEvents.append(MonitorEvent(
                kind: .driftState, tsMs: timeMs, detector: name, from: from, to: to, state: tracker.state,
                statistic: tracker.statistic(of: name), baselineMean: base?.mean, baselineSd: base?.sd, recent: recent,
                saturating: topSaturating(3), cause: cause(name, from: from, to: to, base: base, recent: recent)))
        }
    }

    private func cause(_ name: DetectorName, from: DriftState, to: DriftState, base: (mean: Double, sd: Double)?, recent: Double?) -> String {
        let direction = to > from ? "rose" : "fell"
        var text = "\(name.rawValue) detector \(direction) from \(from.rawValue) to \(to.rawValue)"
        if let base, let recent {
            switch name {
            case .sqnrDb: text += ": sqnr_db now \(format(recent)) dB vs baseline \(format(base.mean)) ± \(format(base.sd)) dB"
            case .top1Agree: text += ": top-1 agreement now \(percent(recent)) vs baseline \(percent(base.mean))"
            case .saturation: text += ": saturation now \(percent(recent)) of a tensor's elements vs baseline \(percent(base.mean))"
            case .inputOutOfRange: text += ": input out of range now \(percent(recent)) vs baseline \(percent(base.mean))"
            }
        }
        let top = topSaturating(3)
        if !top.isEmpty, name == .saturation || to > from {
            text += "; most saturated: " + top.map { "\($0.tensor) \(percent($0.fraction))" }.joined(separator: ", ")
        }
        if !name.comparesWithFloat, to > from { text += " (input statistics only: the int8-vs-float detectors decide drift)" }
        return text
    }
}

func milliseconds(_ d: Duration) -> Double {
    let (s, a) = d.components
    return Double(s) * 1000 + Double(a) / 1e15
}

func format(_ x: Double) -> String {
    guard x.isFinite else { return "\(x)" }
    let r = (x * 100).rounded() / 100
    return "\(r)"
}

func percent(_ x: Double) -> String {
    guard x.isFinite else { return "\(x)" }
    return "\((x * 1000).rounded() / 10)%"
}
