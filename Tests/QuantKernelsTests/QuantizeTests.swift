import Testing
@testable import QuantKernels
import TestSupport

/// QuantizeLinear written with the standard library's rounding (no Double): NaN → zero point.
private func naiveQuantize<Y: QuantizedScalar>(_ x: Float, _ scale: Float, _ zero: Int32, _ type: Y.Type,
                                               _ counts: inout SaturationCounts) -> Y {
    let f = x / scale
    let v = f.isNaN ? Int64(zero) : naiveRound(f) + Int64(zero)
    counts.total += 1
    if v < Int64(Y.quantizedMin) { counts.low += 1 }
    if v > Int64(Y.quantizedMax) { counts.high += 1 }
    return Y(truncatingIfNeeded: min(max(v, Int64(Y.quantizedMin)), Int64(Y.quantizedMax)))
}

private func checkQuantize<Y: QuantizedScalar>(_ type: Y.Type, outer: Int, channels: Int, inner: Int, _ rng: inout SplitMix64) -> String? {
    let count = outer * channels * inner
    let scales: [Float] = (0..<channels).map { _ in rng.bool() ? 0.5 : rng.float(0.001, 2) }
    let zeros: [Int32] = (0..<channels).map { _ in Int32(rng.int(Int(Y.quantizedMin), Int(Y.quantizedMax))) }
    let span = Float(Y.quantizedMax - Y.quantizedMin)
    let input: [Float] = (0..<count).map { _ in
        switch rng.int(0, 9) {
        case 0: return Float(rng.int(-600, 600)) * 0.25          // exact ties at scale 0.5
        case 1: return [.nan, .infinity, -.infinity, 1e38, -1e38, 0, -0.0][rng.int(0, 6)]
        default: return rng.float(-span, span)
        }
    }
    var fast = [Y](repeating: 0, count: count), reference = [Y](repeating: 0, count: count)
    var fastCounts = SaturationCounts(), referenceCounts = SaturationCounts(), naiveCounts = SaturationCounts()
    QuantizeLinear.run(input: input, output: &fast, scales: scales, zeroPoints: zeros, outer: outer, channels: channels, inner: inner, counts: &fastCounts)
    QuantizeLinear.reference(input: input, output: &reference, scales: scales, zeroPoints: zeros, outer: outer, channels: channels, inner: inner, counts: &referenceCounts)
    for i in 0..<count {
        let channel = (i / inner) % channels
        let expected = naiveQuantize(input[i], scales[channel], zeros[channel], Y.self, &naiveCounts)
        if fast[i] != expected || reference[i] != expected {
            return "\(Y.self) [\(i)] x \(input[i]) scale \(scales[channel]) zp \(zeros[channel]): fast \(fast[i]) ref \(reference[i]) naive \(expected)"
        }
    }
    if fastCounts != naiveCounts || referenceCounts != naiveCounts { return "\(Y.self) counts \(fastCounts) \(referenceCounts) naive \(naiveCounts)" }
    return nil
}

@Suite struct QuantizeTests {
    @Test func matchesNaiveAllTypes() {
        var rng = SplitMix64(seed: 0x0A17)
        var failures: [String] = []
        for _ in 0..<200 {
            let outer = rng.int(1, 3), channels = rng.int(1, 4), inner = rng.int(1, 40)
            let results = [checkQuantize(UInt8.self, outer: outer, channels: channels, inner: inner, &rng),
                           checkQuantize(Int8.self, outer: outer, channels: channels, inner: inner, &rng),
                           checkQuantize(UInt16.self, outer: outer, channels: channels, inner: inner, &rng),
                           checkQuantize(Int16.self, outer: outer, channels: channels, inner: inner, &rng)]
            failures += results.compactMap { $0 }
        }
        #expect(failures.isEmpty, "\(failures.prefix(3))")
    }

    /// Counting keeps each channel's extremes and counts exactly only the channels whose extremes
    /// crossed a threshold: one out-of-range value among in-range ones, in any lane of the vector part
    /// or in the scalar tail, of one channel among several, is counted on its side and nowhere else;
    /// with a side switched off (a folded activation's bound) only the other is counted.
    @Test func oneOutOfRangeValueIsCountedExactlyWhereverItIs() {
        let channels = 3, inner = 37   // 32 in the vector loops, 5 in the tail
        for position in 0..<inner {
            for (value, isHigh) in [(Float(200), true), (Float(-200), false)] {
                var input = (0..<(channels * inner)).map { Float(($0 * 7) % 50) - 25 }   // in range at scale 1, zp 0
                input[inner + position] = value                                        // channel 1
                for (countLow, countHigh) in [(true, true), (false, true), (true, false)] {
                    var output = [Int8](repeating: 0, count: input.count)
                    var counts = SaturationCounts()
                    QuantizeLinear.run(input: input, output: &output, scales: [1, 1, 1], zeroPoints: [0, 0, 0], outer: 1,
                                       channels: channels, inner: inner, counts: &counts, countLow: countLow, countHigh: countHigh)
                    let expected = SaturationCounts(low: !isHigh && countLow ? 1 : 0, high: isHigh && countHigh ? 1 : 0,
                                                    total: input.count)
                    #expect(counts == expected, "position \(position) value \(value) low \(countLow) high \(countHigh)")
                    #expect(output[inner + position] == (isHigh ? 127 : -128))
                }
            }
        }
    }

    @Test func specialValues() {
        // scale 0.5, zp 10 (UInt8): ties 0.25 → 0.5 → 0, 0.75 → 1.5 → 2, −0.25 → −0.5 → −0 → 0; NaN → zp.
        let input: [Float] = [0.25, 0.75, -0.25, -0.75, .nan, .infinity, -.infinity, 1000, -1000, 1.25, 0, -0.0]
        var output = [UInt8](repeating: 0, count: input.count)
        var counts = SaturationCounts()
        QuantizeLinear.run(input: input, output: &output, scales: [0.5], zeroPoints: [10], outer: 1, channels: 1, inner: input.count, counts: &counts)
        #expect(output == [10, 12, 10, 8, 10, 255, 0, 255, 0, 12, 10, 10])
        #expect(counts == SaturationCounts(low: 2, high: 2, total: 12))
        // Same through the SIMD path (≥ 8 elements per channel run) and int16 outputs.
        var wide = [Int16](repeating: 0, count: input.count)
        QuantizeLinear.run(input: input, output: &wide, scales: [0.5], zeroPoints: [-3], outer: 1, channels: 1, inner: input.count, counts: nil)
        #expect(wide == [-3, -1, -3, -5, -3, 32767, -32768, 1997, -2003, -1, -3, -3])
    }

    @Test func dequantize() {
        let q: [UInt8] = Array(0...255)
        var x = [Float](repeating: 0, count: 256)
        DequantizeLinear.run(input: q, output: &x, scales: [0.1, 0.2], zeroPoints: [128, 3], outer: 1, channels: 2, inner: 128)
        for i in 0..<256 {
            let expected = i < 128 ? Float(Int32(i) - 128) * 0.1 : Float(Int32(i) - 3) * 0.2
            #expect(x[i] == expected)
        }
        let b: [Int32] = [5, -7, .max]
        var y = [Float](repeating: 0, count: 3)
        DequantizeLinear.run(input: b, output: &y, scales: [0.5], zeroPoints: [0], outer: 1, channels: 1, inner: 3)
        #expect(y == [2.5, -3.5, Float(Int32.max) * 0.5])
        let s: [Int16] = [-32768, 0, 32767]
        var z = [Float](repeating: 0, count: 3)
        DequantizeLinear.run(input: s, output: &z, scales: [1], zeroPoints: [1], outer: 1, channels: 1, inner: 3)
        #expect(z == [-32769, -1, 32766])
    }
}
