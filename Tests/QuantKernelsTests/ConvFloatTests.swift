import Testing
@testable import QuantKernels
import TestSupport

/// Output size for the given input size and pads (bottom/right pad only enters here).
private func outputSize(_ input: Int, kernel: Int, stride: Int, dilation: Int, padBefore: Int, padAfter: Int) -> Int {
    let span = (kernel - 1) * dilation + 1
    let padded = input + padBefore + padAfter
    return padded < span ? 0 : (padded - span) / stride + 1
}

private func makeGeometry(batch: Int, inChannels: Int, inHeight: Int, inWidth: Int, outChannels: Int,
                          kernelHeight: Int, kernelWidth: Int, stride: (Int, Int), dilation: (Int, Int),
                          pads: (top: Int, left: Int, bottom: Int, right: Int), groups: Int) -> Conv2DGeometry {
    Conv2DGeometry(
        batch: batch, inChannels: inChannels, inHeight: inHeight, inWidth: inWidth, outChannels: outChannels,
        outHeight: outputSize(inHeight, kernel: kernelHeight, stride: stride.0, dilation: dilation.0, padBefore: pads.top, padAfter: pads.bottom),
        outWidth: outputSize(inWidth, kernel: kernelWidth, stride: stride.1, dilation: dilation.1, padBefore: pads.left, padAfter: pads.right),
        kernelHeight: kernelHeight, kernelWidth: kernelWidth, strideHeight: stride.0, strideWidth: stride.1,
        dilationHeight: dilation.0, dilationWidth: dilation.1, padTop: pads.top, padLeft: pads.left, groups: groups)
}

private func describe(_ g: Conv2DGeometry) -> String {
    "N\(g.batch) C\(g.inChannels) \(g.inHeight)x\(g.inWidth) → OC\(g.outChannels) \(g.outHeight)x\(g.outWidth) "
        + "k\(g.kernelHeight)x\(g.kernelWidth) s\(g.strideHeight),\(g.strideWidth) d\(g.dilationHeight),\(g.dilationWidth) "
        + "pad t\(g.padTop) l\(g.padLeft) g\(g.groups) path \(Conv2DFloat.path(g))"
}

/// Runs reference and fast conv on the same random data; returns a failure description or nil.
private func check(_ g: Conv2DGeometry, hasBias: Bool, clamp: FloatClamp, _ rng: inout SplitMix64) -> String? {
    let input = rng.floats(g.batch * g.inChannels * g.inHeight * g.inWidth)
    let weights = rng.floats(g.outChannels * (g.inChannels / g.groups) * g.kernelHeight * g.kernelWidth)
    let bias = rng.floats(g.outChannels)
    let outputCount = g.batch * g.outChannels * g.outHeight * g.outWidth
    var reference = [Float](repeating: .nan, count: outputCount)
    var fast = [Float](repeating: .nan, count: outputCount)
    // NaN-filled scratch: any read of scratch the kernel did not write shows up as a mismatch.
    var scratch = [Float](repeating: .nan, count: max(1, Conv2DFloat.scratchCount(geometry: g)))
    bias.withUnsafeBufferPointer { bias in
        let biasPointer = hasBias ? bias.baseAddress : nil
        Conv2DFloat.reference(input: input, weights: weights, bias: biasPointer, output: &reference, geometry: g, clamp: clamp)
        Conv2DFloat.run(input: input, weights: weights, bias: biasPointer, output: &fast, geometry: g, clamp: clamp, scratch: &scratch)
    }
    if let i = firstMismatch(fast, reference, rtol: 1e-5, atol: 1e-5) {
        return "\(describe(g)) bias \(hasBias): element \(i) fast \(fast[i]) reference \(reference[i])"
    }
    return nil
}

@Test func convReferenceHandComputed() {
    // 1x1x3x3 input 1...9, one 2x2 filter [[1, 0], [0, -1]], stride 1, pad 0 → in[y][x] - in[y+1][x+1] = -4 everywhere.
    let input: [Float] = [1, 2, 3, 4, 5, 6, 7, 8, 9]
    let weights: [Float] = [1, 0, 0, -1]
    let bias: [Float] = [0.5]
    var g = Conv2DGeometry(batch: 1, inChannels: 1, inHeight: 3, inWidth: 3, outChannels: 1, outHeight: 2, outWidth: 2,
                           kernelHeight: 2, kernelWidth: 2, strideHeight: 1, strideWidth: 1,
                           dilationHeight: 1, dilationWidth: 1, padTop: 0, padLeft: 0, groups: 1)
    var out = [Float](repeating: .nan, count: 4)
    Conv2DFloat.reference(input: input, weights: weights, bias: bias, output: &out, geometry: g, clamp: .none)
    #expect(out == [-3.5, -3.5, -3.5, -3.5])
    // Same with pad 1 on top/left (bottom/right 0) → 3x3 output; taps outside the image read 0.
    // out[0][0] = 0 - in[0][0] = -1; out[0][1] = -in[0][1] = -2; out[1][0] = -in[1][0] = -4; out[1][1] = 1 - 5 = -4.
    g.padTop = 1; g.padLeft = 1; g.outHeight = 3; g.outWidth = 3
    out = [Float](repeating: .nan, count: 9)
    Conv2DFloat.reference(input: input, weights: weights, bias: nil, output: &out, geometry: g, clamp: FloatClamp(lower: -3.5))
    #expect(out == [-1, -2, -3, -3.5, -3.5, -3.5, -3.5, -3.5, -3.5])
    var fast = [Float](repeating: .nan, count: 9)
    var scratch = [Float](repeating: .nan, count: max(1, Conv2DFloat.scratchCount(geometry: g)))
    Conv2DFloat.run(input: input, weights: weights, bias: nil, output: &fast, geometry: g, clamp: FloatClamp(lower: -3.5), scratch: &scratch)
    #expect(fast == out)
}

@Test func convPathSelection() {
    let pointwise = makeGeometry(batch: 1, inChannels: 8, inHeight: 5, inWidth: 5, outChannels: 4, kernelHeight: 1, kernelWidth: 1,
                                 stride: (1, 1), dilation: (1, 1), pads: (0, 0, 0, 0), groups: 1)
    #expect(Conv2DFloat.path(pointwise) == .pointwise)
    let depthwise = makeGeometry(batch: 1, inChannels: 8, inHeight: 5, inWidth: 5, outChannels: 8, kernelHeight: 3, kernelWidth: 3,
                                 stride: (1, 1), dilation: (1, 1), pads: (1, 1, 1, 1), groups: 8)
    #expect(Conv2DFloat.path(depthwise) == .depthwise)
    #expect(Conv2DFloat.scratchCount(geometry: depthwise) == 0)
    let general = makeGeometry(batch: 1, inChannels: 8, inHeight: 5, inWidth: 5, outChannels: 8, kernelHeight: 1, kernelWidth: 1,
                               stride: (2, 2), dilation: (1, 1), pads: (0, 0, 0, 0), groups: 2)
    #expect(Conv2DFloat.path(general) == .im2col)
}

@Test(arguments: 0..<4)
func convFastMatchesReferenceRandom(seed: Int) {
    var rng = SplitMix64(seed: UInt64(100 + seed))
    var failures: [String] = []
    var tested = 0
    while tested < 120 {
        let kind = rng.int(0, 3)   // 0: dense, 1: grouped, 2: depthwise (maybe with multiplier), 3: 1x1
        var groups = 1, inChannels = rng.int(1, 6), outChannels = rng.int(1, 9)
        var kernelHeight = rng.int(1, 4), kernelWidth = rng.int(1, 4)
        var stride = (rng.int(1, 3), rng.int(1, 3)), dilation = (rng.int(1, 2), rng.int(1, 2))
        var pads = (top: rng.int(0, 2), left: rng.int(0, 2), bottom: rng.int(0, 2), right: rng.int(0, 2))
        switch kind {
        case 1:
            groups = rng.int(2, 3)
            inChannels = groups * rng.int(1, 3)
            outChannels = groups * rng.int(1, 4)
        case 2:
            groups = rng.int(2, 7)
            inChannels = groups
            outChannels = groups * (rng.int(0, 3) == 0 ? 2 : 1)
            if rng.bool() { kernelHeight = 3; kernelWidth = 3 }
        case 3:
            kernelHeight = 1; kernelWidth = 1
            if rng.bool() { stride = (1, 1); pads = (0, 0, 0, 0); dilation = (1, 1) }
            if rng.int(0, 3) == 0 { groups = 2; inChannels = 2 * rng.int(1, 4); outChannels = 2 * rng.int(1, 5) }
        default:
            break
        }
        // Wide inputs sometimes, so the depthwise SIMD interior (8 outputs at a time) is exercised.
        let inHeight = rng.int(1, 12)
        let inWidth = rng.bool() ? rng.int(1, 12) : rng.int(20, 45)
        let g = makeGeometry(batch: rng.int(1, 2), inChannels: inChannels, inHeight: inHeight, inWidth: inWidth,
                             outChannels: outChannels, kernelHeight: kernelHeight, kernelWidth: kernelWidth,
                             stride: stride, dilation: dilation, pads: pads, groups: groups)
        if g.outHeight < 1 || g.outWidth < 1 { continue }
        let clampKind = rng.int(0, 2)
        let clamp = clampKind == 0 ? FloatClamp.none : (clampKind == 1 ? FloatClamp(lower: 0) : FloatClamp(lower: -0.5, upper: 0.5))
        if let failure = check(g, hasBias: rng.bool(), clamp: clamp, &rng) { failures.append(failure) }
        tested += 1
    }
    #expect(failures.isEmpty, "\(failures.count) mismatches, first: \(failures.first ?? "")")
}

@Test func convFastMatchesReferenceMobileNetShapes() {
    var rng = SplitMix64(seed: 7)
    let relu6 = FloatClamp(lower: 0, upper: 6)
    let cases: [Conv2DGeometry] = [
        // stem 3x3 stride 2, pad 1 (asymmetric: ONNX SAME_UPPER style bottom/right only)
        makeGeometry(batch: 1, inChannels: 3, inHeight: 32, inWidth: 32, outChannels: 16, kernelHeight: 3, kernelWidth: 3,
                     stride: (2, 2), dilation: (1, 1), pads: (0, 0, 1, 1), groups: 1),
        // depthwise 3x3 stride 1 and 2, batch 2
        makeGeometry(batch: 2, inChannels: 16, inHeight: 24, inWidth: 24, outChannels: 16, kernelHeight: 3, kernelWidth: 3,
                     stride: (1, 1), dilation: (1, 1), pads: (1, 1, 1, 1), groups: 16),
        makeGeometry(batch: 2, inChannels: 8, inHeight: 25, inWidth: 25, outChannels: 8, kernelHeight: 3, kernelWidth: 3,
                     stride: (2, 2), dilation: (1, 1), pads: (1, 1, 1, 1), groups: 8),
        makeGeometry(batch: 1, inChannels: 4, inHeight: 30, inWidth: 37, outChannels: 4, kernelHeight: 5, kernelWidth: 5,
                     stride: (3, 3), dilation: (2, 2), pads: (2, 3, 1, 0), groups: 4),
        // pointwise, batch 2, more rows than the GEMM row block
        makeGeometry(batch: 2, inChannels: 24, inHeight: 7, inWidth: 9, outChannels: 130, kernelHeight: 1, kernelWidth: 1,
                     stride: (1, 1), dilation: (1, 1), pads: (0, 0, 0, 0), groups: 1),
        // depth 32*3*3 = 288 > kc, pixels 48*48 = 2304 > nc
        makeGeometry(batch: 1, inChannels: 32, inHeight: 48, inWidth: 48, outChannels: 8, kernelHeight: 3, kernelWidth: 3,
                     stride: (1, 1), dilation: (1, 1), pads: (1, 1, 1, 1), groups: 1),
        // 1x1 pointwise with more pixels than nc and input channels > kc
        makeGeometry(batch: 1, inChannels: 300, inHeight: 46, inWidth: 46, outChannels: 7, kernelHeight: 1, kernelWidth: 1,
                     stride: (1, 1), dilation: (1, 1), pads: (0, 0, 0, 0), groups: 1),
    ]
    var failures: [String] = []
    for (index, g) in cases.enumerated() {
        if let failure = check(g, hasBias: index % 3 != 2, clamp: index % 2 == 0 ? relu6 : .none, &rng) { failures.append(failure) }
    }
    #expect(failures.isEmpty, "\(failures.count) mismatches, first: \(failures.first ?? "")")
}
