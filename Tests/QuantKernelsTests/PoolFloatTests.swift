import Testing
@testable import QuantKernels
import TestSupport

private func geometry(_ inHeight: Int, _ inWidth: Int, kernel: (Int, Int), stride: (Int, Int), dilation: (Int, Int) = (1, 1),
                      pads: (Int, Int, Int, Int) = (0, 0, 0, 0), ceilMode: Bool = false,
                      batch: Int = 1, channels: Int = 1) -> Pool2DGeometry {
    func size(_ input: Int, _ k: Int, _ s: Int, _ d: Int, _ before: Int, _ after: Int) -> Int {
        let span = (k - 1) * d + 1
        let room = input + before + after - span
        return (ceilMode ? (room + s - 1) / s : room / s) + 1
    }
    return Pool2DGeometry(batch: batch, channels: channels, inHeight: inHeight, inWidth: inWidth,
                          outHeight: size(inHeight, kernel.0, stride.0, dilation.0, pads.0, pads.2),
                          outWidth: size(inWidth, kernel.1, stride.1, dilation.1, pads.1, pads.3),
                          kernelHeight: kernel.0, kernelWidth: kernel.1, strideHeight: stride.0, strideWidth: stride.1,
                          dilationHeight: dilation.0, dilationWidth: dilation.1,
                          padTop: pads.0, padLeft: pads.1, padBottom: pads.2, padRight: pads.3)
}

/// Tap-by-tap model of the contract (independent of the kernel's clipped ranges).
private func naivePool(_ input: [Float], _ g: Pool2DGeometry, average: Bool, countIncludePad: Bool) -> [Float] {
    var output: [Float] = []
    for plane in 0..<(g.batch * g.channels) {
        for outY in 0..<g.outHeight {
            for outX in 0..<g.outWidth {
                var best = -Float.infinity, sum: Float = 0, inBounds = 0, inPadded = 0
                for filterY in 0..<g.kernelHeight {
                    for filterX in 0..<g.kernelWidth {
                        let y = outY * g.strideHeight - g.padTop + filterY * g.dilationHeight
                        let x = outX * g.strideWidth - g.padLeft + filterX * g.dilationWidth
                        if y >= -g.padTop && y < g.inHeight + g.padBottom && x >= -g.padLeft && x < g.inWidth + g.padRight {
                            inPadded += 1
                        }
                        if y < 0 || y >= g.inHeight || x < 0 || x >= g.inWidth { continue }
                        let value = input[(plane * g.inHeight + y) * g.inWidth + x]
                        best = max(best, value)
                        sum += value
                        inBounds += 1
                    }
                }
                if average {
                    let count = countIncludePad ? inPadded : inBounds
                    output.append(count > 0 ? sum / Float(count) : 0)
                } else {
                    output.append(best)
                }
            }
        }
    }
    return output
}

private let fourByFour: [Float] = [
    1, 2, 3, 4,
    5, 6, 7, 8,
    9, 10, 11, 12,
    13, 14, 15, 16,
]

@Test func maxPoolHandComputed() {
    let g = geometry(4, 4, kernel: (2, 2), stride: (2, 2))
    var out = [Float](repeating: .nan, count: 4)
    Pool2DFloat.max(input: fourByFour, output: &out, geometry: g)
    #expect(out == [6, 8, 14, 16])
    // 3x3 stride 2 pad 1 on all sides: windows centred on (0,0), (0,2), (2,0), (2,2); negatives never lose to padding.
    let negative = fourByFour.map { -$0 }
    let padded = geometry(4, 4, kernel: (3, 3), stride: (2, 2), pads: (1, 1, 1, 1))
    #expect(padded.outHeight == 2 && padded.outWidth == 2)
    Pool2DFloat.max(input: negative, output: &out, geometry: padded)
    #expect(out == [-1, -2, -5, -6])
}

@Test func averagePoolHandComputed() {
    var out = [Float](repeating: .nan, count: 4)
    Pool2DFloat.average(input: fourByFour, output: &out, geometry: geometry(4, 4, kernel: (2, 2), stride: (2, 2)), countIncludePad: false)
    #expect(out == [3.5, 5.5, 11.5, 13.5])
    // 2x2 stride 2, pad 1 everywhere → 3x3 output. Corner window (0,0) covers only in[0][0] = 1.
    let g = geometry(4, 4, kernel: (2, 2), stride: (2, 2), pads: (1, 1, 1, 1))
    #expect(g.outHeight == 3 && g.outWidth == 3)
    out = [Float](repeating: .nan, count: 9)
    Pool2DFloat.average(input: fourByFour, output: &out, geometry: g, countIncludePad: false)
    #expect(out == [1, 2.5, 4, 7, 8.5, 10, 13, 14.5, 16])
    Pool2DFloat.average(input: fourByFour, output: &out, geometry: g, countIncludePad: true)
    #expect(out == [0.25, 1.25, 1, 3.5, 8.5, 5, 3.25, 7.25, 4])
    // ceil_mode overhang: 3x3 input, 2x2 stride 2, no pad, ceil → 2x2 output; the overhang is never counted.
    let nine: [Float] = [1, 2, 3, 4, 5, 6, 7, 8, 9]
    let ceil = geometry(3, 3, kernel: (2, 2), stride: (2, 2), ceilMode: true)
    #expect(ceil.outHeight == 2 && ceil.outWidth == 2)
    out = [Float](repeating: .nan, count: 4)
    Pool2DFloat.average(input: nine, output: &out, geometry: ceil, countIncludePad: true)
    #expect(out == [3, 4.5, 7.5, 9])
    Pool2DFloat.max(input: nine, output: &out, geometry: ceil)
    #expect(out == [5, 6, 8, 9])
}

@Test func poolMatchesNaiveModelRandom() {
    var rng = SplitMix64(seed: 2024)
    var failures: [String] = []
    var tested = 0
    while tested < 300 {
        let kernel = (rng.int(1, 4), rng.int(1, 4))
        let pads = (rng.int(0, 2), rng.int(0, 2), rng.int(0, 2), rng.int(0, 2))
        // ONNX requires pad < kernel; keep that so every non-overhang window has a tap.
        if pads.0 >= kernel.0 || pads.2 >= kernel.0 || pads.1 >= kernel.1 || pads.3 >= kernel.1 { continue }
        let g = geometry(rng.int(1, 11), rng.int(1, 11), kernel: kernel, stride: (rng.int(1, 3), rng.int(1, 3)),
                         dilation: (rng.int(1, 2), rng.int(1, 2)), pads: pads, ceilMode: rng.bool(),
                         batch: rng.int(1, 2), channels: rng.int(1, 3))
        if g.outHeight < 1 || g.outWidth < 1 { continue }
        tested += 1
        let input = rng.floats(g.batch * g.channels * g.inHeight * g.inWidth)
        let count = g.batch * g.channels * g.outHeight * g.outWidth
        var out = [Float](repeating: .nan, count: count)
        Pool2DFloat.max(input: input, output: &out, geometry: g)
        if let i = firstMismatch(out, naivePool(input, g, average: false, countIncludePad: false), rtol: 1e-5, atol: 1e-5) {
            failures.append("max \(g) at \(i)")
        }
        for include in [false, true] {
            out = [Float](repeating: .nan, count: count)
            Pool2DFloat.average(input: input, output: &out, geometry: g, countIncludePad: include)
            if let i = firstMismatch(out, naivePool(input, g, average: true, countIncludePad: include), rtol: 1e-5, atol: 1e-5) {
                failures.append("average include=\(include) \(g) at \(i)")
            }
        }
    }
    #expect(failures.isEmpty, "\(failures.count) mismatches, first: \(failures.first ?? "")")
}

@Test func globalPoolsMatchNaive() {
    var rng = SplitMix64(seed: 5)
    for spatial in [0, 1, 7, 8, 9, 16, 49, 100] {
        let planes = 3
        let input = rng.floats(planes * spatial)
        var average = [Float](repeating: .nan, count: planes)
        var maximum = [Float](repeating: .nan, count: planes)
        Pool2DFloat.globalAverage(input: input, output: &average, planes: planes, spatial: spatial)
        Pool2DFloat.globalMax(input: input, output: &maximum, planes: planes, spatial: spatial)
        for plane in 0..<planes {
            let values = input[(plane * spatial)..<((plane + 1) * spatial)]
            let expectedAverage = spatial == 0 ? 0 : values.reduce(0, +) / Float(spatial)
            let expectedMax = values.max() ?? -Float.infinity
            #expect(abs(average[plane] - expectedAverage) <= 1e-5 + 1e-5 * abs(expectedAverage), "spatial \(spatial)")
            #expect(maximum[plane] == expectedMax, "spatial \(spatial)")
        }
    }
    var out: [Float] = [0]
    Pool2DFloat.globalAverage(input: fourByFour, output: &out, planes: 1, spatial: 16)
    #expect(out == [8.5])
    Pool2DFloat.globalMax(input: fourByFour, output: &out, planes: 1, spatial: 16)
    #expect(out == [16])
}
