import Testing
@testable import QuantKernels
import TestSupport

private func geometry(_ n: Int, _ c: Int, _ h: Int, _ w: Int, kernel: (Int, Int), stride: (Int, Int), dilation: (Int, Int) = (1, 1),
                      pads: (Int, Int, Int, Int) = (0, 0, 0, 0), ceilMode: Bool = false) -> Pool2DGeometry {
    func size(_ input: Int, _ k: Int, _ s: Int, _ d: Int, _ before: Int, _ after: Int) -> Int {
        let room = input + before + after - ((k - 1) * d + 1)
        return (ceilMode ? (room + s - 1) / s : room / s) + 1
    }
    return Pool2DGeometry(batch: n, channels: c, inHeight: h, inWidth: w,
                          outHeight: size(h, kernel.0, stride.0, dilation.0, pads.0, pads.2),
                          outWidth: size(w, kernel.1, stride.1, dilation.1, pads.1, pads.3),
                          kernelHeight: kernel.0, kernelWidth: kernel.1, strideHeight: stride.0, strideWidth: stride.1,
                          dilationHeight: dilation.0, dilationWidth: dilation.1,
                          padTop: pads.0, padLeft: pads.1, padBottom: pads.2, padRight: pads.3)
}

private func randomGeometry(_ rng: inout SplitMix64, dilated: Bool) -> Pool2DGeometry {
    let k = (rng.int(1, 4), rng.int(1, 4))
    let s = (rng.int(1, 3), rng.int(1, 3))
    let d = dilated ? (rng.int(1, 2), rng.int(1, 2)) : (1, 1)
    let pads = (rng.int(0, k.0 - 1), rng.int(0, k.1 - 1), rng.int(0, k.0 - 1), rng.int(0, k.1 - 1))
    let h = rng.int((k.0 - 1) * d.0 + 1, 14), w = rng.int((k.1 - 1) * d.1 + 1, 40)
    return geometry(rng.int(1, 2), rng.int(1, 3), h, w, kernel: k, stride: s, dilation: d, pads: pads, ceilMode: rng.bool())
}

private func randomValues<T: QuantizedScalar>(_: T.Type, _ count: Int, _ rng: inout SplitMix64) -> [T] {
    (0..<count).map { _ in T(truncatingIfNeeded: rng.int(Int(T.quantizedMin), Int(T.quantizedMax))) }
}

/// Tap-by-tap MaxPool model.
private func naiveMax<T: QuantizedScalar>(_ x: [T], _ g: Pool2DGeometry) -> [T] {
    var out: [T] = []
    for plane in 0..<(g.batch * g.channels) {
        for oy in 0..<g.outHeight {
            for ox in 0..<g.outWidth {
                var best = T.min
                for fy in 0..<g.kernelHeight {
                    for fx in 0..<g.kernelWidth {
                        let y = oy * g.strideHeight - g.padTop + fy * g.dilationHeight
                        let xx = ox * g.strideWidth - g.padLeft + fx * g.dilationWidth
                        if y >= 0 && y < g.inHeight && xx >= 0 && xx < g.inWidth { best = max(best, x[(plane * g.inHeight + y) * g.inWidth + xx]) }
                    }
                }
                out.append(best)
            }
        }
    }
    return out
}

private func checkMax<T: QuantizedScalar>(_: T.Type, _ g: Pool2DGeometry, _ rng: inout SplitMix64) -> Bool {
    let x = randomValues(T.self, g.batch * g.channels * g.inHeight * g.inWidth, &rng)
    var ref = [T](repeating: 0, count: g.batch * g.channels * g.outHeight * g.outWidth), fast = ref
    PoolInt8.maxReference(input: x, output: &ref, geometry: g)
    PoolInt8.max(input: x, output: &fast, geometry: g)
    return ref == fast && ref == naiveMax(x, g)
}

@Test func maxPoolInt8FastEqualsReference() {
    var rng = SplitMix64(seed: 5)
    var failures = 0
    for trial in 0..<300 {
        let g = randomGeometry(&rng, dilated: true)
        let ok = trial % 2 == 0 ? checkMax(UInt8.self, g, &rng) : checkMax(Int8.self, g, &rng)
        if !ok { failures += 1; Issue.record("\(g)") }
    }
    #expect(failures == 0)
}

@Test func maxPoolInt8HandComputed() {
    // 2x2 stride 2 on 4x4 Int8; padding never wins over negative values.
    let x: [Int8] = [-5, -1, 3, 2,
                     -7, -9, 0, -1,
                     10, 11, -128, -128,
                     12, -3, -128, 127]
    let g = geometry(1, 1, 4, 4, kernel: (2, 2), stride: (2, 2))
    var out = [Int8](repeating: 0, count: 4)
    PoolInt8.max(input: x, output: &out, geometry: g)
    #expect(out == [-1, 3, 12, 127])
    let padded = geometry(1, 1, 4, 4, kernel: (3, 3), stride: (3, 3), pads: (1, 1, 1, 1))
    var out2 = [Int8](repeating: 0, count: padded.outHeight * padded.outWidth)
    PoolInt8.max(input: x, output: &out2, geometry: padded)
    #expect(out2 == [-1, 3, 12, 127])
}

private func checkAverage<T: QuantizedScalar>(_: T.Type, _ g: Pool2DGeometry, includePad: Bool, _ rng: inout SplitMix64) -> Bool {
    let lo = Int(T.quantizedMin), hi = Int(T.quantizedMax)
    let p = AveragePoolInt8Parameters(T.self, xScale: rng.float(0.005, 0.1), xZero: Int32(rng.int(lo, hi)),
                                      yScale: rng.float(0.002, 0.1), yZero: Int32(rng.int(lo, hi)))
    let x = randomValues(T.self, g.batch * g.channels * g.inHeight * g.inWidth, &rng)
    var ref = [T](repeating: 0, count: g.batch * g.channels * g.outHeight * g.outWidth), fast = ref
    var rc = SaturationCounts(), fc = SaturationCounts()
    PoolInt8.averageReference(input: x, output: &ref, geometry: g, countIncludePad: includePad, parameters: p, counts: &rc)
    PoolInt8.average(input: x, output: &fast, geometry: g, countIncludePad: includePad, parameters: p, counts: &fc)
    return ref == fast && rc == fc && rc.total == ref.count
}

@Test func averagePoolInt8FastEqualsReference() {
    var rng = SplitMix64(seed: 6)
    var failures = 0
    for trial in 0..<300 {
        let g = randomGeometry(&rng, dilated: false)
        let ok = trial % 2 == 0 ? checkAverage(UInt8.self, g, includePad: trial % 3 == 0, &rng)
                                : checkAverage(Int8.self, g, includePad: trial % 3 == 0, &rng)
        if !ok { failures += 1; Issue.record("\(g)") }
    }
    #expect(failures == 0)
}

@Test func globalAveragePoolInt8FastEqualsReference() {
    var rng = SplitMix64(seed: 7)
    for trial in 0..<200 {
        let planes = rng.int(0, 21), spatial = rng.int(1, 300)
        func check<T: QuantizedScalar>(_: T.Type) {
            let lo = Int(T.quantizedMin), hi = Int(T.quantizedMax)
            let p = AveragePoolInt8Parameters(T.self, xScale: rng.float(0.005, 0.1), xZero: Int32(rng.int(lo, hi)),
                                              yScale: rng.float(0.001, 0.1), yZero: Int32(rng.int(lo, hi)))
            let x = randomValues(T.self, planes * spatial, &rng)
            var ref = [T](repeating: 0, count: planes), fast = ref
            var rc = SaturationCounts(), fc = SaturationCounts()
            PoolInt8.globalAverageReference(input: x, output: &ref, planes: planes, spatial: spatial, parameters: p, counts: &rc)
            PoolInt8.globalAverage(input: x, output: &fast, planes: planes, spatial: spatial, parameters: p, counts: &fc)
            #expect(ref == fast && rc == fc && rc.total == planes)
        }
        if trial % 2 == 0 { check(UInt8.self) } else { check(Int8.self) }
    }
}

@Test func averagePoolInt8HandComputed() {
    // 2x2 stride 2, scales 1, zero points 0: averages 2.5 → 2 (ties to even), 4.5 → 4, 10.5 → 10, 12.5 → 12.
    let x: [UInt8] = [1, 2, 3, 4,
                      3, 4, 5, 6,
                      9, 10, 11, 12,
                      11, 12, 13, 14]
    let p = AveragePoolInt8Parameters(UInt8.self, xScale: 1, xZero: 0, yScale: 1, yZero: 0)
    var out = [UInt8](repeating: 0, count: 4)
    var counts = SaturationCounts()
    PoolInt8.average(input: x, output: &out, geometry: geometry(1, 1, 4, 4, kernel: (2, 2), stride: (2, 2)),
                     countIncludePad: false, parameters: p, counts: &counts)
    #expect(out == [2, 4, 10, 12] && counts == SaturationCounts(low: 0, high: 0, total: 4))
    // countIncludePad: 3x3 with pad 1 at the corner: 4 in-bounds taps (1+2+3+4 = 10) / 9 → 1.11 → 1.
    var out2 = [UInt8](repeating: 0, count: 4)
    PoolInt8.average(input: x, output: &out2, geometry: geometry(1, 1, 4, 4, kernel: (3, 3), stride: (2, 2), pads: (1, 1, 0, 0)),
                     countIncludePad: true, parameters: p, counts: nil)
    #expect(out2[0] == 1)
    // Global, Int8: Σ(x − (−1)) = 1+2+3+4 = 10 → 10·(0.5/(0.25·4)) = 5 + yZero 120 = 125;
    // second plane 1+2+3+128 = 134 → 67 + 120 = 187 → 127 (high).
    let g = AveragePoolInt8Parameters(Int8.self, xScale: 0.5, xZero: -1, yScale: 0.25, yZero: 120)
    var y = [Int8](repeating: 0, count: 2)
    var gc = SaturationCounts()
    PoolInt8.globalAverage(input: [0, 1, 2, 3, 0, 1, 2, 127] as [Int8], output: &y, planes: 2, spatial: 4, parameters: g, counts: &gc)
    #expect(y == [125, 127] && gc == SaturationCounts(low: 0, high: 1, total: 2))
}

private func checkOrtPool<T: QuantizedScalar>(_ c: OrtPoolCase, _: T.Type) {
    let g = Pool2DGeometry(batch: c.inShape[0], channels: c.inShape[1], inHeight: c.inShape[2], inWidth: c.inShape[3],
                           outHeight: c.outShape[2], outWidth: c.outShape[3], kernelHeight: c.kernel[0], kernelWidth: c.kernel[1],
                           strideHeight: c.strides[0], strideWidth: c.strides[1], dilationHeight: 1, dilationWidth: 1,
                           padTop: c.pads[0], padLeft: c.pads[1], padBottom: c.pads[2], padRight: c.pads[3])
    let p = AveragePoolInt8Parameters(T.self, xScale: c.xScale, xZero: c.xZero, yScale: c.yScale, yZero: c.yZero)
    let x = c.x.map { T(truncatingIfNeeded: $0) }
    var ref = [T](repeating: 0, count: c.expected.count), fast = ref
    PoolInt8.averageReference(input: x, output: &ref, geometry: g, countIncludePad: c.countIncludePad, parameters: p, counts: nil)
    PoolInt8.average(input: x, output: &fast, geometry: g, countIncludePad: c.countIncludePad, parameters: p, counts: nil)
    #expect(ref.map { Int($0) } == c.expected, "\(c.inShape) k\(c.kernel) s\(c.strides) p\(c.pads)")
    #expect(fast == ref)
}

@Test func qlinearAveragePoolMatchesOnnxRuntime() {
    for c in ortAveragePoolCases {
        if c.signed { checkOrtPool(c, Int8.self) } else { checkOrtPool(c, UInt8.self) }
    }
}

private func checkOrtGlobal<T: QuantizedScalar>(_ c: OrtGlobalPoolCase, _: T.Type) {
    let p = AveragePoolInt8Parameters(T.self, xScale: c.xScale, xZero: c.xZero, yScale: c.yScale, yZero: c.yZero)
    let x = c.x.map { T(truncatingIfNeeded: $0) }
    var ref = [T](repeating: 0, count: c.planes), fast = ref
    PoolInt8.globalAverageReference(input: x, output: &ref, planes: c.planes, spatial: c.spatial, parameters: p, counts: nil)
    PoolInt8.globalAverage(input: x, output: &fast, planes: c.planes, spatial: c.spatial, parameters: p, counts: nil)
    #expect(ref.map { Int($0) } == c.expected && fast == ref)
}

@Test func qlinearGlobalAveragePoolMatchesOnnxRuntime() {
    for c in ortGlobalAveragePoolCases {
        if c.signed { checkOrtGlobal(c, Int8.self) } else { checkOrtGlobal(c, UInt8.self) }
    }
}
