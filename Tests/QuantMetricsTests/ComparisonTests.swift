import Foundation
import QuantGraph
import QuantMetrics
import Testing
import TestSupport

private func close(_ a: Double?, _ b: Double, _ tol: Double = 1e-9) -> Bool {
    guard let a else { return false }
    return abs(a - b) <= tol
}

@Suite struct ComparisonEdgeCaseTests {
    @Test func identicalVectorsHitTheCap() {
        let c = Comparison.compare(reference: [0.5, -1, 2], quantized: [0.5, -1, 2])
        #expect(c.sqnrDb == 120)
        #expect(c.nl2 == 0)
        #expect(close(c.cosine, 1, 1e-15))
        #expect(c.mse == 0 && c.maxAbsError == 0 && c.meanError == 0)
        #expect(c.rmseOverScale == nil && c.top1Agree == nil && c.topkOverlap == nil && c.kl == nil)
    }

    @Test func bothZeroIsAPerfectMatch() {
        let c = Comparison.compare(reference: [0, 0, 0, 0], quantized: [0, 0, 0, 0], scale: 0.1)
        #expect(c.sqnrDb == 120)
        #expect(c.nl2 == 0)
        #expect(c.cosine == 1)
        #expect(c.mse == 0 && c.maxAbsError == 0 && c.meanError == 0)
        #expect(c.rmseOverScale == 0)
    }

    @Test func zeroReferenceNonZeroQuantized() {
        // Σr² = 0, Σ(r−q)² = 1 + 4 = 5: SQNR −inf and nl2 +inf by definition → floor and cap.
        let c = Comparison.compare(reference: [0, 0], quantized: [1, -2])
        #expect(c.sqnrDb == -120)
        #expect(c.nl2 == 1e6)
        #expect(c.cosine == 0)
        #expect(c.mse == 2.5)
        #expect(c.maxAbsError == 2)
        #expect(c.meanError == -0.5) // (1 − 2) / 2
    }

    @Test func zeroQuantizedNonZeroReference() {
        // Σr² = 9 + 16 = 25 = Σ(r−q)²: 0 dB, nl2 1; exactly one zero vector: cosine 0.
        let c = Comparison.compare(reference: [3, 4], quantized: [0, 0])
        #expect(c.sqnrDb == 0)
        #expect(c.nl2 == 1)
        #expect(c.cosine == 0)
        #expect(c.mse == 12.5)
        #expect(c.meanError == -3.5)
    }

    @Test func emptyTensorsCompareEqual() {
        let c = Comparison.compare(reference: [], quantized: [], scale: 0.5, classAxisCount: 10)
        #expect(c == TensorComparison(sqnrDb: 120, nl2: 0, cosine: 1, mse: 0, maxAbsError: 0, meanError: 0,
                                      rmseOverScale: 0))
    }

    @Test func sqnrAboveTheCapIsClamped() {
        // Error of one Float ulp at 1 (2^-23): 10·log10(1 / 2^-46) ≈ 138.5 dB → 120.
        let c = Comparison.compare(reference: [1], quantized: [1 + Float.ulpOfOne])
        #expect(c.sqnrDb == 120)
        #expect(close(c.nl2, 0x1p-23, 1e-15))
    }

    @Test func nanPoisonsTheSimilarityMetrics() throws {
        // Pair 1 has a NaN and is skipped: finite pairs (1,1), (2,3): Σe² = 1, N = 2.
        let c = Comparison.compare(reference: [1, .nan, 2], quantized: [1, 1, 3], scale: 0.5, classAxisCount: 3)
        #expect(c.sqnrDb == -120)
        #expect(c.nl2 == 1e6)
        #expect(c.cosine == 0)
        #expect(c.mse == 0.5)
        #expect(c.maxAbsError == 1)
        #expect(c.meanError == 0.5)
        #expect(close(c.rmseOverScale, 0.5.squareRoot() / 0.5))
        #expect(c.top1Agree == 0 && c.topkOverlap == 0)
        #expect(c.kl == Comparison.klMax)
        #expect(close(Comparison.klMax, 20.72326583794641, 1e-9)) // ln((1 + 1e-9) / 1e-9)
        // JSON-safe: JSONEncoder throws on NaN / inf by default.
        _ = try JSONEncoder().encode(c)
        #expect(c == c)

        let sums = Comparison.sums(reference: [1, .nan, 2], quantized: [1, 1, 3])
        #expect(sums.count == 2 && sums.nonFiniteCount == 1 && sums.isPoisoned)
    }

    @Test func infinityInQuantizedPoisonsToo() {
        let c = Comparison.compare(reference: [1, 2], quantized: [.infinity, 2])
        #expect(c.sqnrDb == -120 && c.nl2 == 1e6 && c.cosine == 0)
        #expect(c.mse == 0 && c.maxAbsError == 0)
    }
}

@Suite struct ComparisonHandComputedTests {
    /// r = [1, −2, 3, 0], q = [1.5, −2, 2, 0.25], scale 0.5, one classifier row of 4 classes, k = 2.
    ///   e = q − r = [0.5, 0, −1, 0.25]
    ///   Σr² = 1 + 4 + 9 + 0 = 14;  Σq² = 2.25 + 4 + 4 + 0.0625 = 10.3125;  Σrq = 1.5 + 4 + 6 + 0 = 11.5
    ///   Σe² = 0.25 + 0 + 1 + 0.0625 = 1.3125;  Σ(q−r) = 0.5 + 0 − 1 + 0.25 = −0.25
    ///   sqnr_db = 10·log10(14 / 1.3125) = 10·log10(10.6667) = 10.280287 dB
    ///   nl2 = √(1.3125 / 14) = √0.09375 = 0.306186
    ///   cosine = 11.5 / √(14 · 10.3125) = 11.5 / √144.375 = 11.5 / 12.015614 = 0.957088
    ///   mse = 1.3125 / 4 = 0.328125;  max_abs_error = 1;  mean_error = −0.25 / 4 = −0.0625
    ///   rmse_over_scale = √0.328125 / 0.5 = 0.572822 / 0.5 = 1.145644
    ///   argmax r = 2 (3), argmax q = 2 (2) → top1_agree 1
    ///   top2(r) = {2, 0} (3, 1), top2(q) = {2, 0} (2, 1.5) → topk_overlap 2/2 = 1
    ///   kl (logits: softmax applied): p = softmax(r) = [0.113550, 0.005653, 0.839025, 0.041773],
    ///     p̂ = softmax(q) = [0.337220, 0.010183, 0.555982, 0.096615],
    ///     Σ p·ln(p/p̂) = 0.11355·ln(0.33672) + 0.005653·ln(0.55516) + 0.839025·ln(1.50909) + 0.041773·ln(0.43236)
    ///                 = −0.123598 − 0.003327 + 0.345262 − 0.035026 = 0.183311 (ε changes the 9th digit)
    @Test func fourElements() throws {
        let c = Comparison.compare(reference: [1, -2, 3, 0], quantized: [1.5, -2, 2, 0.25], scale: 0.5,
                                   classAxisCount: 4, k: 2)
        #expect(close(c.sqnrDb, 10.280287236, 1e-8))
        #expect(close(c.nl2, 0.306186217848, 1e-11))
        #expect(close(c.cosine, 0.957087935363, 1e-11))
        #expect(c.mse == 0.328125)
        #expect(c.maxAbsError == 1)
        #expect(c.meanError == -0.0625)
        #expect(close(c.rmseOverScale, 1.145643923739, 1e-11))
        #expect(c.top1Agree == 1)
        #expect(c.topkOverlap == 1)
        #expect(close(c.kl, 0.183311, 1e-6))

        let sums = Comparison.sums(reference: [1, -2, 3, 0], quantized: [1.5, -2, 2, 0.25])
        #expect(sums.sumRR == 14 && sums.sumQQ == 10.3125 && sums.sumRQ == 11.5)
        #expect(sums.sumErrorSquared == 1.3125 && sums.sumError == -0.25 && sums.count == 4)
    }

    @Test func tensorOverloadMatchesArrays() {
        let r = Tensor(shape: [1, 4], values: [Float(1), -2, 3, 0])
        let q = Tensor(shape: [4], values: [Float(1.5), -2, 2, 0.25])
        #expect(Comparison.compare(reference: r, quantized: q, scale: 0.5, classAxisCount: 4, k: 2)
            == Comparison.compare(reference: [1, -2, 3, 0], quantized: [1.5, -2, 2, 0.25], scale: 0.5, classAxisCount: 4, k: 2))
    }

    @Test func rmseOverScaleOfPureRoundingNoise() {
        // r uniform in [−1, 1), q = round(r/s)·s: the error is uniform in [−s/2, s/2], whose standard
        // deviation is s/√12, so rmse/s → 1/√12 = 0.288675.
        var rng = SplitMix64(seed: 0x5EED_0289)
        let s: Float = 0.05
        let r = rng.floats(100_000)
        let q = r.map { ($0 / s).rounded() * s }
        let c = Comparison.compare(reference: r, quantized: q, scale: s)
        #expect(abs(c.rmseOverScale! - 1 / 12.0.squareRoot()) < 0.01)
        #expect(abs(c.meanError) < 1e-3) // rounding to nearest: no bias
        #expect(c.maxAbsError <= Double(s) / 2 + 1e-6)
    }

    @Test func noScaleMeansNoRmseOverScale() {
        #expect(Comparison.compare(reference: [1, 2], quantized: [1, 3]).rmseOverScale == nil)
        #expect(Comparison.compare(reference: [1, 2], quantized: [1, 3], scale: 0).rmseOverScale == nil)
    }

    @Test func jsonKeysAreTheMetricNames() throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        let full = Comparison.compare(reference: [1, -2, 3, 0], quantized: [1.5, -2, 2, 0.25], scale: 0.5, classAxisCount: 4)
        let object = try JSONSerialization.jsonObject(with: encoder.encode(full)) as! [String: Any]
        #expect(Set(object.keys) == ["sqnr_db", "nl2", "cosine", "mse", "max_abs_error", "mean_error",
                                     "rmse_over_scale", "top1_agree", "topk_overlap", "kl"])
        #expect(try JSONDecoder().decode(TensorComparison.self, from: encoder.encode(full)) == full)

        let plain = Comparison.compare(reference: [1], quantized: [1])
        let keys = try (JSONSerialization.jsonObject(with: encoder.encode(plain)) as! [String: Any]).keys
        #expect(Set(keys) == ["sqnr_db", "nl2", "cosine", "mse", "max_abs_error", "mean_error"])
    }
}

@Suite struct ClassifierMetricTests {
    @Test func klOfProbabilitiesUsesThemAsTheyAre() {
        // p = [0.5, 0.25, 0.25, 0], p̂ = [0.25, 0.25, 0.5, 0]:
        // 0.5·ln(0.5/0.25) + 0.25·ln(1) + 0.25·ln(0.25/0.5) + 0 = 0.5·ln2 − 0.25·ln2 = 0.25·ln2 = 0.173287
        let c = Comparison.compare(reference: [0.5, 0.25, 0.25, 0], quantized: [0.25, 0.25, 0.5, 0], classAxisCount: 4)
        #expect(close(c.kl, 0.25 * log(2.0), 1e-8))
    }

    @Test func klOfLogitsAppliesSoftmax() {
        // r = [0, 0] → p = [1/2, 1/2]; q = [ln 3, 0] → p̂ = [3/4, 1/4]:
        // 0.5·ln(0.5/0.75) + 0.5·ln(0.5/0.25) = 0.5·ln(4/3) = 0.143841
        let c = Comparison.compare(reference: [0, 0], quantized: [Float(log(3.0)), 0], classAxisCount: 2)
        #expect(close(c.kl, 0.5 * log(4.0 / 3), 1e-7))
        // The same distributions given as probabilities give the same value.
        let p = Comparison.compare(reference: [0.5, 0.5], quantized: [0.75, 0.25], classAxisCount: 2)
        #expect(close(p.kl, 0.5 * log(4.0 / 3), 1e-7))
        // Forcing softmax onto probabilities gives something else: softmax([0.5, 0.5]) = [½, ½],
        // softmax([0.75, 0.25]) = [0.6225, 0.3775]: 0.5·ln(0.5/0.6225) + 0.5·ln(0.5/0.3775) = 0.030830
        let forced = Comparison.compare(reference: [0.5, 0.5], quantized: [0.75, 0.25], classAxisCount: 2, probabilities: false)
        #expect(close(forced.kl, 0.5 * log(0.5 / (1 / (1 + exp(-0.5)))) + 0.5 * log(0.5 / (1 / (1 + exp(0.5)))), 1e-7))
    }

    @Test func theReferenceDecidesProbabilities() {
        // A dequantized uint8 softmax row sums to 1.02 — not probabilities by itself — but the float
        // reference is, so both are used as they are: 0.5·ln(0.5/0.76) + 0.5·ln(0.5/0.26) = 0.5·ln(0.25/0.1976)
        let c = Comparison.compare(reference: [0.5, 0.5], quantized: [0.76, 0.26], classAxisCount: 2)
        #expect(close(c.kl, 0.5 * log(0.25 / (Double(Float(0.76)) * Double(Float(0.26)))), 1e-7))
        // A quantized row that sums to more than 1 could give KL < 0: clamped to 0.
        let over = Comparison.compare(reference: [0.5, 0.5], quantized: [0.52, 0.52], classAxisCount: 2)
        #expect(over.kl == 0)
    }

    @Test func identicalClassifierOutputs() {
        let c = Comparison.compare(reference: [0.1, 0.7, 0.2], quantized: [0.1, 0.7, 0.2], classAxisCount: 3)
        #expect(c.top1Agree == 1 && c.topkOverlap == 1)
        #expect(close(c.kl, 0, 1e-12))
    }

    @Test func topkTiesGoToTheLowerIndex() {
        func top(_ x: [Float], _ k: Int) -> [Int] {
            var out = [Int](repeating: -1, count: k)
            x.withUnsafeBufferPointer { xs in out.withUnsafeMutableBufferPointer { Comparison.topIndices(xs, into: $0) } }
            return out
        }
        #expect(top([1, 3, 3, 2, 3], 2) == [1, 2])
        #expect(top([1, 3, 3, 2, 3], 3) == [1, 2, 4])
        #expect(top([1, 3, 3, 2, 3], 5) == [1, 2, 4, 3, 0])
        #expect(top([3, 1, 1, 1, 3], 3) == [0, 4, 1])
        #expect(top([5, 5, 5], 1) == [0])
        #expect([Float(2), 5, 5].withUnsafeBufferPointer { Comparison.argmax($0) } == 1)

        // top2: r {1, 2} vs q {0, 4} → 0; top3: r {1, 2, 4} vs q {0, 4, 1} → {1, 4} = 2/3.
        let r: [Float] = [1, 3, 3, 2, 3], q: [Float] = [3, 1, 1, 1, 3]
        #expect(Comparison.compare(reference: r, quantized: q, classAxisCount: 5, k: 2).topkOverlap == 0)
        #expect(close(Comparison.compare(reference: r, quantized: q, classAxisCount: 5, k: 3).topkOverlap, 2.0 / 3))
        // argmax r = 1 (first 3), argmax q = 0: no top1 agreement.
        #expect(Comparison.compare(reference: r, quantized: q, classAxisCount: 5).top1Agree == 0)
    }

    @Test func defaultKIsFiveOrTheClassCount() {
        // 7 classes, k = 5: r's top5 = {6, 5, 4, 3, 2}; q reverses the order → top5 = {0, 1, 2, 3, 4}
        // ∩ = {2, 3, 4} → 3/5.
        let r: [Float] = [0, 1, 2, 3, 4, 5, 6], q: [Float] = [6, 5, 4, 3, 2, 1, 0]
        #expect(close(Comparison.compare(reference: r, quantized: q, classAxisCount: 7).topkOverlap, 0.6))
        // 3 classes: k = 3, every class is in the top k → overlap 1.
        #expect(Comparison.compare(reference: [1, 2, 3], quantized: [3, 2, 1], classAxisCount: 3).topkOverlap == 1)
        #expect(Comparison.compare(reference: [1, 2, 3], quantized: [3, 2, 1], classAxisCount: 3, k: 10).topkOverlap == 1)
    }

    @Test func batchedRowsAreAveraged() {
        // Row 0: [0, 1] vs [0, 1] agrees; row 1: [1, 0] vs [0, 1] does not → 0.5.
        let c = Comparison.compare(reference: [0, 1, 1, 0], quantized: [0, 1, 0, 1], classAxisCount: 2, k: 1)
        #expect(c.top1Agree == 0.5)
        #expect(c.topkOverlap == 0.5)
    }
}
