import Testing
@testable import QuantKernels
import TestSupport

/// The rule written out with the standard library's rounding (independent of the magic-number code).
private func naiveRequantize(_ acc: Int32, _ m: Float, _ r: Requantization, _ counts: inout SaturationCounts) -> Int32 {
    let v = naiveRound(Float(acc) * m) + Int64(r.zeroPoint)
    counts.total += 1
    if r.countLow && v < Int64(r.qmin) { counts.low += 1 }
    if r.countHigh && v > Int64(r.qmax) { counts.high += 1 }
    return Int32(min(max(v, Int64(r.lower)), Int64(r.upper)))
}

/// Runs the SIMD requantizer on 4 lanes and returns outputs and counts.
private func simdRequantize(_ accs: SIMD4<Int32>, _ m: Float, _ r: Requantization) -> (SIMD4<Int32>, SaturationCounts) {
    var requantizer = Int8Requantizer(r)
    let v = requantizer.apply(accs, SIMD4(repeating: m))
    var counts = SaturationCounts()
    requantizer.flush(into: &counts, total: 4)
    return (v, counts)
}

@Suite struct RequantizeTests {
    @Test func roundHalfEvenTies() {
        let cases: [(Float, Int32)] = [(0.5, 0), (1.5, 2), (2.5, 2), (3.5, 4), (-0.5, 0), (-1.5, -2), (-2.5, -2), (-3.5, -4),
                                       (0.49999997, 0), (-0.49999997, 0), (8_388_607.5, 8_388_608), (-8_388_606.5, -8_388_606),
                                       (2_147_483_520, 2_147_483_520), (2_147_483_648, .max), (-2_147_483_648, .min),
                                       (1e30, .max), (-1e30, .min), (.infinity, .max), (-.infinity, .min), (.nan, 0)]
        for (x, expected) in cases { #expect(roundHalfEvenToInt32(x) == expected, "\(x)") }
    }

    @Test func applyTiesHugeAndMultipliers() {
        let r = Requantization(multipliers: [0.5], zeroPoint: 0, lower: -128, upper: 127, qmin: -128, qmax: 127, countLow: true, countHigh: true)
        var counts = SaturationCounts()
        // Exact ties both signs → even.
        #expect([1, 3, 5, -1, -3, -5].map { r.apply($0, channel: 0, counts: &counts) } == [0, 2, 2, 0, -2, -2])
        #expect(counts == SaturationCounts(low: 0, high: 0, total: 6))
        // Huge accumulators with a multiplier > 1: Float(acc)·m overflows Int32 — saturates, no trap.
        let big = Requantization(multipliers: [3.0], zeroPoint: 5, lower: 0, upper: 255, qmin: 0, qmax: 255, countLow: true, countHigh: true)
        counts = SaturationCounts()
        #expect(big.apply(.max, channel: 0, counts: &counts) == 255)
        #expect(big.apply(.min, channel: 0, counts: &counts) == 0)
        #expect(counts == SaturationCounts(low: 1, high: 1, total: 2))
        // Tiny multiplier: everything collapses to the zero point.
        let tiny = Requantization(multipliers: [1e-12], zeroPoint: 7, lower: 0, upper: 255, qmin: 0, qmax: 255, countLow: true, countHigh: true)
        counts = SaturationCounts()
        #expect(tiny.apply(.max, channel: 0, counts: &counts) == 7 && tiny.apply(.min, channel: 0, counts: &counts) == 7)
        #expect(counts.low == 0 && counts.high == 0)
    }

    @Test func makeQuantizesActivationBounds() {
        // UInt8, scale 0.05, zp 20: ReLU floor q = 20 ≥ 0 → not counted; ReLU6 ceiling 6/0.05 + 20 = 140.
        let relu6 = Requantization.make(UInt8.self, multipliers: [1], zeroPoint: 20, outputScale: 0.05, activation: FloatClamp(lower: 0, upper: 6))
        #expect(relu6.lower == 20 && relu6.upper == 140 && !relu6.countLow && !relu6.countHigh)
        // Ceiling beyond the range: clamp at qmax, still counted.
        let wide = Requantization.make(UInt8.self, multipliers: [1], zeroPoint: 20, outputScale: 0.01, activation: FloatClamp(lower: 0, upper: 6))
        #expect(wide.upper == 255 && wide.countHigh && !wide.countLow)
        // Floor below the range (Clip(−100, …)): counted.
        let clip = Requantization.make(Int8.self, multipliers: [1], zeroPoint: 0, outputScale: 0.1, activation: FloatClamp(lower: -100, upper: 1))
        #expect(clip.lower == -128 && clip.countLow && clip.upper == 10 && !clip.countHigh)
        let none = Requantization.make(Int16.self, multipliers: [1], zeroPoint: 0, outputScale: 0.1, activation: .none)
        #expect(none.lower == -32768 && none.upper == 32767 && none.countLow && none.countHigh)
        #expect(Requantization.multipliers(inputScale: 0.5, weightScales: [0.25, 1], outputScale: 0.125) == [1, 4])
    }

    /// Scalar `apply`, the SIMD epilogue and an independent naive formula agree on many random values,
    /// including ties, huge accumulators, tiny and > 1 multipliers, 8- and 16-bit ranges.
    @Test func simdAndScalarAgreeWithNaive() {
        var rng = SplitMix64(seed: 0x2E9A)
        let ranges: [(Int32, Int32)] = [(-128, 127), (0, 255), (-32768, 32767), (0, 65535)]
        var mismatches = 0
        for iteration in 0..<20000 {
            let (qmin, qmax) = ranges[iteration % 4]
            let zp = Int32(rng.int(Int(qmin), Int(qmax)))
            let lower = Int32(rng.int(Int(qmin), Int(qmax))), upper = max(lower, Int32(rng.int(Int(qmin), Int(qmax))))
            let m: Float
            switch rng.int(0, 4) {
            case 0: m = 0.5
            case 1: m = rng.float(1, 100)
            case 2: m = rng.float(0, 1e-6)
            case 3: m = 0.25
            default: m = rng.float(0, 0.01)
            }
            let r = Requantization(multipliers: [m], zeroPoint: zp, lower: lower, upper: upper, qmin: qmin, qmax: qmax,
                                   countLow: rng.bool(), countHigh: rng.bool())
            var accs = SIMD4<Int32>()
            for lane in 0..<4 {
                switch rng.int(0, 3) {
                case 0: accs[lane] = Int32(truncatingIfNeeded: rng.next())
                case 1: accs[lane] = [Int32.max, Int32.min, Int32.max - 1, Int32.min + 1][rng.int(0, 3)]
                case 2: accs[lane] = Int32(rng.int(-1000, 1000)) * 2 + 1   // odd: ties for m = 0.5
                default: accs[lane] = Int32(rng.int(-70000, 70000))
                }
            }
            var naiveCounts = SaturationCounts(), scalarCounts = SaturationCounts()
            var naive = SIMD4<Int32>(), scalar = SIMD4<Int32>()
            for lane in 0..<4 {
                naive[lane] = naiveRequantize(accs[lane], m, r, &naiveCounts)
                scalar[lane] = r.apply(accs[lane], channel: 0, counts: &scalarCounts)
            }
            let (simd, simdCounts) = simdRequantize(accs, m, r)
            if naive != scalar || naive != simd || naiveCounts != scalarCounts || naiveCounts != simdCounts { mismatches += 1 }
        }
        #expect(mismatches == 0)
    }
}
