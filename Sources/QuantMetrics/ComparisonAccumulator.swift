// Aggregating per-frame comparisons of one output (or one layer) over a set of frames: the eval
// report's per-output and per-layer rows, and the window aggregates of METRICS.md.

/// Adds the `TensorComparison` of each frame and yields the aggregates.
///
/// Two SQNR views, which differ and are both reported:
/// - `sqnrDbMean` / `sqnrDbP5`: statistics of the *per-frame* `sqnr_db` values (each frame weighs
///   the same, whatever its energy; the 5th percentile shows the bad frames). This is the
///   window/drift view of METRICS.md.
/// - `sqnrDbPooled`: one SQNR of the whole tensor across frames, 10·log10(Σ_frames Σr² /
///   Σ_frames Σ(r−q)²), from the `ComparisonSums` given with each frame (frames added without sums
///   do not contribute; nil when none had sums). Loud frames weigh more; quiet frames with a large
///   relative error barely move it. This is the eval report's per-layer "how much noise does this
///   tensor carry" view. Clamped to ±120 dB like every SQNR; −120 when any pooled frame was poisoned.
///
/// Means are over the frames that have the metric (`rmse_over_scale` and the classifier metrics
/// are optional); `top1Agree` is then the agreement rate. Every per-frame value is finite (see
/// `TensorComparison`), so every aggregate is too. Keeps the per-frame `sqnr_db` values for the
/// percentile: one Double per frame.
public struct ComparisonAccumulator: Sendable {
    private var sqnrValues: [Double] = []
    private var sums = MetricSums()
    private var pooled = ComparisonSums()
    private var pooledFrames = 0

    public init(expectedFrames: Int = 0) { sqnrValues.reserveCapacity(expectedFrames) }

    /// Frames added.
    public var frames: Int { sqnrValues.count }

    /// Adds one frame; `sums` (from `Comparison.sums` or `ComparisonSums(reference:quantized:)`)
    /// additionally enter the pooled SQNR.
    public mutating func add(_ comparison: TensorComparison, sums frameSums: ComparisonSums? = nil) {
        sqnrValues.append(comparison.sqnrDb)
        sums.add(comparison)
        if let frameSums {
            pooled.add(frameSums)
            pooledFrames += 1
        }
    }

    /// Compares one frame, adds it (with its sums, so it enters the pooled SQNR) and returns the
    /// frame's comparison.
    @discardableResult
    public mutating func add(reference: UnsafeBufferPointer<Float>, quantized: UnsafeBufferPointer<Float>,
                             scale: Float? = nil, classAxisCount: Int? = nil, k: Int? = nil,
                             probabilities: Bool? = nil) -> TensorComparison {
        let comparison = Comparison.compare(reference: reference, quantized: quantized, scale: scale,
                                            classAxisCount: classAxisCount, k: k, probabilities: probabilities)
        add(comparison, sums: ComparisonSums(reference: reference, quantized: quantized))
        return comparison
    }

    /// `add` over arrays.
    @discardableResult
    public mutating func add(reference: [Float], quantized: [Float], scale: Float? = nil, classAxisCount: Int? = nil,
                             k: Int? = nil, probabilities: Bool? = nil) -> TensorComparison {
        reference.withUnsafeBufferPointer { r in
            quantized.withUnsafeBufferPointer { q in
                add(reference: r, quantized: q, scale: scale, classAxisCount: classAxisCount, k: k,
                    probabilities: probabilities)
            }
        }
    }

    /// Starts over (keeps the reserved capacity).
    public mutating func reset() {
        sqnrValues.removeAll(keepingCapacity: true)
        sums = MetricSums()
        pooled = ComparisonSums()
        pooledFrames = 0
    }

    /// The aggregates so far.
    public var summary: ComparisonSummary {
        func mean(_ total: Double, _ count: Int) -> Double? { count > 0 ? total / Double(count) : nil }
        return ComparisonSummary(
            frames: frames,
            sqnrDbMean: mean(sums.sqnr, frames),
            sqnrDbP5: nearestRankPercentile(sqnrValues, 5),
            sqnrDbPooled: pooledFrames > 0 ? pooled.sqnrDb : nil,
            nl2Mean: mean(sums.nl2, frames),
            cosineMean: mean(sums.cosine, frames),
            mseMean: mean(sums.mse, frames),
            maxAbsError: frames > 0 ? sums.maxAbsError : nil,
            meanErrorMean: mean(sums.meanError, frames),
            rmseOverScaleMean: mean(sums.rmseOverScale, sums.rmseOverScaleCount),
            top1Agree: mean(sums.top1, sums.classifierCount),
            topkOverlapMean: mean(sums.topk, sums.classifierCount),
            klMean: mean(sums.kl, sums.classifierCount)
        )
    }
}

/// Running totals of the per-frame metrics.
private struct MetricSums: Sendable {
    var sqnr = 0.0, nl2 = 0.0, cosine = 0.0, mse = 0.0, meanError = 0.0
    var maxAbsError = 0.0
    var rmseOverScale = 0.0, rmseOverScaleCount = 0
    var top1 = 0.0, topk = 0.0, kl = 0.0, classifierCount = 0

    mutating func add(_ c: TensorComparison) {
        sqnr += c.sqnrDb
        nl2 += c.nl2
        cosine += c.cosine
        mse += c.mse
        meanError += c.meanError
        maxAbsError = max(maxAbsError, c.maxAbsError)
        if let r = c.rmseOverScale {
            rmseOverScale += r
            rmseOverScaleCount += 1
        }
        if let t = c.top1Agree {
            top1 += t
            topk += c.topkOverlap ?? 0
            kl += c.kl ?? 0
            classifierCount += 1
        }
    }
}

/// The aggregates of a `ComparisonAccumulator`. Absent values (no frames, no scale, not a
/// classifier) are nil and omitted from JSON. Keys: METRICS.md's names with the statistic appended.
public struct ComparisonSummary: Sendable, Codable, Equatable {
    public var frames: Int
    /// Mean of the per-frame sqnr_db.
    public var sqnrDbMean: Double?
    /// 5th percentile (nearest rank) of the per-frame sqnr_db.
    public var sqnrDbP5: Double?
    /// SQNR of the tensor pooled over all frames: Σr² / Σ(r−q)² across frames.
    public var sqnrDbPooled: Double?
    public var nl2Mean: Double?
    public var cosineMean: Double?
    public var mseMean: Double?
    /// The largest per-frame max_abs_error (a max, not a mean).
    public var maxAbsError: Double?
    public var meanErrorMean: Double?
    public var rmseOverScaleMean: Double?
    /// The top1 agreement rate over classifier frames.
    public var top1Agree: Double?
    public var topkOverlapMean: Double?
    public var klMean: Double?

    public init(frames: Int, sqnrDbMean: Double? = nil, sqnrDbP5: Double? = nil, sqnrDbPooled: Double? = nil,
                nl2Mean: Double? = nil, cosineMean: Double? = nil, mseMean: Double? = nil, maxAbsError: Double? = nil,
                meanErrorMean: Double? = nil, rmseOverScaleMean: Double? = nil, top1Agree: Double? = nil,
                topkOverlapMean: Double? = nil, klMean: Double? = nil) {
        self.frames = frames
        self.sqnrDbMean = sqnrDbMean
        self.sqnrDbP5 = sqnrDbP5
        self.sqnrDbPooled = sqnrDbPooled
        self.nl2Mean = nl2Mean
        self.cosineMean = cosineMean
        self.mseMean = mseMean
        self.maxAbsError = maxAbsError
        self.meanErrorMean = meanErrorMean
        self.rmseOverScaleMean = rmseOverScaleMean
        self.top1Agree = top1Agree
        self.topkOverlapMean = topkOverlapMean
        self.klMean = klMean
    }

    enum CodingKeys: String, CodingKey {
        case frames
        case sqnrDbMean = "sqnr_db_mean"
        case sqnrDbP5 = "sqnr_db_p5"
        case sqnrDbPooled = "sqnr_db_pooled"
        case nl2Mean = "nl2_mean"
        case cosineMean = "cosine_mean"
        case mseMean = "mse_mean"
        case maxAbsError = "max_abs_error_max"
        case meanErrorMean = "mean_error_mean"
        case rmseOverScaleMean = "rmse_over_scale_mean"
        case top1Agree = "top1_agree"
        case topkOverlapMean = "topk_overlap_mean"
        case klMean = "kl_mean"
    }
}
