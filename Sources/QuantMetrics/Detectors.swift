// Drift detectors of METRICS.md: a sequential change detector (CUSUM) on per-frame shadow
// `sqnr_db` and `top1_agree`, and an EWMA control chart on per-frame saturation and
// input-out-of-range, each with hysteresis. States `ok` → `warning` → `drift` and back.
//
// The defaults were chosen on the fixtures' recorded onnxruntime outputs (digits and patches,
// QDQ and QOperator): per-frame SQNR of a classifier's probabilities is heavy-tailed (an
// occasional frame 3–4σ below the mean on clean data), so the CUSUM clips each standardised value
// to ±3σ and needs a cumulative 14σ above its allowance (k = 0.5σ) for `drift`. Simulated over
// 160 clean replays (20 × the held-out set, shuffled, 1 shadowed frame in 5) it never reached
// `drift`, and every drift set whose mean per-frame SQNR fell ≥ 1.5σ below the clean mean
// reached `drift` within 50 shadowed frames (see docs/monitoring.md for the measured table).

/// A detector's (and the device's) drift state. Ordered: `ok` < `warning` < `drift`.
public enum DriftState: String, Sendable, Codable, Comparable, CaseIterable {
    case ok, warning, drift

    var rank: Int {
        switch self {
        case .ok: 0
        case .warning: 1
        case .drift: 2
        }
    }

    public static func < (a: DriftState, b: DriftState) -> Bool { a.rank < b.rank }
}

/// Which way a metric moves when int8 drifts away from float.
public enum DriftDirection: String, Sendable, Codable {
    /// Lower is worse (`sqnr_db`, `top1_agree`).
    case decrease
    /// Higher is worse (saturation, `input_out_of_range`).
    case increase
}

/// A state machine over a detector statistic with two thresholds and hysteresis: the state rises
/// as soon as the statistic exceeds a threshold and falls back only once it is below
/// `recovery` × that threshold (so a statistic hovering at a threshold does not flap).
public struct HysteresisThresholds: Sendable, Codable, Equatable {
    public var warning: Double
    public var drift: Double
    /// Fraction of a threshold the statistic must fall below to leave that state (0 < recovery < 1).
    public var recovery: Double
    /// The highest state this detector may report (`warning` for detectors that only see the
    /// input, not the int8-vs-float difference).
    public var ceiling: DriftState

    public init(warning: Double, drift: Double, recovery: Double = 0.5, ceiling: DriftState = .drift) {
        precondition(warning > 0 && drift >= warning, "thresholds must satisfy 0 < warning ≤ drift")
        precondition(recovery > 0 && recovery < 1, "recovery must lie in (0, 1)")
        self.warning = warning
        self.drift = drift
        self.recovery = recovery
        self.ceiling = ceiling
    }

    /// The state after `current` given the statistic's new value.
    public func next(_ current: DriftState, statistic s: Double) -> DriftState {
        var state = current
        switch current {
        case .ok:
            if s > drift { state = .drift } else if s > warning { state = .warning }
        case .warning:
            if s > drift { state = .drift } else if s < warning * recovery { state = .ok }
        case .drift:
            if s < warning * recovery { state = .ok } else if s < drift * recovery { state = .warning }
        }
        return min(state, ceiling)
    }
}

/// The running sum of a CUSUM and the state it implies: `S = min(max(0, S + increment), 2 × drift)`.
public struct CUSUMSum: Sendable, Equatable {
    public private(set) var statistic = 0.0
    public private(set) var state = DriftState.ok
    /// Increments added.
    public private(set) var count = 0

    public init() {}

    /// Adds one increment; returns the new state when it changed.
    mutating func add(_ increment: Double, _ thresholds: HysteresisThresholds) -> DriftState? {
        count += 1
        statistic = Swift.min(Swift.max(0, statistic + increment), 2 * thresholds.drift)
        let next = thresholds.next(state, statistic: statistic)
        defer { state = next }
        return next == state ? nil : next
    }

    mutating func reset() { self = CUSUMSum() }
}

/// One-sided tabular CUSUM for a shift of a per-frame metric's mean away from its baseline, in units
/// of the baseline's standard deviation (Page 1954; Montgomery, *Statistical Quality Control*, 9.1):
///
///     z_t = clamp((μ0 − x_t) / σ0, −clip, clip)        (decrease; (x_t − μ0) / σ0 for increase)
///     S_t = min(max(0, S_{t−1} + z_t − k), cap)
///
/// `S` is the evidence that the mean moved by more than k·σ0 in the bad direction. The clip bounds
/// what one outlier frame can add; the cap (2 × the drift threshold) bounds how long recovery takes
/// once the metric returns to its baseline (S falls by at least k per frame).
public struct CUSUMDetector: Sendable {
    public struct Parameters: Sendable, Codable, Equatable {
        /// Allowance k, in σ0: drifts smaller than this are not accumulated.
        public var allowance: Double = 0.5
        /// Thresholds on S (in σ0).
        public var thresholds = HysteresisThresholds(warning: 7, drift: 14)
        /// Clip of each standardised value, in σ0.
        public var clip: Double = 3
        /// Floor of σ0 (in the metric's unit), so a baseline with no spread does not make every
        /// change infinitely significant.
        public var minimumSigma: Double = 1

        public init() {}
        public init(allowance: Double, thresholds: HysteresisThresholds, clip: Double, minimumSigma: Double) {
            self.allowance = allowance
            self.thresholds = thresholds
            self.clip = clip
            self.minimumSigma = minimumSigma
        }
    }

    public let parameters: Parameters
    public let direction: DriftDirection
    public let mean: Double
    public let sigma: Double
    private var sum = CUSUMSum()
    public var statistic: Double { sum.statistic }
    public var state: DriftState { sum.state }
    /// Values added.
    public var count: Int { sum.count }

    public init(mean: Double, sigma: Double, direction: DriftDirection, parameters: Parameters = Parameters()) {
        self.parameters = parameters
        self.direction = direction
        self.mean = mean
        self.sigma = Swift.max(sigma.isFinite ? sigma : 0, parameters.minimumSigma)
    }

    /// Adds one per-frame value; returns the new state when it changed. Non-finite values are ignored.
    @discardableResult
    public mutating func add(_ x: Double) -> DriftState? {
        guard x.isFinite else { return nil }
        let raw = direction == .decrease ? (mean - x) / sigma : (x - mean) / sigma
        let z = Swift.min(Swift.max(raw, -parameters.clip), parameters.clip)
        return sum.add(z - parameters.allowance, parameters.thresholds)
    }

    /// Forgets the accumulated evidence (a new model, a new baseline).
    public mutating func reset() { sum.reset() }
}

/// Bernoulli CUSUM on per-frame disagreement (`top1_agree` = 0) against the baseline's disagreement
/// rate p0 (Reynolds & Stoumbos 1999): each frame adds its log-likelihood ratio of p1 against p0,
///
///     disagree: ln(p1 / p0)      agree: ln((1 − p1) / (1 − p0))
///
/// and `S = max(0, S + llr)`. p0 is floored (`minimumRate`) because a baseline with no disagreement
/// at all would make one disagreement infinite evidence; p1 = max(`rateFactor`·p0, p0 + `rateStep`).
/// With the defaults (p0 ≥ 2 %, p1 ≥ 7 %), `drift` needs about six disagreements within a few dozen
/// frames. (With a 1 % floor, 5 of 200 simulated clean replays of the patches QOperator model, whose
/// clean agreement is 97.9 %, reached `drift` after a baseline that happened to hold no disagreement.)
public struct DisagreementCUSUM: Sendable {
    public struct Parameters: Sendable, Codable, Equatable {
        public var minimumRate: Double = 0.02
        public var rateFactor: Double = 3
        public var rateStep: Double = 0.05
        public var thresholds = HysteresisThresholds(warning: 3.5, drift: 7)

        public init() {}
    }

    public let parameters: Parameters
    /// p0 and p1 of the test.
    public let baselineRate: Double, driftRate: Double
    let disagreeStep: Double, agreeStep: Double
    private var sum = CUSUMSum()
    public var statistic: Double { sum.statistic }
    public var state: DriftState { sum.state }
    public var count: Int { sum.count }

    /// `baselineAgreement`: the baseline's `top1_agree` rate.
    public init(baselineAgreement: Double, parameters: Parameters = Parameters()) {
        self.parameters = parameters
        let p0 = Swift.min(Swift.max(1 - (baselineAgreement.isFinite ? baselineAgreement : 1), parameters.minimumRate), 0.5)
        let p1 = Swift.min(Swift.max(parameters.rateFactor * p0, p0 + parameters.rateStep), 0.99)
        baselineRate = p0
        driftRate = p1
        disagreeStep = naturalLog(p1 / p0)
        agreeStep = naturalLog((1 - p1) / (1 - p0))
    }

    /// Adds one frame's `top1_agree` (1 agree, 0 disagree; a rate over a batch is thresholded at ½).
    @discardableResult
    public mutating func add(agree: Double) -> DriftState? {
        guard agree.isFinite else { return nil }
        return sum.add(agree >= 0.5 ? agreeStep : disagreeStep, parameters.thresholds)
    }

    public mutating func reset() { sum.reset() }
}

/// EWMA control chart for an upward shift of a per-frame rate (Roberts 1959; Montgomery 9.2):
///
///     E_t = λ·x_t + (1 − λ)·E_{t−1},  E_0 = μ0
///     statistic = (E_t − μ0) / (σ0 · √(λ / (2 − λ)))     (the asymptotic standard deviation of E)
///
/// compared with the thresholds in σ_E units (L = 4 for warning by default). σ0 is floored by
/// `minimumSigma` (a fraction of elements: rates that are exactly 0 on the baseline would otherwise
/// alarm on a single saturated element). Its ceiling is `warning` by default: saturation and
/// input range describe the input, not the int8-vs-float difference; a warning raises the shadow rate
/// so the comparison detectors decide.
public struct EWMAChart: Sendable {
    public struct Parameters: Sendable, Codable, Equatable {
        public var lambda: Double = 0.1
        public var thresholds = HysteresisThresholds(warning: 4, drift: 8, ceiling: .warning)
        public var minimumSigma: Double = 0.002

        public init() {}
    }

    public let parameters: Parameters
    public let mean: Double
    public let sigma: Double
    public private(set) var average: Double
    public private(set) var statistic = 0.0
    public private(set) var state = DriftState.ok
    public private(set) var count = 0
    let spread: Double

    public init(mean: Double, sigma: Double, parameters: Parameters = Parameters()) {
        self.parameters = parameters
        self.mean = mean.isFinite ? mean : 0
        self.sigma = Swift.max(sigma.isFinite ? sigma : 0, parameters.minimumSigma)
        average = self.mean
        spread = self.sigma * (parameters.lambda / (2 - parameters.lambda)).squareRoot()
    }

    @discardableResult
    public mutating func add(_ x: Double) -> DriftState? {
        guard x.isFinite else { return nil }
        count += 1
        average = parameters.lambda * x + (1 - parameters.lambda) * average
        statistic = Swift.max(0, (average - mean) / spread)
        let next = parameters.thresholds.next(state, statistic: statistic)
        defer { state = next }
        return next == state ? nil : next
    }

    public mutating func reset() {
        average = mean
        statistic = 0
        state = .ok
        count = 0
    }
}
