// The baseline and the four detectors of one active model, and the events their transitions make.
import QuantMetrics

/// Detector settings (METRICS.md "Windows and drift"); defaults measured on the fixtures (see
/// QuantMetrics/Detectors.swift and docs/monitoring.md).
public struct DetectorSettings: Sendable, Codable, Equatable {
    /// Uniform shadowed frames the baseline's comparison statistics need.
    public var baselineShadowFrames = 100
    /// int8 frames the baseline's input statistics need.
    public var baselineFrames = 200
    public var sqnr = CUSUMDetector.Parameters()
    public var agreement = DisagreementCUSUM.Parameters()
    public var saturation = EWMAChart.Parameters()
    public var inputRange = EWMAChart.Parameters()

    public init() {}

    enum CodingKeys: String, CodingKey {
        case baselineShadowFrames = "baseline_shadow_frames", baselineFrames = "baseline_frames"
        case sqnr, agreement, saturation, inputRange = "input_range"
    }
}

/// A detector's name in documents and events: the metric it watches.
public enum DetectorName: String, Sendable, Codable, CaseIterable {
    case sqnrDb = "sqnr_db"
    case top1Agree = "top1_agree"
    case saturation
    case inputOutOfRange = "input_out_of_range"

    /// Whether it compares int8 with float (only those can say `drift`).
    public var comparesWithFloat: Bool { self == .sqnrDb || self == .top1Agree }
}

/// Feeds the baseline until it is complete, then the detectors; reports each transition.
struct DriftTracker {
    let settings: DetectorSettings
    private(set) var baseline: Baseline
    private(set) var shadowReady: Bool
    private(set) var inputReady: Bool
    var sqnr: CUSUMDetector?
    var agreement: DisagreementCUSUM?
    var saturation: EWMAChart?
    var inputRange: EWMAChart?
    /// Recent values (EWMA, λ = 0.1) for the events' "now vs baseline".
    private(set) var recent: [DetectorName: Double] = [:]

    init(settings: DetectorSettings, baseline: Baseline?) {
        self.settings = settings
        self.baseline = baseline ?? Baseline()
        shadowReady = false
        inputReady = false
        if let baseline {
            shadowReady = baseline.shadowedFrames > 0
            inputReady = baseline.frames > 0
            if shadowReady { startShadowDetectors() }
            if inputReady { startInputDetectors() }
        }
    }

    var isBaselineReady: Bool { shadowReady && inputReady }

    func state(of name: DetectorName) -> DriftState {
        switch name {
        case .sqnrDb: sqnr?.state ?? .ok
        case .top1Agree: agreement?.state ?? .ok
        case .saturation: saturation?.state ?? .ok
        case .inputOutOfRange: inputRange?.state ?? .ok
        }
    }

    /// The device's state: the worst detector's. (No `allCases` here: it builds an array per call,
    /// and this runs on every frame.)
    var state: DriftState {
        max(state(of: .sqnrDb), state(of: .top1Agree), state(of: .saturation), state(of: .inputOutOfRange))
    }
    var anyWarning: Bool { state >= .warning }

    func statistic(of name: DetectorName) -> Double {
        switch name {
        case .sqnrDb: sqnr?.statistic ?? 0
        case .top1Agree: agreement?.statistic ?? 0
        case .saturation: saturation?.statistic ?? 0
        case .inputOutOfRange: inputRange?.statistic ?? 0
        }
    }

    func baselineValue(of name: DetectorName) -> (mean: Double, sd: Double)? {
        let s: RunningStatistics
        switch name {
        case .sqnrDb: s = baseline.sqnrDb
        case .top1Agree: s = baseline.top1Agree
        case .saturation: s = baseline.saturation
        case .inputOutOfRange: s = baseline.inputOutOfRange
        }
        return s.count > 0 ? (s.mean, s.standardDeviation) : nil
    }

    private mutating func startShadowDetectors() {
        sqnr = CUSUMDetector(mean: baseline.sqnrDb.mean, sigma: baseline.sqnrDb.standardDeviation, direction: .decrease, parameters: settings.sqnr)
        if baseline.top1Agree.count > 0 {
            agreement = DisagreementCUSUM(baselineAgreement: baseline.top1Agree.mean, parameters: settings.agreement)
        }
    }

    private mutating func startInputDetectors() {
        saturation = EWMAChart(mean: baseline.saturation.mean, sigma: baseline.saturation.standardDeviation, parameters: settings.saturation)
        if baseline.inputOutOfRange.count > 0 {
            inputRange = EWMAChart(mean: baseline.inputOutOfRange.mean, sigma: baseline.inputOutOfRange.standardDeviation, parameters: settings.inputRange)
        }
    }

    private mutating func remember(_ name: DetectorName, _ x: Double) {
        guard x.isFinite else { return }
        recent[name] = recent[name].map { 0.9 * $0 + 0.1 * x } ?? x
    }

    /// One int8 frame's input statistics. Returns transitions (detector, from, to) and whether the
    /// baseline became complete with this frame.
    mutating func addFrame(saturation s: Double, inputOutOfRange oor: Double?, confidence: Double, latencyMs: Double,
                           transitions: inout [(DetectorName, DriftState, DriftState)]) -> Bool {
        remember(.saturation, s)
        if let oor { remember(.inputOutOfRange, oor) }
        if !inputReady {
            baseline.saturation.add(s)
            if let oor { baseline.inputOutOfRange.add(oor) }
            baseline.confidence.add(confidence)
            baseline.latencyMs.add(latencyMs)
            if baseline.saturation.count >= settings.baselineFrames {
                inputReady = true
                startInputDetectors()
                return isBaselineReady
            }
            return false
        }
        if let from = saturation?.state, let to = saturation?.add(s) { transitions.append((.saturation, from, to)) }
        if let oor, let from = inputRange?.state, let to = inputRange?.add(oor) { transitions.append((.inputOutOfRange, from, to)) }
        return false
    }

    /// One uniform shadowed frame's comparison.
    mutating func addShadow(_ c: TensorComparison, floatLatencyMs: Double,
                            transitions: inout [(DetectorName, DriftState, DriftState)]) -> Bool {
        remember(.sqnrDb, c.sqnrDb)
        if let t = c.top1Agree { remember(.top1Agree, t) }
        if !shadowReady {
            baseline.sqnrDb.add(c.sqnrDb)
            if let t = c.top1Agree { baseline.top1Agree.add(t) }
            if let kl = c.kl { baseline.kl.add(kl) }
            baseline.cosine.add(c.cosine)
            baseline.floatLatencyMs.add(floatLatencyMs)
            if baseline.sqnrDb.count >= settings.baselineShadowFrames {
                shadowReady = true
                startShadowDetectors()
                return isBaselineReady
            }
            return false
        }
        if let from = sqnr?.state, let to = sqnr?.add(c.sqnrDb) { transitions.append((.sqnrDb, from, to)) }
        if let t = c.top1Agree, let from = agreement?.state, let to = agreement?.add(agree: t) { transitions.append((.top1Agree, from, to)) }
        return false
    }
}
