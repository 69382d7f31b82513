import AllocationCounter
import Foundation
import QuantMetrics
import Testing
import TestSupport

@Suite struct FrameMetricsTests {
    @Test func confidenceOfLogitsAndProbabilities() {
        // softmax([ln 3, 0]) = [3/4, 1/4] → 0.75
        #expect(abs(FrameMetrics.confidence([Float(log(3.0)), 0]) - 0.75) < 1e-7)
        // softmax([0, 0, 0, 0]) = ¼ each (sum 0: not probabilities)
        #expect(FrameMetrics.confidence([0, 0, 0, 0]) == 0.25)
        // Already probabilities: the max as it is.
        #expect(FrameMetrics.confidence([0.1, 0.7, 0.2]) == Double(Float(0.7)))
        // [0.25, 0.25] sums to 0.5: logits, softmax gives ½.
        #expect(FrameMetrics.confidence([0.25, 0.25]) == 0.5)
        #expect(FrameMetrics.confidence([]) == 0)
        #expect(FrameMetrics.confidence([1, .nan]) == 0)
    }

    @Test func inputOutOfRange() {
        // int8 quantizer, scale 0.1, zero point −128: representable [0.1·(−128+128), 0.1·(127+128)] = [0, 25.5].
        let input: [Float] = [-0.1, 0, 25.5, 25.6, .nan, 10]
        let count = input.withUnsafeBufferPointer {
            FrameMetrics.countOutOfRange($0, scale: 0.1, zeroPoint: -128, qmin: -128, qmax: 127)
        }
        #expect(count == 3) // −0.1, 25.6, NaN
        #expect(FrameMetrics.inputOutOfRange(count: count, total: input.count) == 0.5)
        #expect(FrameMetrics.inputOutOfRange(count: 0, total: 0) == 0)
    }

    @Test func saturationFractions() throws {
        let s = FrameMetrics.saturation(highCount: 3, lowCount: 1, total: 8)
        #expect(s == Saturation(high: 0.375, low: 0.125))
        #expect(FrameMetrics.saturation(highCount: 0, lowCount: 0, total: 0) == Saturation(high: 0, low: 0))
        let keys = try (JSONSerialization.jsonObject(with: JSONEncoder().encode(s)) as! [String: Any]).keys
        #expect(Set(keys) == ["saturation_high", "saturation_low"])
    }

    @Test func nearestRankPercentiles() {
        // The classic example: 15, 20, 35, 40, 50 → rank ⌈p/100·5⌉.
        let v: [Double] = [50, 15, 40, 20, 35]
        #expect(nearestRankPercentile(v, 5) == 15) // rank ⌈0.25⌉ = 1
        #expect(nearestRankPercentile(v, 30) == 20) // rank ⌈1.5⌉ = 2
        #expect(nearestRankPercentile(v, 40) == 20) // rank ⌈2⌉ = 2
        #expect(nearestRankPercentile(v, 50) == 35) // rank ⌈2.5⌉ = 3
        #expect(nearestRankPercentile(v, 100) == 50)
        #expect(nearestRankPercentile(v, 0) == 15) // rank at least 1
        #expect(nearestRankPercentile([], 50) == nil)
    }

    @Test func latencyPercentilesOnKnownData() throws {
        let recorder = LatencyRecorder(capacity: 128)
        #expect(recorder.percentiles() == nil)
        var rng = SplitMix64(seed: 42)
        for ms in rng.shuffled(Array(1...100)) { recorder.add(Double(ms)) }
        // Nearest rank over 1…100: the p-th percentile is p itself.
        #expect(recorder.percentiles() == LatencyPercentiles(p50: 50, p95: 95, p99: 99, max: 100))
        #expect(recorder.count == 100)

        recorder.reset()
        for ms in [4.0, 1, 3, 2] { recorder.add(ms) }
        // n = 4: p50 rank 2 → 2; p95 rank ⌈3.8⌉ = 4 → 4; p99 rank 4 → 4.
        #expect(recorder.percentiles() == LatencyPercentiles(p50: 2, p95: 4, p99: 4, max: 4))
        recorder.add(.nan)
        recorder.add(-1)
        #expect(recorder.count == 4)

        let encoded = try JSONEncoder().encode(recorder.percentiles())
        let keys = try (JSONSerialization.jsonObject(with: encoded) as! [String: Any]).keys
        #expect(Set(keys) == ["p50", "p95", "p99", "max"])
    }

    @Test func latencyBeyondCapacityKeepsTheLatest() {
        let recorder = LatencyRecorder(capacity: 4)
        for ms in 1...10 { recorder.add(Double(ms)) }
        // Kept: 7, 8, 9, 10 → p50 rank 2 → 8; max over all samples 10.
        #expect(recorder.stored == 4 && recorder.count == 10)
        #expect(recorder.percentiles() == LatencyPercentiles(p50: 8, p95: 10, p99: 10, max: 10))
        let big = LatencyRecorder(capacity: 2)
        big.add(100)
        big.add(1)
        big.add(2) // 100 leaves the ring, but stays the max
        #expect(big.percentiles() == LatencyPercentiles(p50: 1, p95: 2, p99: 2, max: 100))
    }

    @Test func addAndPercentilesDoNotAllocate() {
        let recorder = LatencyRecorder(capacity: 1000)
        recorder.add(1)
        _ = recorder.percentiles() // warm up: the runtime instantiates type metadata on first use
        qw_allocations_begin()
        for i in 0..<5000 { recorder.add(Double(i % 97)) }
        let addAllocations = qw_allocations_end()
        qw_allocations_begin()
        let percentiles = recorder.percentiles()
        let percentileAllocations = qw_allocations_end()
        #expect(addAllocations == 0)
        #expect(percentileAllocations == 0)
        #expect(percentiles?.max == 96)
    }

    @Test func comparingBuffersDoesNotAllocate() {
        var rng = SplitMix64(seed: 7)
        let r = rng.floats(1000), q = rng.floats(1000)
        r.withUnsafeBufferPointer { rb in
            q.withUnsafeBufferPointer { qb in
                _ = Comparison.compare(reference: rb, quantized: qb, scale: 0.01, classAxisCount: 10)
                qw_allocations_begin()
                let c = Comparison.compare(reference: rb, quantized: qb, scale: 0.01, classAxisCount: 10)
                let conf = FrameMetrics.confidence(UnsafeBufferPointer(rebasing: rb[0..<10]))
                let allocations = qw_allocations_end()
                #expect(allocations == 0)
                #expect(c.kl != nil && conf > 0)
            }
        }
    }
}

@Suite struct ComparisonAccumulatorTests {
    /// Three frames, two classes each:
    ///   A: r = [1, 1], q = [1, 1]  → Σr² 2, Σe² 0 → 120 dB (cap);  cosine 1;  argmax 0 / 0 (tie → 0) agree
    ///   B: r = [2, 0], q = [1, 0]  → Σr² 4, Σe² 1 → 10·log10 4 = 6.0206 dB;  cosine 2/(2·1) = 1;  agree
    ///   C: r = [0, 1], q = [0, 0]  → Σr² 1, Σe² 1 → 0 dB;  cosine 0 (q zero);  argmax 1 / 0 disagree
    ///   sqnr_db mean = (120 + 6.0206 + 0) / 3 = 42.0069;  p5 = rank ⌈0.15⌉ = 1 → 0 dB
    ///   pooled = 10·log10((2 + 4 + 1) / (0 + 1 + 1)) = 10·log10 3.5 = 5.4407 dB (the loud frame B
    ///   dominates; frame A's perfect 120 dB does not lift it the way it lifts the mean)
    ///   cosine mean 2/3, top1_agree 2/3, mse mean (0 + 0.5 + 0.5)/3 = 1/3, max_abs_error max 1
    @Test func meansPercentileAndPooled() throws {
        var acc = ComparisonAccumulator(expectedFrames: 3)
        acc.add(reference: [1, 1], quantized: [1, 1], classAxisCount: 2)
        acc.add(reference: [2, 0], quantized: [1, 0], classAxisCount: 2)
        acc.add(reference: [0, 1], quantized: [0, 0], classAxisCount: 2)
        let s = acc.summary
        #expect(s.frames == 3)
        #expect(abs(s.sqnrDbMean! - (120 + 10 * log10(4.0)) / 3) < 1e-9)
        #expect(s.sqnrDbP5 == 0)
        #expect(abs(s.sqnrDbPooled! - 10 * log10(3.5)) < 1e-9)
        #expect(abs(s.cosineMean! - 2.0 / 3) < 1e-12)
        #expect(abs(s.top1Agree! - 2.0 / 3) < 1e-12)
        #expect(abs(s.mseMean! - 1.0 / 3) < 1e-12)
        #expect(s.maxAbsError == 1)
        #expect(s.rmseOverScaleMean == nil)
        #expect(s.klMean != nil)

        let keys = try (JSONSerialization.jsonObject(with: JSONEncoder().encode(s)) as! [String: Any]).keys
        #expect(Set(keys) == ["frames", "sqnr_db_mean", "sqnr_db_p5", "sqnr_db_pooled", "nl2_mean", "cosine_mean",
                              "mse_mean", "max_abs_error_max", "mean_error_mean", "top1_agree",
                              "topk_overlap_mean", "kl_mean"])
    }

    @Test func comparisonsWithoutSumsSkipThePool() {
        var acc = ComparisonAccumulator()
        #expect(acc.summary == ComparisonSummary(frames: 0))
        acc.add(Comparison.compare(reference: [1], quantized: [1]))
        #expect(acc.summary.sqnrDbPooled == nil)
        #expect(acc.summary.sqnrDbMean == 120)
        acc.add(Comparison.compare(reference: [2], quantized: [1]), sums: Comparison.sums(reference: [2], quantized: [1]))
        #expect(abs(acc.summary.sqnrDbPooled! - 10 * log10(4.0)) < 1e-9)
        acc.reset()
        #expect(acc.frames == 0 && acc.summary.sqnrDbPooled == nil)
    }

    @Test func poisonedFrameDragsThePoolToTheFloor() {
        var acc = ComparisonAccumulator()
        acc.add(reference: [1, 2], quantized: [1, 2])
        acc.add(reference: [1, 2], quantized: [.nan, 2])
        #expect(acc.summary.sqnrDbPooled == -120)
        #expect(acc.summary.sqnrDbMean == 0) // (120 − 120) / 2
        #expect(acc.summary.sqnrDbP5 == -120)
    }
}
