import Testing
@testable import QuantKernels
import TestSupport

private func int8OutputSize(_ input: Int, kernel: Int, stride: Int, dilation: Int, padBefore: Int, padAfter: Int) -> Int {
    let span = (kernel - 1) * dilation + 1
    let padded = input + padBefore + padAfter
    return padded < span ? 0 : (padded - span) / stride + 1
}

private func int8Describe(_ g: Conv2DGeometry) -> String {
    "N\(g.batch) C\(g.inChannels) \(g.inHeight)x\(g.inWidth) → OC\(g.outChannels) \(g.outHeight)x\(g.outWidth) "
        + "k\(g.kernelHeight)x\(g.kernelWidth) s\(g.strideHeight),\(g.strideWidth) d\(g.dilationHeight),\(g.dilationWidth) "
        + "pad t\(g.padTop) l\(g.padLeft) g\(g.groups)"
}

/// Random values of T over its whole range.
func randomQuantized<T: QuantizedScalar>(_ type: T.Type, _ count: Int, _ rng: inout SplitMix64) -> [T] {
    (0..<count).map { _ in T(truncatingIfNeeded: rng.int(Int(T.quantizedMin), Int(T.quantizedMax))) }
}

/// A random requantization for output type Y: multipliers from tiny to > 1 (so saturation happens),
/// per tensor or per channel, with no activation, ReLU, ReLU6 or a Clip whose floor lies below the range.
func randomRequantization<Y: QuantizedScalar>(_ type: Y.Type, channels: Int, typicalSum: Float,
                                              _ rng: inout SplitMix64) -> (Requantization, String) {
    let perChannel = rng.bool()
    let base = 1 / max(1, typicalSum) * rng.float(0.5, 40)
    let multipliers: [Float] = (0..<(perChannel ? channels : 1)).map { _ in
        switch rng.int(0, 9) {
        case 0: return base * 1000      // heavy saturation
        case 1: return rng.float(1, 3)  // multiplier > 1
        case 2: return 1e-7             // tiny
        default: return base * rng.float(0.5, 2)
        }
    }
    let zeroPoint = Int32(rng.int(Int(Y.quantizedMin), Int(Y.quantizedMax)))
    let outputScale = rng.float(0.01, 0.2)
    let activation: FloatClamp
    let name: String
    switch rng.int(0, 3) {
    case 0: activation = .none; name = "none"
    case 1: activation = FloatClamp(lower: 0); name = "relu"
    case 2: activation = FloatClamp(lower: 0, upper: 6); name = "relu6"
    default: activation = FloatClamp(lower: -1000, upper: rng.float(-1, 3)); name = "clip"
    }
    let r = Requantization.make(Y.self, multipliers: multipliers, zeroPoint: zeroPoint, outputScale: outputScale, activation: activation)
    return (r, "\(perChannel ? "per-channel" : "per-tensor") zp \(zeroPoint) act \(name) lower \(r.lower) upper \(r.upper) cl \(r.countLow) ch \(r.countHigh)")
}

/// Runs reference and fast QLinearConv (and ConvInteger) on random data; returns a failure or nil.
private func checkConv<X: QuantizedScalar, W: QuantizedScalar, Y: QuantizedScalar>(
    _ g: Conv2DGeometry, _ x: X.Type, _ w: W.Type, _ y: Y.Type, hasBias: Bool, perChannelZeros: Bool,
    _ rng: inout SplitMix64
) -> String? {
    let input = randomQuantized(X.self, g.batch * g.inChannels * g.inHeight * g.inWidth, &rng)
    let depth = (g.inChannels / g.groups) * g.kernelHeight * g.kernelWidth
    let weights = randomQuantized(W.self, g.outChannels * depth, &rng)
    let inputZero = Int32(rng.int(Int(X.quantizedMin), Int(X.quantizedMax)))
    let weightZeros: [Int32] = (0..<(perChannelZeros ? g.outChannels : 1)).map { _ in
        rng.bool() ? (W.isSigned ? 0 : 128) : Int32(rng.int(Int(W.quantizedMin), Int(W.quantizedMax)))
    }
    let bias: [Int32] = (0..<g.outChannels).map { _ in Int32(rng.int(-20000, 20000)) }
    let (requantization, rqText) = randomRequantization(Y.self, channels: g.outChannels, typicalSum: Float(depth) * 4000, &rng)
    let outputCount = g.batch * g.outChannels * g.outHeight * g.outWidth
    var reference = [Y](repeating: 0x5A, count: outputCount)
    var reference32 = [Int32](repeating: 0x5A5A, count: outputCount)
    var referenceCounts = SaturationCounts()
    input.withUnsafeBufferPointer { input in
        weights.withUnsafeBufferPointer { weights in
            weightZeros.withUnsafeBufferPointer { zeros in
                bias.withUnsafeBufferPointer { bias in
                    Conv2DInt8.reference(input: input.baseAddress!, inputZero: inputZero, weights: weights.baseAddress!,
                                         weightZeros: zeros.baseAddress!, weightZeroCount: zeros.count, bias: hasBias ? bias.baseAddress : nil,
                                         output: &reference, geometry: g, requantization: requantization, counts: &referenceCounts)
                    Conv2DInt8.referenceInt32(input: input.baseAddress!, inputZero: inputZero, weights: weights.baseAddress!,
                                              weightZeros: zeros.baseAddress!, weightZeroCount: zeros.count,
                                              output: &reference32, geometry: g)
                }
            }
        }
    }
    var fastCounts = SaturationCounts()
    // Every kernel this machine runs: the portable one and each VNNI variant the CPU has.
    for acceleration in int8ConvAccelerations {
    var fast = [Y](repeating: 0x33, count: outputCount)
    var fast32 = [Int32](repeating: 0x3333, count: outputCount)
    fastCounts = SaturationCounts()
    let packed = Conv2DInt8.PackedWeights(weights: weights, zeroPoints: weightZeros, geometry: g, acceleration: acceleration)
    // Garbage-filled scratch: anything the kernel reads without writing shows up as a mismatch.
    var scratch = [UInt8](repeating: 0xA7, count: Conv2DInt8.scratchByteCount(geometry: g))
    input.withUnsafeBufferPointer { input in
        bias.withUnsafeBufferPointer { bias in
            let biasPointer = hasBias ? bias.baseAddress : nil
            scratch.withUnsafeMutableBytes { scratch in
                Conv2DInt8.run(input: input.baseAddress!, inputZero: inputZero, packed: packed, bias: biasPointer,
                               output: &fast, geometry: g, requantization: requantization, counts: &fastCounts,
                               scratch: scratch.baseAddress!)
                Conv2DInt8.runInt32(input: input.baseAddress!, inputZero: inputZero, packed: packed,
                                    output: &fast32, geometry: g, scratch: scratch.baseAddress!)
            }
        }
    }
    let text = "\(int8Describe(g)) \(X.self)x\(W.self)→\(Y.self) bias \(hasBias) perChannelZeros \(perChannelZeros) \(rqText) "
        + "\(acceleration) (variant \(packed.vnniVariant))"
    if let i = (0..<outputCount).first(where: { reference[$0] != fast[$0] }) {
        return "\(text): output[\(i)] fast \(fast[i]) reference \(reference[i])"
    }
    if let i = (0..<outputCount).first(where: { reference32[$0] != fast32[$0] }) {
        return "\(text): int32[\(i)] fast \(fast32[i]) reference \(reference32[i])"
    }
    if referenceCounts != fastCounts { return "\(text): counts fast \(fastCounts) reference \(referenceCounts)" }
    }
    let text = "\(int8Describe(g)) \(X.self)x\(W.self)→\(Y.self) bias \(hasBias) perChannelZeros \(perChannelZeros) \(rqText)"
    // The counts must equal a naive recount from the raw accumulators.
    var naive = SaturationCounts()
    for i in 0..<outputCount {
        let channel = (i / (g.outHeight * g.outWidth)) % g.outChannels
        let acc = reference32[i] &+ (hasBias ? bias[channel] : 0)
        let m = requantization.multipliers.count == 1 ? requantization.multipliers[0] : requantization.multipliers[channel]
        let v = naiveRound(Float(acc) * m) + Int64(requantization.zeroPoint)
        naive.total += 1
        if requantization.countLow && v < Int64(Y.quantizedMin) { naive.low += 1 }
        if requantization.countHigh && v > Int64(Y.quantizedMax) { naive.high += 1 }
    }
    if naive != fastCounts { return "\(text): counts fast \(fastCounts) naive \(naive)" }
    return nil
}

/// The int8 convolution kernels to compare with the reference on this machine: the portable Swift
/// kernels always, and each VNNI variant (AVX-VNNI, AVX512-VNNI) the CPU runs.
let int8ConvAccelerations: [Conv2DInt8.Int8Acceleration] =
    [.portable] + [Int32(1), 2].filter { Conv2DInt8.vnniSupport & $0 != 0 }.map { .vnni($0) }

/// nearbyint via the standard library (independent of the kernels' magic-number rounding), saturating.
func naiveRound(_ f: Float) -> Int64 {
    let r = f.rounded(.toNearestOrEven)
    if r >= 2_147_483_648 { return Int64(Int32.max) }
    if r < -2_147_483_648 { return Int64(Int32.min) }
    return Int64(r)
}

private func randomGeometry(_ rng: inout SplitMix64, forceDepthwise: Bool) -> Conv2DGeometry {
    while true {
        let depthwise = forceDepthwise || rng.int(0, 4) == 0
        var groups = 1
        var inChannels = rng.int(1, 9)
        var outChannels = rng.int(1, 11)
        if depthwise {
            inChannels = rng.int(2, 12)
            groups = inChannels
            outChannels = inChannels * rng.int(1, 2)
        } else if rng.int(0, 4) == 0 {
            groups = rng.int(2, 3)
            inChannels = groups * rng.int(1, 3)
            outChannels = groups * rng.int(1, 4)
        }
        let pointwise = !depthwise && rng.int(0, 3) == 0
        let kernelHeight = pointwise ? 1 : rng.int(1, 4), kernelWidth = pointwise ? 1 : rng.int(1, 4)
        let stride = pointwise && rng.bool() ? (1, 1) : (rng.int(1, 3), rng.int(1, 3))
        let dilation = pointwise || rng.int(0, 2) != 0 ? (1, 1) : (rng.int(1, 2), rng.int(1, 3))
        let pads = pointwise && rng.bool() ? (0, 0, 0, 0) : (rng.int(0, 2), rng.int(0, 2), rng.int(0, 2), rng.int(0, 2))
        let inHeight = rng.int(1, 12), inWidth = rng.int(1, 21)
        let outHeight = int8OutputSize(inHeight, kernel: kernelHeight, stride: stride.0, dilation: dilation.0, padBefore: pads.0, padAfter: pads.2)
        let outWidth = int8OutputSize(inWidth, kernel: kernelWidth, stride: stride.1, dilation: dilation.1, padBefore: pads.1, padAfter: pads.3)
        if outHeight == 0 || outWidth == 0 { continue }
        return Conv2DGeometry(batch: rng.int(1, 2), inChannels: inChannels, inHeight: inHeight, inWidth: inWidth,
                              outChannels: outChannels, outHeight: outHeight, outWidth: outWidth,
                              kernelHeight: kernelHeight, kernelWidth: kernelWidth,
                              strideHeight: stride.0, strideWidth: stride.1, dilationHeight: dilation.0, dilationWidth: dilation.1,
                              padTop: pads.0, padLeft: pads.1, groups: groups)
    }
}

private func checkRandom(_ g: Conv2DGeometry, _ rng: inout SplitMix64) -> String? {
    let hasBias = rng.bool(), perChannel = rng.bool()
    switch rng.int(0, 5) {
    case 0: return checkConv(g, UInt8.self, Int8.self, UInt8.self, hasBias: hasBias, perChannelZeros: perChannel, &rng)
    case 1: return checkConv(g, Int8.self, Int8.self, Int8.self, hasBias: hasBias, perChannelZeros: perChannel, &rng)
    case 2: return checkConv(g, UInt8.self, UInt8.self, UInt8.self, hasBias: hasBias, perChannelZeros: perChannel, &rng)
    case 3: return checkConv(g, Int8.self, UInt8.self, Int8.self, hasBias: hasBias, perChannelZeros: perChannel, &rng)
    case 4: return checkConv(g, UInt8.self, Int8.self, Int8.self, hasBias: hasBias, perChannelZeros: perChannel, &rng)
    default: return checkConv(g, Int8.self, Int8.self, UInt8.self, hasBias: hasBias, perChannelZeros: perChannel, &rng)
    }
}

@Suite struct Int8ConvTests {
    @Test func fastMatchesReferenceOnRandomGeometries() {
        var rng = SplitMix64(seed: 0x1A7C_0417)
        var failures: [String] = []
        for _ in 0..<600 {
            let g = randomGeometry(&rng, forceDepthwise: false)
            if let failure = checkRandom(g, &rng) { failures.append(failure) }
        }
        #expect(failures.isEmpty, "\(failures.count) mismatches, first: \(failures.prefix(3))")
    }

    @Test func depthwiseMatchesReferenceOnRandomGeometries() {
        var rng = SplitMix64(seed: 0xDE97_4157)
        var failures: [String] = []
        for _ in 0..<200 {
            let g = randomGeometry(&rng, forceDepthwise: true)
            if let failure = checkRandom(g, &rng) { failures.append(failure) }
        }
        #expect(failures.isEmpty, "\(failures.count) mismatches, first: \(failures.prefix(3))")
    }

    @Test func largerShapesMatchReference() {
        // Several im2col pixel blocks, odd depth, partial tiles, the benchmark-like shapes (reduced).
        var rng = SplitMix64(seed: 77)
        let shapes: [Conv2DGeometry] = [
            Conv2DGeometry(batch: 1, inChannels: 16, inHeight: 24, inWidth: 23, outChannels: 13, outHeight: 24, outWidth: 23,
                           kernelHeight: 1, kernelWidth: 1, strideHeight: 1, strideWidth: 1, dilationHeight: 1, dilationWidth: 1,
                           padTop: 0, padLeft: 0, groups: 1),
            Conv2DGeometry(batch: 2, inChannels: 3, inHeight: 33, inWidth: 31, outChannels: 16, outHeight: 17, outWidth: 16,
                           kernelHeight: 3, kernelWidth: 3, strideHeight: 2, strideWidth: 2, dilationHeight: 1, dilationWidth: 1,
                           padTop: 1, padLeft: 1, groups: 1),
            Conv2DGeometry(batch: 1, inChannels: 24, inHeight: 20, inWidth: 19, outChannels: 24, outHeight: 10, outWidth: 10,
                           kernelHeight: 3, kernelWidth: 3, strideHeight: 2, strideWidth: 2, dilationHeight: 1, dilationWidth: 1,
                           padTop: 1, padLeft: 1, groups: 24),
            Conv2DGeometry(batch: 1, inChannels: 64, inHeight: 30, inWidth: 30, outChannels: 9, outHeight: 28, outWidth: 28,
                           kernelHeight: 3, kernelWidth: 3, strideHeight: 1, strideWidth: 1, dilationHeight: 1, dilationWidth: 1,
                           padTop: 0, padLeft: 0, groups: 1),
            // The patches model's shapes (4x16 tile, 16-pixel panels): stem (one-row panels with left
            // padding), pointwise with an odd channel count, depthwise stride 1 (vector plane fill) and 2.
            Conv2DGeometry(batch: 1, inChannels: 3, inHeight: 96, inWidth: 96, outChannels: 16, outHeight: 48, outWidth: 48,
                           kernelHeight: 3, kernelWidth: 3, strideHeight: 2, strideWidth: 2, dilationHeight: 1, dilationWidth: 1,
                           padTop: 1, padLeft: 1, groups: 1),
            Conv2DGeometry(batch: 1, inChannels: 33, inHeight: 12, inWidth: 12, outChannels: 20, outHeight: 12, outWidth: 12,
                           kernelHeight: 1, kernelWidth: 1, strideHeight: 1, strideWidth: 1, dilationHeight: 1, dilationWidth: 1,
                           padTop: 0, padLeft: 0, groups: 1),
            Conv2DGeometry(batch: 1, inChannels: 8, inHeight: 24, inWidth: 40, outChannels: 8, outHeight: 24, outWidth: 40,
                           kernelHeight: 3, kernelWidth: 3, strideHeight: 1, strideWidth: 1, dilationHeight: 1, dilationWidth: 1,
                           padTop: 1, padLeft: 1, groups: 8),
            Conv2DGeometry(batch: 1, inChannels: 8, inHeight: 48, inWidth: 48, outChannels: 8, outHeight: 24, outWidth: 24,
                           kernelHeight: 3, kernelWidth: 3, strideHeight: 2, strideWidth: 2, dilationHeight: 1, dilationWidth: 1,
                           padTop: 1, padLeft: 1, groups: 8),
        ]
        for g in shapes {
            let failure = checkRandom(g, &rng)
            #expect(failure == nil, "\(failure ?? "")")
        }
    }

    /// 3x3 depthwise, the VNNI kernel's special case: taps in registers, output rows in pairs when the
    /// vertical stride equals the dilation (odd and even heights, so the single-row tail runs too),
    /// rows shorter and longer than 16 pixels (whole-vector stores spilling into the next row, masked
    /// ones at the tensor's end), channel multipliers 1 and 2, batches 1 and 2, every element type.
    @Test func depthwise3x3RowPairsMatchReference() {
        var rng = SplitMix64(seed: 0x3_3D3)
        var failures: [String] = []
        for (strideHeight, strideWidth, dilationHeight, dilationWidth) in [(1, 1, 1, 1), (2, 2, 1, 1), (2, 2, 2, 2), (1, 2, 1, 1),
                                                                           (2, 1, 1, 2), (1, 1, 2, 1)] {
            for inHeight in [1, 2, 3, 4, 5, 7, 8] {
                for inWidth in [1, 5, 12, 16, 17, 24, 33] {
                    let pad = rng.int(0, 2)
                    let outHeight = int8OutputSize(inHeight, kernel: 3, stride: strideHeight, dilation: dilationHeight, padBefore: pad, padAfter: pad)
                    let outWidth = int8OutputSize(inWidth, kernel: 3, stride: strideWidth, dilation: dilationWidth, padBefore: pad, padAfter: pad)
                    if outHeight == 0 || outWidth == 0 { continue }
                    let channels = rng.int(2, 5)
                    let g = Conv2DGeometry(batch: rng.int(1, 2), inChannels: channels, inHeight: inHeight, inWidth: inWidth,
                                           outChannels: channels * rng.int(1, 2), outHeight: outHeight, outWidth: outWidth,
                                           kernelHeight: 3, kernelWidth: 3, strideHeight: strideHeight, strideWidth: strideWidth,
                                           dilationHeight: dilationHeight, dilationWidth: dilationWidth,
                                           padTop: pad, padLeft: pad, groups: channels)
                    if let failure = checkRandom(g, &rng) { failures.append(failure) }
                }
            }
        }
        #expect(failures.isEmpty, "\(failures.count) mismatches, first: \(failures.prefix(3))")
    }

    /// Depthwise vector plane fills — stride 2 (phase split) and stride 1: input widths around the 8-
    /// and 16-position chunk thresholds, pads 0–2 and both parities, so chunks end on even and odd
    /// bytes and the last chunk overlaps; signed and unsigned inputs, kernel widths 1, 3, 4.
    @Test func depthwiseVectorPlaneFillsMatchReference() {
        var rng = SplitMix64(seed: 0x5721_D2)
        var failures: [String] = []
        for inWidth in [1, 2, 7, 14, 15, 16, 17, 18, 23, 24, 30, 31, 32, 33, 34, 47, 48, 49, 64, 65, 97] {
          for strideWidth in [2, 1] {
            for padLeft in 0...2 {
                for kernelWidth in [1, 3, 4] {
                    let padRight = rng.int(0, 2)
                    let outWidth = int8OutputSize(inWidth, kernel: kernelWidth, stride: strideWidth, dilation: 1,
                                                  padBefore: padLeft, padAfter: padRight)
                    if outWidth == 0 { continue }
                    let channels = rng.int(2, 4)
                    let inHeight = rng.int(1, 5)
                    let g = Conv2DGeometry(batch: 1, inChannels: channels, inHeight: inHeight, inWidth: inWidth,
                                           outChannels: channels, outHeight: int8OutputSize(inHeight, kernel: 3, stride: 2,
                                               dilation: 1, padBefore: 1, padAfter: 1), outWidth: outWidth,
                                           kernelHeight: 3, kernelWidth: kernelWidth, strideHeight: 2, strideWidth: strideWidth,
                                           dilationHeight: 1, dilationWidth: 1, padTop: 1, padLeft: padLeft, groups: channels)
                    let hasBias = rng.bool(), perChannel = rng.bool()
                    if let failure = checkConv(g, UInt8.self, Int8.self, UInt8.self, hasBias: hasBias,
                                               perChannelZeros: perChannel, &rng) { failures.append(failure) }
                    if let failure = checkConv(g, Int8.self, Int8.self, Int8.self, hasBias: hasBias,
                                               perChannelZeros: perChannel, &rng) { failures.append(failure) }
                }
            }
          }
        }
        #expect(failures.isEmpty, "\(failures.count) mismatches, first: \(failures.prefix(3))")
    }

    /// A 2x2 convolution over a 3x3 UInt8 image, worked by hand.
    @Test func handComputedTwoByTwo() {
        // x (zero point 10) − 10:  [[0, 1, 2], [3, 4, 5], [6, 7, 8]] stored as +10.
        let input: [UInt8] = [10, 11, 12, 13, 14, 15, 16, 17, 18]
        // w (zero point 0): [[1, -1], [2, 0]]
        let weights: [Int8] = [1, -1, 2, 0]
        let g = Conv2DGeometry(batch: 1, inChannels: 1, inHeight: 3, inWidth: 3, outChannels: 1, outHeight: 2, outWidth: 2,
                               kernelHeight: 2, kernelWidth: 2, strideHeight: 1, strideWidth: 1, dilationHeight: 1,
                               dilationWidth: 1, padTop: 0, padLeft: 0, groups: 1)
        // Accumulators: (0·1 − 1 + 3·2) = 5, (1 − 2 + 4·2) = 7, (3 − 4 + 6·2) = 11, (4 − 5 + 7·2) = 13; bias 1 → 6, 8, 12, 14.
        // Multiplier 0.25 → 1.5, 2, 3, 3.5 → nearbyint 2, 2, 3, 4 (ties to even); + zero point 100.
        let requantization = Requantization(multipliers: [0.25], zeroPoint: 100, lower: 0, upper: 255, qmin: 0, qmax: 255,
                                            countLow: true, countHigh: true)
        let expected: [UInt8] = [102, 102, 103, 104]
        let packed = Conv2DInt8.PackedWeights(weights: weights, zeroPoints: [0], geometry: g)
        var scratch = [UInt8](repeating: 0, count: Conv2DInt8.scratchByteCount(geometry: g))
        var fast = [UInt8](repeating: 0, count: 4), reference = [UInt8](repeating: 0, count: 4)
        var raw = [Int32](repeating: 0, count: 4)
        var counts = SaturationCounts(), referenceCounts = SaturationCounts()
        let bias: [Int32] = [1]
        let zeros: [Int32] = [0]
        Conv2DInt8.reference(input: input, inputZero: 10, weights: weights, weightZeros: zeros, weightZeroCount: 1, bias: bias,
                             output: &reference, geometry: g, requantization: requantization, counts: &referenceCounts)
        scratch.withUnsafeMutableBytes { scratch in
            Conv2DInt8.run(input: input, inputZero: 10, packed: packed, bias: bias, output: &fast, geometry: g,
                           requantization: requantization, counts: &counts, scratch: scratch.baseAddress!)
            Conv2DInt8.runInt32(input: input, inputZero: 10, packed: packed, output: &raw, geometry: g, scratch: scratch.baseAddress!)
        }
        #expect(raw == [5, 7, 11, 13])
        #expect(reference == expected)
        #expect(fast == expected)
        #expect(counts == SaturationCounts(low: 0, high: 0, total: 4))
        #expect(referenceCounts == counts)
    }

    /// Padding taps read the input zero point (real 0): a 1-channel 3x3 conv of a constant image.
    @Test func paddingReadsZeroPoint() {
        let g = Conv2DGeometry(batch: 1, inChannels: 1, inHeight: 2, inWidth: 2, outChannels: 1, outHeight: 2, outWidth: 2,
                               kernelHeight: 3, kernelWidth: 3, strideHeight: 1, strideWidth: 1, dilationHeight: 1,
                               dilationWidth: 1, padTop: 1, padLeft: 1, groups: 1)
        let input: [Int8] = [-3, -3, -3, -3]       // zero point −5: real value 2 (× scale)
        let weights: [Int8] = [Int8](repeating: 1, count: 9)
        let packed = Conv2DInt8.PackedWeights(weights: weights, zeroPoints: [0], geometry: g)
        var scratch = [UInt8](repeating: 0, count: Conv2DInt8.scratchByteCount(geometry: g))
        var raw = [Int32](repeating: 0, count: 4)
        scratch.withUnsafeMutableBytes { scratch in
            Conv2DInt8.runInt32(input: input, inputZero: -5, packed: packed, output: &raw, geometry: g, scratch: scratch.baseAddress!)
        }
        // Every output window covers all four input pixels: 4 · 2 = 8.
        #expect(raw == [8, 8, 8, 8])
    }

    /// Saturation on most rows (an output zero point at the range edge and no fused activation, as
    /// after an unfused ReLU): the per-lane tallies, full and partial 16-pixel rows, both ends.
    @Test func heavySaturationOnEveryRowCountsExactly() {
        var rng = SplitMix64(seed: 0x5A7_0E06E)
        let shapes: [Conv2DGeometry] = [
            Conv2DGeometry(batch: 1, inChannels: 12, inHeight: 7, inWidth: 23, outChannels: 9, outHeight: 7, outWidth: 23,
                           kernelHeight: 1, kernelWidth: 1, strideHeight: 1, strideWidth: 1, dilationHeight: 1, dilationWidth: 1,
                           padTop: 0, padLeft: 0, groups: 1),
            Conv2DGeometry(batch: 1, inChannels: 5, inHeight: 9, inWidth: 23, outChannels: 5, outHeight: 9, outWidth: 23,
                           kernelHeight: 3, kernelWidth: 3, strideHeight: 1, strideWidth: 1, dilationHeight: 1, dilationWidth: 1,
                           padTop: 1, padLeft: 1, groups: 5),
            Conv2DGeometry(batch: 1, inChannels: 4, inHeight: 10, inWidth: 45, outChannels: 4, outHeight: 5, outWidth: 23,
                           kernelHeight: 3, kernelWidth: 3, strideHeight: 2, strideWidth: 2, dilationHeight: 1, dilationWidth: 1,
                           padTop: 1, padLeft: 1, groups: 4),
        ]
        func check<Y: QuantizedScalar>(_ g: Conv2DGeometry, _: Y.Type, zeroPoint: Int32, gain: Float = 1) {
            let depth = (g.inChannels / g.groups) * g.kernelHeight * g.kernelWidth
            let input = randomQuantized(UInt8.self, g.inChannels * g.inHeight * g.inWidth, &rng)
            let weights = randomQuantized(Int8.self, g.outChannels * depth, &rng)
            let bias: [Int32] = (0..<g.outChannels).map { _ in Int32(rng.int(-3000, 3000)) }
            let r = Requantization.make(Y.self, multipliers: [gain / Float(depth * 40)], zeroPoint: zeroPoint,
                                        outputScale: 1, activation: .none)
            let outputCount = g.outChannels * g.outHeight * g.outWidth
            var reference = [Y](repeating: 0, count: outputCount), fast = [Y](repeating: 1, count: outputCount)
            var referenceCounts = SaturationCounts(), fastCounts = SaturationCounts()
            let packed = Conv2DInt8.PackedWeights(weights: weights, zeroPoints: [0], geometry: g)
            var scratch = [UInt8](repeating: 0xA7, count: Conv2DInt8.scratchByteCount(geometry: g))
            let zero: [Int32] = [0]
            Conv2DInt8.reference(input: input, inputZero: 128, weights: weights, weightZeros: zero, weightZeroCount: 1,
                                 bias: bias, output: &reference, geometry: g, requantization: r, counts: &referenceCounts)
            scratch.withUnsafeMutableBytes { scratch in
                Conv2DInt8.run(input: input, inputZero: 128, packed: packed, bias: bias, output: &fast, geometry: g,
                               requantization: r, counts: &fastCounts, scratch: scratch.baseAddress!)
            }
            #expect(fast == reference, "\(g) \(Y.self) zp \(zeroPoint)")
            #expect(fastCounts == referenceCounts, "\(g) \(Y.self) zp \(zeroPoint)")
            #expect(referenceCounts.low > outputCount / 8 || referenceCounts.high > outputCount / 8,
                    "\(g) \(Y.self) zp \(zeroPoint): \(referenceCounts)")
        }
        for g in shapes {
            check(g, UInt8.self, zeroPoint: 0)
            check(g, UInt8.self, zeroPoint: 255)
            check(g, UInt8.self, zeroPoint: 128, gain: 16)
            check(g, Int8.self, zeroPoint: -128)
            check(g, Int8.self, zeroPoint: 0, gain: 16)
        }
    }

    /// Saturation: counted against qmin/qmax, the fused ReLU floor is not counted.
    @Test func saturationCountsAndReluFloor() {
        let g = Conv2DGeometry(batch: 1, inChannels: 1, inHeight: 1, inWidth: 4, outChannels: 1, outHeight: 1, outWidth: 4,
                               kernelHeight: 1, kernelWidth: 1, strideHeight: 1, strideWidth: 1, dilationHeight: 1,
                               dilationWidth: 1, padTop: 0, padLeft: 0, groups: 1)
        let input: [UInt8] = [0, 100, 200, 255]    // zero point 100 → −100, 0, 100, 155
        let weights: [Int8] = [2]
        let packed = Conv2DInt8.PackedWeights(weights: weights, zeroPoints: [0], geometry: g)
        var scratch = [UInt8](repeating: 0, count: Conv2DInt8.scratchByteCount(geometry: g))
        // acc −200, 0, 200, 310; multiplier 1, zp 0 into Int8: −200 low, 0, 200 high, 310 high.
        let plain = Requantization.make(Int8.self, multipliers: [1], zeroPoint: 0, outputScale: 1, activation: .none)
        let relu = Requantization.make(Int8.self, multipliers: [1], zeroPoint: 0, outputScale: 1, activation: FloatClamp(lower: 0))
        let relu6 = Requantization.make(Int8.self, multipliers: [1], zeroPoint: 0, outputScale: 1, activation: FloatClamp(lower: 0, upper: 6))
        #expect(!relu.countLow && relu.countHigh && relu.lower == 0 && relu.upper == 127)
        #expect(!relu6.countLow && !relu6.countHigh && relu6.lower == 0 && relu6.upper == 6)
        for (r, expected, expectedCounts) in [
            (plain, [Int8](arrayLiteral: -128, 0, 127, 127), SaturationCounts(low: 1, high: 2, total: 4)),
            (relu, [0, 0, 127, 127], SaturationCounts(low: 0, high: 2, total: 4)),
            (relu6, [0, 0, 6, 6], SaturationCounts(low: 0, high: 0, total: 4)),
        ] {
            var output = [Int8](repeating: 0, count: 4)
            var counts = SaturationCounts()
            scratch.withUnsafeMutableBytes { scratch in
                Conv2DInt8.run(input: input, inputZero: 100, packed: packed, bias: nil, output: &output, geometry: g,
                               requantization: r, counts: &counts, scratch: scratch.baseAddress!)
            }
            #expect(output == expected)
            #expect(counts == expectedCounts)
        }
    }
}

@Suite struct Int8ConvAccelerationTests {
    /// The random tests above compare every variant in `int8ConvAccelerations`; this checks that a
    /// requested VNNI variant is really the one packed (so those comparisons exercise it).
    @Test func requestedVariantIsPackedWhenTheCPURunsIt() {
        let g = Conv2DGeometry(batch: 1, inChannels: 5, inHeight: 6, inWidth: 7, outChannels: 6, outHeight: 6, outWidth: 7,
                               kernelHeight: 3, kernelWidth: 3, strideHeight: 1, strideWidth: 1, dilationHeight: 1, dilationWidth: 1,
                               padTop: 1, padLeft: 1, groups: 1)
        let weights = [Int8](repeating: -3, count: 6 * 5 * 9)
        #expect(Conv2DInt8.PackedWeights(weights: weights, zeroPoints: [0], geometry: g, acceleration: .portable).vnniVariant == 0)
        for variant: Int32 in [1, 2] {
            let packed = Conv2DInt8.PackedWeights(weights: weights, zeroPoints: [0], geometry: g, acceleration: .vnni(variant))
            #expect(packed.vnniVariant == (Conv2DInt8.vnniSupport & variant != 0 ? variant : 0))
        }
        // w − wZero outside Int8 (−3 − 127 = −130): the portable kernels.
        #expect(Conv2DInt8.PackedWeights(weights: weights, zeroPoints: [127], geometry: g, acceleration: .automatic).vnniVariant == 0)
        // Depthwise: VNNI when the CPU has it, except where its byte shuffles cannot reach (3·sW + 3·dW > 15).
        var depthwise = g
        depthwise.groups = 5
        depthwise.outChannels = 5
        let taps = [Int8](repeating: 1, count: 45)
        let best: Int32 = Conv2DInt8.vnniSupport & 2 != 0 ? 2 : Conv2DInt8.vnniSupport & 1
        #expect(Conv2DInt8.PackedWeights(weights: taps, zeroPoints: [0], geometry: depthwise).vnniVariant == best)
        depthwise.strideWidth = 5
        depthwise.outWidth = 2
        #expect(Conv2DInt8.PackedWeights(weights: taps, zeroPoints: [0], geometry: depthwise).vnniVariant == 0)
    }
}
