import Testing
@testable import QuantKernels
import TestSupport

@Test func dynamicQuantizeLinearMatchesOnnxRuntime() {
    for c in ortDynamicQuantizeCases {
        var fast = [UInt8](repeating: 0, count: c.x.count), ref = fast
        var fc = SaturationCounts(), rc = SaturationCounts()
        let f = DynamicQuantizeLinear.run(input: c.x, output: &fast, count: c.x.count, counts: &fc)
        let r = DynamicQuantizeLinear.reference(input: c.x, output: &ref, count: c.x.count, counts: &rc)
        #expect(f.scale == c.scale && f.zeroPoint == c.zeroPoint, "\(c.x.count)")
        #expect(r.scale == f.scale && r.zeroPoint == f.zeroPoint)
        #expect(fast.map { Int($0) } == c.expected && ref == fast && rc == fc && fc.total == c.x.count)
    }
}

@Test func dynamicQuantizeLinearHandComputed() {
    // Range [−1, 2] (includes 0): scale 3/255, zp = nearbyint(1/(3/255)) = 85; 2 → 255, −1 → 0, 0 → 85.
    var y = [UInt8](repeating: 0, count: 3)
    let p = DynamicQuantizeLinear.run(input: [2, -1, 0], output: &y, count: 3, counts: nil)
    #expect(p.scale == Float(3) / 255 && p.zeroPoint == 85 && y == [255, 0, 85])
    // All zeros: scale 1, zp 0.
    var z = [UInt8](repeating: 9, count: 2)
    let q = DynamicQuantizeLinear.run(input: [0, 0], output: &z, count: 2, counts: nil)
    #expect(q.scale == 1 && q.zeroPoint == 0 && z == [0, 0])
}

@Test func dynamicQuantizeLinearFastEqualsReference() {
    var rng = SplitMix64(seed: 31)
    for _ in 0..<100 {
        let n = rng.int(0, 200)
        let lo = rng.float(-10, 1), hi = rng.float(-1, 10)
        let x = rng.floats(n, Swift.min(lo, hi), Swift.max(lo, hi) + 0.001)
        var fast = [UInt8](repeating: 0, count: n), ref = fast
        var fc = SaturationCounts(), rc = SaturationCounts()
        let f = DynamicQuantizeLinear.run(input: x, output: &fast, count: n, counts: &fc)
        let r = DynamicQuantizeLinear.reference(input: x, output: &ref, count: n, counts: &rc)
        #expect(f == r && fast == ref && fc == rc)
    }
}
