import Testing
@testable import QuantKernels
import TestSupport

/// Two-pass counting (`TwoPassCounting`): extremes first, exact counts only when one crossed a bound,
/// and after such a call `exactCallsAfterCrossing` calls in one exact pass. Every call's counts and
/// outputs equal the reference's, whichever pass the step's state chose; the state follows the rule.
@Suite struct TwoPassCountingTests {
    /// One 1x1 convolution (8 channels over 6x6: whole 16-pixel vectors and a masked tail), run on
    /// inputs that saturate (`gain` 1) and do not (`gain` 0), on every kernel this machine runs.
    @Test func convolutionCountsExactlyWhicheverPassTheStateChooses() {
        var rng = SplitMix64(seed: 0x2BA55)
        let g = Conv2DGeometry(batch: 1, inChannels: 8, inHeight: 6, inWidth: 6, outChannels: 8, outHeight: 6, outWidth: 6,
                               kernelHeight: 1, kernelWidth: 1, strideHeight: 1, strideWidth: 1, dilationHeight: 1,
                               dilationWidth: 1, padTop: 0, padLeft: 0, groups: 1)
        let inputs = [randomQuantized(UInt8.self, 8 * 36, &rng), [UInt8](repeating: 128, count: 8 * 36)]
        let weights = randomQuantized(Int8.self, 64, &rng)
        let r = Requantization.make(UInt8.self, multipliers: [0.05], zeroPoint: 128, outputScale: 1, activation: .none)
        for acceleration in int8ConvAccelerations {
            let packed = Conv2DInt8.PackedWeights(weights: weights, zeroPoints: [0], geometry: g, acceleration: acceleration)
            var scratch = [UInt8](repeating: 0, count: Conv2DInt8.scratchByteCount(geometry: g))
            var state: Int32 = 0
            // Saturating, 17 calls (one two-pass call that counts again, then 15 exact ones, then two
            // passes again), then a clean input (two passes, nothing to count again).
            for call in 0..<19 {
                let input = call < 17 ? inputs[0] : inputs[1]
                var reference = [UInt8](repeating: 0, count: 288), fast = [UInt8](repeating: 0, count: 288)
                var referenceCounts = SaturationCounts(), counts = SaturationCounts()
                let zero: [Int32] = [0]
                Conv2DInt8.reference(input: input, inputZero: 128, weights: weights, weightZeros: zero, weightZeroCount: 1,
                                     bias: nil, output: &reference, geometry: g, requantization: r, counts: &referenceCounts)
                scratch.withUnsafeMutableBytes { scratch in
                    Conv2DInt8.run(input: input, inputZero: 128, packed: packed, bias: nil, output: &fast, geometry: g,
                                   requantization: r, counts: &counts, scratch: scratch.baseAddress!, countingState: &state)
                }
                #expect(fast == reference && counts == referenceCounts, "\(acceleration) call \(call): \(counts) vs \(referenceCounts)")
                if call < 17 { #expect(referenceCounts.low + referenceCounts.high > 0) }
                if packed.vnniVariant != 0 {
                    // Call 0 counted again: 15; calls 1…15 exact: 14…0; call 16 two passes, again: 15.
                    let expected: Int32 = call == 0 ? 15 : (call <= 15 ? 15 - Int32(call) : (call == 16 ? 15 : 15 - Int32(call - 16)))
                    #expect(state == expected, "\(acceleration) call \(call)")
                } else {
                    #expect(state == 0, "the portable kernels count in one pass")
                }
            }
        }
    }

    /// QLinearAdd and QuantizeLinear with a state: the same rule, exact counts throughout.
    @Test func elementwiseKernelsFollowTheSameRule() {
        let n = 40
        let p = QLinearBinaryParameters(.add, UInt8.self, aScale: 1, aZero: 128, bScale: 1, bZero: 128, outputScale: 1, outputZero: 128)
        let plan = BroadcastPlan(output: [n], lhs: [n], rhs: [n])
        let saturating = (0..<n).map { UInt8($0 % 2 == 0 ? 255 : 130) }, clean = [UInt8](repeating: 130, count: n)
        var addState: Int32 = 0, quantizeState: Int32 = 0
        for call in 0..<18 {
            let a = call < 17 ? saturating : clean
            var reference = [UInt8](repeating: 0, count: n), fast = reference
            var referenceCounts = SaturationCounts(), counts = SaturationCounts()
            BinaryInt8.reference(lhs: a, rhs: clean, output: &reference, plan: plan, parameters: p, counts: &referenceCounts)
            BinaryInt8.add(lhs: a, rhs: clean, output: &fast, plan: plan, parameters: p, counts: &counts, countingState: &addState)
            #expect(fast == reference && counts == referenceCounts, "add call \(call)")
            if call < 17 { #expect(referenceCounts.high == n / 2) }
            let floats = a.map { Float($0) * 2 - 256 }   // beyond [−128, 127] at scale 1 where a is 255
            var q = [Int8](repeating: 0, count: n), qReference = q
            var qCounts = SaturationCounts(), qReferenceCounts = SaturationCounts()
            QuantizeLinear.reference(input: floats, output: &qReference, scales: [1], zeroPoints: [0], outer: 1, channels: 1, inner: n,
                                     counts: &qReferenceCounts)
            QuantizeLinear.run(input: floats, output: &q, scales: [1], zeroPoints: [0], outer: 1, channels: 1, inner: n,
                               counts: &qCounts, countingState: &quantizeState)
            #expect(q == qReference && qCounts == qReferenceCounts, "quantize call \(call)")
            let expected: Int32 = call == 0 ? 15 : (call <= 15 ? 15 - Int32(call) : (call == 16 ? 15 : 14))
            #expect(addState == expected && quantizeState == expected, "call \(call): \(addState) \(quantizeState)")
        }
    }
}
