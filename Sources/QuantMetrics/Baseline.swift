// The baseline of METRICS.md: the per-frame metrics' statistics over the first frames after a model
// becomes active (or from the canary check at install), persisted with the model. The detectors
// measure drift against it.

/// Count, mean and standard deviation of a per-frame metric (Welford's running update, so adding a
/// frame neither allocates nor loses precision over long runs).
public struct RunningStatistics: Sendable, Codable, Equatable {
    public private(set) var count = 0
    public private(set) var mean = 0.0
    private var m2 = 0.0

    public init() {}

    /// A summary given by its values (a persisted baseline).
    public init(count: Int, mean: Double, standardDeviation: Double) {
        self.count = count
        self.mean = mean
        m2 = count > 1 ? standardDeviation * standardDeviation * Double(count - 1) : 0
    }

    /// Adds a value; non-finite values are ignored.
    public mutating func add(_ x: Double) {
        guard x.isFinite else { return }
        count += 1
        let delta = x - mean
        mean += delta / Double(count)
        m2 += delta * (x - mean)
    }

    /// The sample standard deviation (n − 1); 0 with fewer than two values.
    public var standardDeviation: Double { count > 1 ? (m2 / Double(count - 1)).squareRoot() : 0 }

    enum CodingKeys: String, CodingKey { case count, mean, sd }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        self.init(count: try c.decode(Int.self, forKey: .count), mean: try c.decode(Double.self, forKey: .mean),
                  standardDeviation: try c.decode(Double.self, forKey: .sd))
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(count, forKey: .count)
        try c.encode(mean, forKey: .mean)
        try c.encode(standardDeviation, forKey: .sd)
    }
}

/// What the detectors compare against. Shadow statistics come from shadowed frames of the uniform
/// stream only (triggered frames are chosen because they look unusual, so they would bias it); input
/// statistics from every int8 frame.
public struct Baseline: Sendable, Codable, Equatable {
    /// Per-frame `sqnr_db` of the compared output.
    public var sqnrDb = RunningStatistics()
    /// Per-frame `top1_agree` (its mean is the agreement rate); empty for a non-classifier output.
    public var top1Agree = RunningStatistics()
    public var kl = RunningStatistics()
    public var cosine = RunningStatistics()
    /// Per-frame saturation: the largest saturation fraction over the model's int8 tensors.
    public var saturation = RunningStatistics()
    /// Per-frame `input_out_of_range`.
    public var inputOutOfRange = RunningStatistics()
    public var confidence = RunningStatistics()
    /// int8 and float latency of the frames (ms); float only on shadowed frames.
    public var latencyMs = RunningStatistics()
    public var floatLatencyMs = RunningStatistics()

    public init() {}

    /// Shadowed (uniform) frames in it.
    public var shadowedFrames: Int { sqnrDb.count }
    /// int8 frames in it.
    public var frames: Int { saturation.count }

    enum CodingKeys: String, CodingKey {
        case sqnrDb = "sqnr_db", top1Agree = "top1_agree", kl, cosine, saturation
        case inputOutOfRange = "input_out_of_range", confidence, latencyMs = "latency_ms", floatLatencyMs = "float_latency_ms"
    }
}
