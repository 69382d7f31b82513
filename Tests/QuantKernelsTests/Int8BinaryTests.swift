import Testing
@testable import QuantKernels
import TestSupport

private func quantized<T: QuantizedScalar>(_ values: [Int], _: T.Type) -> [T] { values.map { T(truncatingIfNeeded: $0) } }
private func ints<T: QuantizedScalar>(_ values: [T]) -> [Int] { values.map { Int($0) } }

/// Runs reference and fast path; returns (reference output, fast output, reference counts, fast counts).
private func runBoth<T: QuantizedScalar>(_ a: [T], _ b: [T], _ plan: BroadcastPlan, _ p: QLinearBinaryParameters)
    -> ([T], [T], SaturationCounts, SaturationCounts) {
    var ref = [T](repeating: 0, count: plan.outputCount), fast = ref
    var refCounts = SaturationCounts(), fastCounts = SaturationCounts()
    BinaryInt8.reference(lhs: a, rhs: b, output: &ref, plan: plan, parameters: p, counts: &refCounts)
    if p.op == .add {
        BinaryInt8.add(lhs: a, rhs: b, output: &fast, plan: plan, parameters: p, counts: &fastCounts)
    } else {
        BinaryInt8.mul(lhs: a, rhs: b, output: &fast, plan: plan, parameters: p, counts: &fastCounts)
    }
    return (ref, fast, refCounts, fastCounts)
}

private func checkOrt<T: QuantizedScalar>(_ c: OrtBinaryCase, _: T.Type) {
    let p = QLinearBinaryParameters(c.op, T.self, aScale: c.aScale, aZero: c.aZero, bScale: c.bScale, bZero: c.bZero,
                                    outputScale: c.cScale, outputZero: c.cZero)
    let plan = BroadcastPlan(output: c.outShape, lhs: c.aShape, rhs: c.bShape)
    let (ref, fast, rc, fc) = runBoth(quantized(c.a, T.self), quantized(c.b, T.self), plan, p)
    #expect(ints(ref) == c.expected, "reference \(c.op) \(c.aShape) \(c.bShape)")
    #expect(ints(fast) == c.expected, "fast \(c.op) \(c.aShape) \(c.bShape)")
    #expect(rc == fc && rc.total == c.expected.count)
}

@Test func qlinearBinaryMatchesOnnxRuntime() {
    for c in ortBinaryCases {
        if c.signed { checkOrt(c, Int8.self) } else { checkOrt(c, UInt8.self) }
    }
}

@Test func qlinearAddHandComputed() {
    // Scales 1, zero points 0: plain saturating addition. 100 + 200 = 300 → 255 (high), 3 + 4 = 7.
    let p = QLinearBinaryParameters(.add, UInt8.self, aScale: 1, aZero: 0, bScale: 1, bZero: 0, outputScale: 1, outputZero: 0)
    let plan = BroadcastPlan(output: [3], lhs: [3], rhs: [3])
    let (ref, fast, rc, fc) = runBoth([100, 3, 0] as [UInt8], [200, 4, 0], plan, p)
    #expect(ref == [255, 7, 0] && fast == ref)
    #expect(rc == SaturationCounts(low: 0, high: 1, total: 3) && fc == rc)
    // Int8, aScale 0.5 bScale 0.25 cScale 0.5, zeros (1, −2, 3): a=5 → 0.5·4 = 2; b=6 → 0.25·8 = 2; c = 4/0.5 + 3 = 11.
    let q = QLinearBinaryParameters(.add, Int8.self, aScale: 0.5, aZero: 1, bScale: 0.25, bZero: -2, outputScale: 0.5, outputZero: 3)
    let (r2, f2, c2, _) = runBoth([5, -128] as [Int8], [6, -128], BroadcastPlan(output: [2], lhs: [2], rhs: [2]), q)
    // −128: 0.5·(−129) + 0.25·(−126) = −64.5 − 31.5 = −96 → −192 + 3 = −189 → −128 (low).
    #expect(r2 == [11, -128] && f2 == r2 && c2 == SaturationCounts(low: 1, high: 0, total: 2))
}

@Test func qlinearMulHandComputed() {
    // (a − 2)(b − 1) · (0.5·0.5 / 0.25) + 10: a=5,b=4 → 9 + 10 = 19; a=2 → 10; a=200,b=3 → 396 + 10 → 255 high.
    let p = QLinearBinaryParameters(.mul, UInt8.self, aScale: 0.5, aZero: 2, bScale: 0.5, bZero: 1, outputScale: 0.25, outputZero: 10)
    let (ref, fast, rc, fc) = runBoth([5, 2, 200] as [UInt8], [4, 77, 3], BroadcastPlan(output: [3], lhs: [3], rhs: [3]), p)
    #expect(ref == [19, 10, 255] && fast == ref && rc == SaturationCounts(low: 0, high: 1, total: 3) && fc == rc)
    // Ties round to even: product 5 · ratio 0.5 = 2.5 → 2 (+0); product 7 · 0.5 = 3.5 → 4.
    let q = QLinearBinaryParameters(.mul, Int8.self, aScale: 0.5, aZero: 0, bScale: 1, bZero: 0, outputScale: 1, outputZero: 0)
    let (r2, f2, _, _) = runBoth([5, 7, -5] as [Int8], [1, 1, 1], BroadcastPlan(output: [3], lhs: [3], rhs: [3]), q)
    #expect(r2 == [2, 4, -2] && f2 == r2)
}

@Test func qlinearAddFusedReluIsNotSaturation() {
    // A fused ReLU floor (q = zero point 10) clamps negatives without counting them as low saturation.
    let p = QLinearBinaryParameters(.add, UInt8.self, aScale: 1, aZero: 50, bScale: 1, bZero: 50, outputScale: 1, outputZero: 10,
                                    activation: FloatClamp(lower: 0))
    let (ref, fast, rc, fc) = runBoth([0, 60] as [UInt8], [0, 60], BroadcastPlan(output: [2], lhs: [2], rhs: [2]), p)
    #expect(ref == [10, 30] && fast == ref && rc == SaturationCounts(low: 0, high: 0, total: 2) && fc == rc)
}

private func randomCase<T: QuantizedScalar>(_: T.Type, _ rng: inout SplitMix64, trial: Int) -> Bool {
    let rank = rng.int(0, 5)
    let outShape = (0..<rank).map { _ in rng.int(0, 4) == 0 ? 1 : rng.int(2, trial % 3 == 0 ? 19 : 5) }
    func operand() -> [Int] {
        let r = rng.int(0, rank)
        return Array(outShape.suffix(r)).map { rng.int(0, 2) == 0 ? 1 : $0 }
    }
    var l = operand(), r = operand()
    if rng.int(0, 3) == 0 { l = outShape }
    if rng.int(0, 3) == 0 { r = outShape }
    let out = outShape.indices.map { d -> Int in
        let ld = d - (rank - l.count), rd = d - (rank - r.count)
        return Swift.max(ld >= 0 ? l[ld] : 1, rd >= 0 ? r[rd] : 1)
    }
    let lo = Int(T.quantizedMin), hi = Int(T.quantizedMax)
    let a = (0..<l.reduce(1, *)).map { _ in T(truncatingIfNeeded: rng.int(lo, hi)) }
    let b = (0..<r.reduce(1, *)).map { _ in T(truncatingIfNeeded: rng.int(lo, hi)) }
    let op: QLinearBinaryOperator = trial % 2 == 0 ? .add : .mul
    let activation = trial % 5 == 0 ? FloatClamp(lower: 0, upper: 3) : .none
    let p = QLinearBinaryParameters(op, T.self, aScale: rng.float(0.005, 0.2), aZero: Int32(rng.int(lo, hi)),
                                    bScale: rng.float(0.005, 0.2), bZero: Int32(rng.int(lo, hi)),
                                    outputScale: rng.float(0.005, op == .mul ? 4 : 0.2), outputZero: Int32(rng.int(lo, hi)),
                                    activation: activation)
    let plan = BroadcastPlan(output: out, lhs: l, rhs: r)
    let (ref, fast, rc, fc) = runBoth(a, b, plan, p)
    return ref == fast && rc == fc && rc.total == plan.outputCount
}

@Test func qlinearBinaryFastEqualsReferenceOnRandomBroadcasts() {
    var rng = SplitMix64(seed: 88)
    var failures = 0
    for trial in 0..<800 {
        let ok = trial % 4 < 2 ? randomCase(UInt8.self, &rng, trial: trial) : randomCase(Int8.self, &rng, trial: trial)
        if !ok { failures += 1 }
    }
    #expect(failures == 0)
}

@Test func qlinearAddSaturationCountsMatchAnIndependentModel() {
    // Every pair of UInt8 values; the model recomputes v in Double-free Float the MLAS way.
    let a = (0..<65536).map { UInt8($0 >> 8) }, b = (0..<65536).map { UInt8($0 & 255) }
    let p = QLinearBinaryParameters(.add, UInt8.self, aScale: 0.07, aZero: 100, bScale: 0.03, bZero: 20, outputScale: 0.05, outputZero: 90)
    let plan = BroadcastPlan(output: [65536], lhs: [65536], rhs: [65536])
    let (ref, fast, rc, fc) = runBoth(a, b, plan, p)
    var low = 0, high = 0
    for i in 0..<65536 {
        let real = 0.07 * Double(Int(a[i]) - 100) + 0.03 * Double(Int(b[i]) - 20)
        let v = (real / 0.05 + 90).rounded()
        if v < -0.5 { low += 1 } else if v > 255.5 { high += 1 }
        // Away from ties the MLAS rounding agrees with the real-valued model.
        if abs(v - (real / 0.05 + 90)) < 0.49, v >= 0, v <= 255 { #expect(Double(ref[i]) == v) }
    }
    #expect(ref == fast && rc == fc)
    #expect(abs(rc.low - low) <= 2 && abs(rc.high - high) <= 2 && rc.total == 65536)
}

/// The fast path counts a span in two passes (its extremes first, exact counts only when one
/// crossed a bound): one saturating element among in-range ones, at every position of the vector
/// part and the tail, low or high, is counted exactly once; in place (the output over lhs, which a
/// second pass could not read again) the counts and values are the same as out of place.
@Test func qlinearAddCountsOneSaturatingElementWhereverItIs() {
    let n = 45   // 40 in the vector part, 5 in the tail
    let p = QLinearBinaryParameters(.add, UInt8.self, aScale: 1, aZero: 128, bScale: 1, bZero: 128, outputScale: 1, outputZero: 128)
    let plan = BroadcastPlan(output: [n], lhs: [n], rhs: [n])
    for position in 0..<n {
        for (value, isHigh) in [(UInt8(255), true), (UInt8(0), false)] {
            var a = (0..<n).map { UInt8(120 + $0 % 16) }, b = [UInt8](repeating: 128, count: n)
            a[position] = value; b[position] = value                 // 2·(value − 128) + 128: beyond the range
            let (ref, fast, rc, fc) = runBoth(a, b, plan, p)
            let expected = SaturationCounts(low: isHigh ? 0 : 1, high: isHigh ? 1 : 0, total: n)
            #expect(rc == expected && fc == expected && fast == ref, "position \(position) value \(value)")
            var inPlace = a, counts = SaturationCounts()
            inPlace.withUnsafeMutableBufferPointer { lhs in
                BinaryInt8.add(lhs: UnsafePointer(lhs.baseAddress!), rhs: b, output: lhs.baseAddress!, plan: plan, parameters: p,
                               counts: &counts)
            }
            #expect(counts == expected && inPlace == ref, "in place: position \(position) value \(value)")
        }
    }
}

/// The whole-vector `roundHalfEven8` (compare/blend clamp + magic-number round) equals the 4-lane
/// rule `roundHalfEvenSmall(clampToRoundingRange(_))` lane for lane: ties both ways, ±2^22 and
/// beyond, ±infinity, NaN, signed zeros, tiny values, and random floats across magnitudes.
@Test func roundHalfEven8MatchesFourLaneRule() {
    var values: [Float] = [0, -0.0, 0.5, -0.5, 1.5, -1.5, 2.5, -2.5, 0.49999997, -0.49999997, 1e-30, -1e-30,
                           4_194_303.5, -4_194_303.5, 4_194_304, -4_194_304, 4_194_304.5, 4_194_305, -4_194_305,
                           8_388_607, 8_388_608, -8_388_608, 3e9, -3e9, .greatestFiniteMagnitude,
                           -.greatestFiniteMagnitude, .infinity, -.infinity, .nan, -.nan, 127.5, 128.5, -128.5, 255.5]
    var rng = SplitMix64(seed: 0x0DD_E7E2)
    for _ in 0..<4000 {
        let magnitude = Float(1 << rng.int(0, 24))
        let value = Float(rng.int(-1 << 20, 1 << 20)) / Float(1 << 20) * magnitude
        values.append(rng.bool() ? value : (value * 2).rounded(.towardZero) / 2)   // many exact ties
    }
    while values.count % 8 != 0 { values.append(0.5) }
    var mismatches = 0
    for start in stride(from: 0, to: values.count, by: 8) {
        var v = SIMD8<Float>()
        for lane in 0..<8 { v[lane] = values[start + lane] }
        let fast = roundHalfEven8(v)
        let low = roundHalfEvenSmall(clampToRoundingRange(v.lowHalf))
        let high = roundHalfEvenSmall(clampToRoundingRange(v.highHalf))
        if fast != SIMD8(lowHalf: low, highHalf: high) { mismatches += 1 }
    }
    #expect(mismatches == 0)
}
