// Comparing one output (or one layer) of the int8 model against the float reference.
// The definitions are METRICS.md's; this file is their one implementation.

import QuantGraph

/// The metrics of one int8 tensor `q` (dequantized to float) against its float reference `r`,
/// both flattened to `N` elements, as METRICS.md defines them. Encoded with METRICS.md's names.
///
/// Every value is finite, so a comparison always encodes as JSON (which has neither inf nor NaN)
/// and `==` is meaningful. Where a definition would divide by zero or overflow, a documented bound
/// is reported instead:
///
/// | case | sqnr_db | nl2 | cosine | mse, max_abs_error, mean_error |
/// |---|---|---|---|---|
/// | error zero (r = q), including both zero | +120 (cap) | 0 | 1 if both zero or r = q ≠ 0 | 0 |
/// | r zero, q not | −120 (floor) | 1e6 (cap) | 0 | as defined |
/// | q zero, r not | as defined (0 dB) | as defined (1) | 0 | as defined |
/// | N = 0 (two empty tensors) | +120 | 0 | 1 | 0 |
/// | a NaN or ±inf in r or q | −120 | 1e6 | 0 | over the finite pairs only |
///
/// - `sqnr_db` is clamped to [−120, +120]; `nl2` to [0, 1e6] (1e6 = 10^(120/20), the nl2 of −120 dB).
/// - N = 0 compares two empty tensors: they are equal, so every error metric is 0 and every
///   similarity metric at its best (as for two zero vectors); classifier metrics are absent.
/// - Non-finite elements (a NaN or ±inf in either tensor — a broken int8 kernel, an overflow, a bad
///   frame) make the comparison *poisoned*: the similarity metrics report their worst value
///   (`sqnr_db` −120, `nl2` 1e6, `cosine` 0, `top1_agree` 0, `topk_overlap` 0, `kl` ln((1+ε)/ε) ≈ 20.72,
///   the largest value `kl` can take) so a window mean and the drift detectors see the failure;
///   `mse`, `max_abs_error`, `mean_error` and `rmse_over_scale` are computed over the pairs where both
///   elements are finite (0 when there are none), so they stay informative about the rest.
///   `ComparisonSums.nonFiniteCount` tells how many pairs were skipped.
public struct TensorComparison: Sendable, Codable, Equatable {
    /// 10·log10(Σr² / Σ(r−q)²), in [−120, 120].
    public var sqnrDb: Double
    /// √(Σ(r−q)² / Σr²), in [0, 1e6].
    public var nl2: Double
    /// Σ r·q / (‖r‖·‖q‖), in [−1, 1]; 1 when both are zero vectors, 0 when exactly one is.
    public var cosine: Double
    /// Σ(r−q)² / N.
    public var mse: Double
    /// max |r−q|.
    public var maxAbsError: Double
    /// Σ(q−r) / N (signed: a bias).
    public var meanError: Double
    /// √mse / scale; nil (omitted from JSON) when no scale was given.
    public var rmseOverScale: Double?
    /// Classifier outputs only: the fraction of rows whose argmax agrees (one row per frame: 0 or 1).
    public var top1Agree: Double?
    /// Classifier outputs only: |topk(r) ∩ topk(q)| / k, mean over rows.
    public var topkOverlap: Double?
    /// Classifier outputs only: Σ p·ln((p+ε)/(p̂+ε)), mean over rows.
    public var kl: Double?

    public init(sqnrDb: Double, nl2: Double, cosine: Double, mse: Double, maxAbsError: Double, meanError: Double,
                rmseOverScale: Double? = nil, top1Agree: Double? = nil, topkOverlap: Double? = nil, kl: Double? = nil) {
        self.sqnrDb = sqnrDb
        self.nl2 = nl2
        self.cosine = cosine
        self.mse = mse
        self.maxAbsError = maxAbsError
        self.meanError = meanError
        self.rmseOverScale = rmseOverScale
        self.top1Agree = top1Agree
        self.topkOverlap = topkOverlap
        self.kl = kl
    }

    enum CodingKeys: String, CodingKey {
        case sqnrDb = "sqnr_db"
        case nl2
        case cosine
        case mse
        case maxAbsError = "max_abs_error"
        case meanError = "mean_error"
        case rmseOverScale = "rmse_over_scale"
        case top1Agree = "top1_agree"
        case topkOverlap = "topk_overlap"
        case kl
    }
}

/// The raw sums of one comparison, accumulated in Double in one pass. A `TensorComparison` is
/// derived from them; `ComparisonAccumulator` pools them across frames (pooled SQNR).
public struct ComparisonSums: Sendable, Equatable {
    /// Pairs where both elements are finite (the N of mse and mean_error).
    public var count: Int = 0
    /// Pairs skipped because r or q was NaN or ±inf.
    public var nonFiniteCount: Int = 0
    /// Σr², Σq², Σr·q, Σ(r−q)², Σ(q−r), over the finite pairs.
    public var sumRR: Double = 0
    public var sumQQ: Double = 0
    public var sumRQ: Double = 0
    public var sumErrorSquared: Double = 0
    public var sumError: Double = 0
    /// max |r−q| over the finite pairs.
    public var maxAbsError: Double = 0

    public init() {}

    /// One pass over `reference` and `quantized` (same count).
    public init(reference r: UnsafeBufferPointer<Float>, quantized q: UnsafeBufferPointer<Float>) {
        precondition(r.count == q.count, "comparing \(r.count) reference elements with \(q.count) quantized elements")
        var n = 0, bad = 0
        var rr = 0.0, qq = 0.0, rq = 0.0, ee = 0.0, e1 = 0.0, emax = 0.0
        for i in 0..<r.count {
            let a = Double(r[i]), b = Double(q[i])
            guard a.isFinite, b.isFinite else { bad += 1; continue }
            let d = b - a
            n += 1
            rr += a * a
            qq += b * b
            rq += a * b
            ee += d * d
            e1 += d
            emax = Swift.max(emax, Swift.abs(d))
        }
        count = n
        nonFiniteCount = bad
        sumRR = rr
        sumQQ = qq
        sumRQ = rq
        sumErrorSquared = ee
        sumError = e1
        maxAbsError = emax
    }

    /// Whether a NaN or ±inf was seen (the comparison reports its sentinels).
    public var isPoisoned: Bool { nonFiniteCount > 0 }

    /// Adds another set of sums (pooling tensors or frames).
    public mutating func add(_ other: ComparisonSums) {
        count += other.count
        nonFiniteCount += other.nonFiniteCount
        sumRR += other.sumRR
        sumQQ += other.sumQQ
        sumRQ += other.sumRQ
        sumErrorSquared += other.sumErrorSquared
        sumError += other.sumError
        maxAbsError = Swift.max(maxAbsError, other.maxAbsError)
    }

    /// sqnr_db of these sums, clamped to ±120 dB; −120 when poisoned.
    public var sqnrDb: Double {
        if isPoisoned { return -Comparison.sqnrCapDb }
        return Comparison.sqnrDb(signal: sumRR, noise: sumErrorSquared)
    }

    /// nl2 of these sums, in [0, 1e6]; 1e6 when poisoned.
    public var nl2: Double {
        if isPoisoned { return Comparison.nl2Cap }
        if sumErrorSquared == 0 { return 0 }
        if sumRR == 0 { return Comparison.nl2Cap }
        return Swift.min((sumErrorSquared / sumRR).squareRoot(), Comparison.nl2Cap)
    }

    /// cosine of these sums, in [−1, 1]; 0 when poisoned.
    public var cosine: Double {
        if isPoisoned { return 0 }
        switch (sumRR == 0, sumQQ == 0) {
        case (true, true): return 1
        case (true, false), (false, true): return 0
        case (false, false):
            let c = sumRQ / (sumRR.squareRoot() * sumQQ.squareRoot())
            return Swift.min(Swift.max(c, -1), 1)
        }
    }

    public var mse: Double { count == 0 ? 0 : sumErrorSquared / Double(count) }
    public var meanError: Double { count == 0 ? 0 : sumError / Double(count) }

    /// √mse / scale; nil unless `scale` is finite and positive.
    public func rmseOverScale(_ scale: Float?) -> Double? {
        guard let scale, scale.isFinite, scale > 0 else { return nil }
        return mse.squareRoot() / Double(scale)
    }

    /// The element metrics (no classifier metrics).
    public func comparison(scale: Float? = nil) -> TensorComparison {
        TensorComparison(sqnrDb: sqnrDb, nl2: nl2, cosine: cosine, mse: mse, maxAbsError: maxAbsError,
                         meanError: meanError, rmseOverScale: rmseOverScale(scale))
    }
}

/// The comparison entry points and the constants of METRICS.md.
public enum Comparison {
    /// The bound of `sqnr_db`: +120 dB when the error is zero, −120 dB at worst (never ±inf).
    public static let sqnrCapDb: Double = 120
    /// The bound of `nl2` (= 10^(120/20), the nl2 at −120 dB).
    public static let nl2Cap: Double = 1e6
    /// ε added to both probabilities before the log in `kl`.
    public static let klEpsilon: Double = 1e-9
    /// The largest value `kl` can take, ln((1+ε)/ε) ≈ 20.72: the sentinel of a poisoned comparison.
    public static let klMax: Double = naturalLog((1 + klEpsilon) / klEpsilon)
    /// The default k of `topk_overlap` (or the class count if smaller).
    public static let defaultK = 5
    /// A row is already probabilities when all elements are ≥ 0 and they sum to 1 within this.
    public static let probabilitySumTolerance: Double = 1e-3

    /// 10·log10(signal / noise) clamped to ±120 dB: +120 when `noise` is 0 (also when both are 0),
    /// −120 when only `signal` is 0.
    public static func sqnrDb(signal: Double, noise: Double) -> Double {
        if noise == 0 { return sqnrCapDb }
        if signal == 0 { return -sqnrCapDb }
        let db = 10 * decimalLog(signal / noise)
        return Swift.min(Swift.max(db, -sqnrCapDb), sqnrCapDb)
    }

    /// Every "comparing one output" metric of METRICS.md for reference `r` and dequantized int8 `q`.
    ///
    /// - Parameters:
    ///   - scale: the int8 tensor's quantization scale; gives `rmse_over_scale` when present.
    ///   - classAxisCount: for classifier outputs, the number of classes (the last axis). The tensor is
    ///     read as `N / classAxisCount` rows; `top1_agree`, `topk_overlap` and `kl` are computed per row
    ///     and averaged (one row per frame for a batch-1 model). Must divide N. nil: not a classifier.
    ///   - k: the k of `topk_overlap`; default 5, clamped to the class count.
    ///   - probabilities: whether the outputs are already probabilities (then `kl` uses them as they
    ///     are, without softmax). nil: detected per row from the *reference* row — all elements ≥ 0
    ///     and Σ within 1e-3 of 1. The reference decides because the dequantized int8 row of the same
    ///     softmax output does not pass that test: a uint8 softmax output with scale 1/256 over 10
    ///     classes sums to 1 only within ±10/512 ≈ 0.02.
    /// Ties in argmax and top-k go to the lower index. Element counts must match.
    public static func compare(reference r: UnsafeBufferPointer<Float>, quantized q: UnsafeBufferPointer<Float>,
                               scale: Float? = nil, classAxisCount: Int? = nil, k: Int? = nil,
                               probabilities: Bool? = nil) -> TensorComparison {
        let sums = ComparisonSums(reference: r, quantized: q)
        var result = sums.comparison(scale: scale)
        if let classAxisCount, r.count > 0 {
            let classifier = classify(reference: r, quantized: q, classes: classAxisCount, k: k,
                                      probabilities: probabilities, poisoned: sums.isPoisoned)
            result.top1Agree = classifier.top1
            result.topkOverlap = classifier.topk
            result.kl = classifier.kl
        }
        return result
    }

    /// `compare` over arrays.
    public static func compare(reference: [Float], quantized: [Float], scale: Float? = nil,
                               classAxisCount: Int? = nil, k: Int? = nil, probabilities: Bool? = nil) -> TensorComparison {
        reference.withUnsafeBufferPointer { r in
            quantized.withUnsafeBufferPointer { q in
                compare(reference: r, quantized: q, scale: scale, classAxisCount: classAxisCount, k: k,
                        probabilities: probabilities)
            }
        }
    }

    /// `compare` over two float32 tensors of the same element count (shapes may differ: both are
    /// flattened). `q` must already be dequantized.
    public static func compare(reference: Tensor, quantized: Tensor, scale: Float? = nil,
                               classAxisCount: Int? = nil, k: Int? = nil, probabilities: Bool? = nil) -> TensorComparison {
        withExtendedLifetime((reference, quantized)) {
            compare(reference: floats(reference), quantized: floats(quantized), scale: scale,
                    classAxisCount: classAxisCount, k: k, probabilities: probabilities)
        }
    }

    /// The sums of two float32 tensors (for pooling across frames).
    public static func sums(reference: Tensor, quantized: Tensor) -> ComparisonSums {
        withExtendedLifetime((reference, quantized)) {
            ComparisonSums(reference: floats(reference), quantized: floats(quantized))
        }
    }

    /// The sums of two arrays (for pooling across frames).
    public static func sums(reference: [Float], quantized: [Float]) -> ComparisonSums {
        reference.withUnsafeBufferPointer { r in
            quantized.withUnsafeBufferPointer { q in ComparisonSums(reference: r, quantized: q) }
        }
    }

    private static func floats(_ tensor: Tensor) -> UnsafeBufferPointer<Float> {
        precondition(tensor.dataType == .float32, "comparing a \(tensor.dataType) tensor; dequantize it to float32 first")
        // Valid while the tensor lives: callers wrap the use in withExtendedLifetime.
        return UnsafeBufferPointer(start: tensor.storage.pointer.assumingMemoryBound(to: Float.self),
                                   count: tensor.elementCount)
    }

    // MARK: - Classifier metrics

    private static func classify(reference r: UnsafeBufferPointer<Float>, quantized q: UnsafeBufferPointer<Float>,
                                 classes: Int, k requestedK: Int?, probabilities: Bool?,
                                 poisoned: Bool) -> (top1: Double, topk: Double, kl: Double) {
        precondition(classes > 0 && r.count % classes == 0,
                     "classAxisCount \(classes) does not divide the element count \(r.count)")
        if poisoned { return (0, 0, klMax) }
        let k = Swift.min(requestedK ?? defaultK, classes)
        precondition(k > 0, "k must be positive")
        let rows = r.count / classes
        var top1 = 0.0, topk = 0.0, kl = 0.0
        withUnsafeTemporaryAllocation(of: Int.self, capacity: 2 * k) { indices in
            let topR = UnsafeMutableBufferPointer(rebasing: indices[0..<k])
            let topQ = UnsafeMutableBufferPointer(rebasing: indices[k..<(2 * k)])
            for row in 0..<rows {
                let a = UnsafeBufferPointer(rebasing: r[(row * classes)..<((row + 1) * classes)])
                let b = UnsafeBufferPointer(rebasing: q[(row * classes)..<((row + 1) * classes)])
                if argmax(a) == argmax(b) { top1 += 1 }
                topIndices(a, into: topR)
                topIndices(b, into: topQ)
                var common = 0
                for i in topR where topQ.contains(i) { common += 1 }
                topk += Double(common) / Double(k)
                kl += klDivergence(a, b, probabilities: probabilities ?? isProbabilities(a))
            }
        }
        let n = Double(rows)
        return (top1 / n, topk / n, kl / n)
    }

    /// The index of the largest element; ties go to the lower index. 0 for an empty buffer.
    public static func argmax(_ x: UnsafeBufferPointer<Float>) -> Int {
        var best = 0
        for i in x.indices.dropFirst() where x[i] > x[best] { best = i }
        return best
    }

    /// Fills `out` (capacity k ≤ x.count) with the indices of the k largest elements, largest first;
    /// among equal values the lower index ranks first. No allocation.
    public static func topIndices(_ x: UnsafeBufferPointer<Float>, into out: UnsafeMutableBufferPointer<Int>) {
        let k = out.count
        precondition(k <= x.count)
        guard k > 0 else { return }
        var filled = 0
        for i in x.indices {
            let v = x[i]
            // A later index enters only if strictly larger than the current last (ties: lower index wins).
            if filled == k {
                guard v > x[out[k - 1]] else { continue }
                filled -= 1
            }
            var j = filled
            while j > 0, v > x[out[j - 1]] {
                out[j] = out[j - 1]
                j -= 1
            }
            out[j] = i
            filled += 1
        }
    }

    /// Whether a row already is probabilities: all elements ≥ 0 and Σ within 1e-3 of 1.
    public static func isProbabilities(_ x: UnsafeBufferPointer<Float>) -> Bool {
        var sum = 0.0
        for v in x {
            guard v >= 0 else { return false } // also false for NaN
            sum += Double(v)
        }
        return Swift.abs(sum - 1) <= probabilitySumTolerance
    }

    /// Σ p·ln((p+ε)/(p̂+ε)) over one row, p from the reference. With `probabilities` the rows are used
    /// as they are (negative values of q read as 0); otherwise softmax is applied to each. Clamped at
    /// 0 below: a dequantized probability row may sum to slightly more than 1, which would otherwise
    /// give a small negative value.
    static func klDivergence(_ r: UnsafeBufferPointer<Float>, _ q: UnsafeBufferPointer<Float>, probabilities: Bool) -> Double {
        let eps = klEpsilon
        var sum = 0.0
        if probabilities {
            for i in r.indices {
                let p = Swift.max(Double(r[i]), 0), pHat = Swift.max(Double(q[i]), 0)
                if p > 0 { sum += p * naturalLog((p + eps) / (pHat + eps)) }
            }
        } else {
            let (maxR, totalR) = softmaxNormaliser(r)
            let (maxQ, totalQ) = softmaxNormaliser(q)
            for i in r.indices {
                let p = exponential(Double(r[i]) - maxR) / totalR
                let pHat = exponential(Double(q[i]) - maxQ) / totalQ
                if p > 0 { sum += p * naturalLog((p + eps) / (pHat + eps)) }
            }
        }
        return Swift.max(sum, 0)
    }

    /// max and Σexp(x − max) of a row, in Double.
    static func softmaxNormaliser(_ x: UnsafeBufferPointer<Float>) -> (max: Double, total: Double) {
        var m = -Double.infinity
        for v in x { m = Swift.max(m, Double(v)) }
        var total = 0.0
        for v in x { total += exponential(Double(v) - m) }
        return (m, total)
    }
}
