// What the monitoring pipeline reports besides windows: state changes, with their cause.
import QuantMetrics

/// One tensor's recent saturation, for an event's cause.
public struct TensorSaturation: Sendable, Codable, Equatable {
    public var tensor: String
    /// Recent fraction of its elements saturated (high + low; EWMA over frames, λ = 0.1).
    public var fraction: Double

    public init(tensor: String, fraction: Double) {
        self.tensor = tensor
        self.fraction = fraction
    }
}

/// A monitoring event (the body of an `events` document; docs/documents.md).
public struct MonitorEvent: Sendable, Codable, Equatable {
    public enum Kind: String, Sendable, Codable {
        /// A detector changed state (`detector`, `from`, `to`).
        case driftState = "drift_state"
        /// The baseline is complete; detectors run from now on (persist `baseline` with the model).
        case baselineReady = "baseline_ready"
        /// The store's byte cap dropped undelivered documents (`cause` says how many, which seqs).
        case bufferOverflow = "buffer_overflow"
        /// The store's file was damaged, moved aside, and a fresh one started (`cause` says where).
        case storeRecovered = "store_recovered"
        /// A pushed model was installed and serves (`update`: name, version, the canary's figures).
        case modelInstalled = "model_installed"
        /// A pushed model was refused (`update.step` names the check; `cause` the reason).
        case modelRejected = "model_rejected"
        /// A new model's probation ended without a rollback.
        case probationPassed = "probation_passed"
        /// The previous model serves again (automatically after a failed probation, or on request).
        case rolledBack = "rolled_back"
    }

    public var kind: Kind
    public var tsMs: Int64
    public var detector: DetectorName?
    public var from: DriftState?
    public var to: DriftState?
    /// The device's drift state (the worst detector's) after the event; nil for events that are
    /// not about drift.
    public var state: DriftState?
    /// The detector statistic (CUSUM S or EWMA z, in σ) at the transition.
    public var statistic: Double?
    /// The metric's baseline mean and standard deviation, and its recent value.
    public var baselineMean: Double?
    public var baselineSd: Double?
    public var recent: Double?
    /// The most saturated int8 tensors right now.
    public var saturating: [TensorSaturation]
    /// One sentence: which metric, which direction, by how much.
    public var cause: String
    /// Model-update events: which model, which step, the figures.
    public var update: UpdateDetails?

    public init(kind: Kind, tsMs: Int64, detector: DetectorName? = nil, from: DriftState? = nil, to: DriftState? = nil,
                state: DriftState? = nil, statistic: Double? = nil, baselineMean: Double? = nil, baselineSd: Double? = nil,
                recent: Double? = nil, saturating: [TensorSaturation] = [], cause: String, update: UpdateDetails? = nil) {
        self.kind = kind
        self.tsMs = tsMs
        self.detector = detector
        self.from = from
        self.to = to
        self.state = state
        self.statistic = statistic
        self.baselineMean = baselineMean
        self.baselineSd = baselineSd
        self.recent = recent
        self.saturating = saturating
        self.cause = cause
        self.update = update
    }

    enum CodingKeys: String, CodingKey {
        case kind, tsMs = "ts_ms", detector, from, to, state, statistic, baselineMean = "baseline_mean", baselineSd = "baseline_sd"
        case recent, saturating, cause, update
    }
}

/// The model an update event is about, and what was measured.
public struct UpdateDetails: Sendable, Codable, Equatable {
    public var name: String
    public var version: Int
    /// The model serving before (install) or the one left (rollback).
    public var previousName: String?
    public var previousVersion: Int?
    /// The check a refused bundle failed (`signature`, `manifest`, `hashes`, `version`, `load`, `canary`, `install`, `transfer`).
    public var step: String?
    /// Canary or probation figures: `sqnr_db`, `top1_agree`, `saturation`, `frames`, and the reference's.
    public var figures: [String: Double]

    public init(name: String, version: Int, previousName: String? = nil, previousVersion: Int? = nil, step: String? = nil, figures: [String: Double] = [:]) {
        self.name = name
        self.version = version
        self.previousName = previousName
        self.previousVersion = previousVersion
        self.step = step
        self.figures = figures
    }

    enum CodingKeys: String, CodingKey { case name, version, previousName = "previous_name", previousVersion = "previous_version", step, figures }
}

/// A shadowed frame kept for diagnosis (the store keeps a bounded number): every triggered frame, and
/// uniform frames where int8 and float disagree on the top class.
public struct ShadowSample: Sendable, Codable, Equatable {
    public var tsMs: Int64
    public var stream: ShadowStream
    public var comparison: TensorComparison
    /// Top class of the int8 and of the float output (−1 when not a classifier).
    public var int8Class: Int
    public var floatClass: Int
    /// The frame's largest saturation and the tensor it was in.
    public var saturation: Double
    public var saturatedTensor: String?
    public var inputOutOfRange: Double?

    enum CodingKeys: String, CodingKey {
        case tsMs = "ts_ms", stream, comparison, int8Class = "int8_class", floatClass = "float_class", saturation
        case saturatedTensor = "saturated_tensor", inputOutOfRange = "input_out_of_range"
    }
}
