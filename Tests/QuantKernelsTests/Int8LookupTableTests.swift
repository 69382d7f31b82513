import Testing
@testable import QuantKernels
import TestSupport

private func allValues<T: QuantizedScalar>(_: T.Type) -> [T] { (Int(T.quantizedMin)...Int(T.quantizedMax)).map { T(truncatingIfNeeded: $0) } }

private func checkOrtLookup<T: QuantizedScalar>(_ c: OrtLookupCase, _: T.Type) {
    let table = c.op == "sigmoid"
        ? LookupTable8.sigmoid(T.self, inputScale: c.xScale, inputZero: c.xZero, outputScale: c.yScale, outputZero: c.yZero)
        : LookupTable8.leakyRelu(T.self, alpha: c.alpha, inputScale: c.xScale, inputZero: c.xZero, outputScale: c.yScale, outputZero: c.yZero)
    let x = allValues(T.self)
    var ref = [T](repeating: 0, count: 256), fast = ref
    table.reference(input: x, output: &ref, count: 256, counts: nil)
    table.run(input: x, output: &fast, count: 256, counts: nil)
    #expect(ref.map { Int($0) } == c.expected, "\(c.op) \(c.signed)")
    #expect(fast == ref)
}

@Test func lookupTablesMatchOnnxRuntime() {
    for c in ortLookupCases {
        if c.signed { checkOrtLookup(c, Int8.self) } else { checkOrtLookup(c, UInt8.self) }
    }
}

@Test func lookupTableHandComputedAndSaturation() {
    // f(x) = 2x, scales 1, zero points 0, Int8: q → clamp(2q); |2q| > 127 saturates.
    let t = LookupTable8(Int8.self, inputScale: 1, inputZero: 0, outputScale: 1, outputZero: 0, function: { 2 * $0 })
    let x: [Int8] = [0, 1, -3, 63, 64, -64, -65, 127, -128, 5]
    var ref = [Int8](repeating: 0, count: x.count), fast = ref
    var rc = SaturationCounts(), fc = SaturationCounts()
    t.reference(input: x, output: &ref, count: x.count, counts: &rc)
    t.run(input: x, output: &fast, count: x.count, counts: &fc)
    #expect(ref == [0, 2, -6, 126, 127, -128, -128, 127, -128, 10] && fast == ref)
    #expect(rc == SaturationCounts(low: 2, high: 2, total: 10) && fc == rc)
    // In place (output aliases input) gives the same result and counts.
    var inPlace = x
    var ic = SaturationCounts()
    inPlace.withUnsafeMutableBufferPointer { b in t.run(input: b.baseAddress!, output: b.baseAddress!, count: b.count, counts: &ic) }
    #expect(inPlace == ref && ic == rc)
    // Ties to even: 0.5·q with q = 1, 3 → 0.5 → 0, 1.5 → 2.
    let h = LookupTable8(UInt8.self, inputScale: 0.5, inputZero: 0, outputScale: 1, outputZero: 0, function: { $0 })
    #expect(h.table[1] == 0 && h.table[3] == 2 && h.table[5] == 2)
}

@Test func lookupTableFastEqualsReferenceOnRandomData() {
    var rng = SplitMix64(seed: 9)
    for trial in 0..<50 {
        let n = rng.int(0, 300)
        let t = LookupTable8.sigmoid(Int8.self, inputScale: rng.float(0.01, 0.2), inputZero: Int32(rng.int(-128, 127)),
                                     outputScale: rng.float(0.001, 0.01), outputZero: Int32(rng.int(-128, 127)))
        let x = (0..<n).map { _ in Int8(truncatingIfNeeded: rng.int(-128, 127)) }
        var ref = [Int8](repeating: 0, count: n), fast = ref
        var rc = SaturationCounts(), fc = SaturationCounts()
        t.reference(input: x, output: &ref, count: n, counts: &rc)
        t.run(input: x, output: &fast, count: n, counts: &fc)
        #expect(ref == fast && rc == fc, "trial \(trial)")
    }
}

@Test func mlasLogisticIsCloseToTheSigmoid() {
    for i in -400...400 {
        let x = Float(i) / 20
        #expect(abs(LookupTable8.mlasLogistic(x) - kernelSigmoid(x)) < 2e-6)
    }
    #expect(LookupTable8.mlasLogistic(100) == 1 && LookupTable8.mlasLogistic(-100) == 0)
}

// MARK: QLinearConcat

private func checkOrtConcat<T: QuantizedScalar>(_ c: OrtConcatCase, _: T.Type) {
    let totalChannels = c.inputs.reduce(0) { $0 + $1.channels }
    var fast = [T](repeating: 0, count: c.outer * totalChannels * c.inner), ref = fast
    var rc = SaturationCounts(), fc = SaturationCounts()
    var offset = 0
    for input in c.inputs {
        let plan = QLinearConcatInput(T.self, inputScale: input.scale, inputZero: input.zero, outputScale: c.yScale, outputZero: c.yZero)
        let x = input.x.map { T(truncatingIfNeeded: $0) }
        ConcatInt8.run(input: x, output: &fast, plan: plan, outer: c.outer, inputBlock: input.channels * c.inner,
                       outputBlock: totalChannels * c.inner, offset: offset, counts: &fc)
        ConcatInt8.reference(input: x, output: &ref, plan: plan, outer: c.outer, inputBlock: input.channels * c.inner,
                             outputBlock: totalChannels * c.inner, offset: offset, counts: &rc)
        offset += input.channels * c.inner
    }
    #expect(fast.map { Int($0) } == c.expected && ref == fast && rc == fc && rc.total == fast.count)
}

@Test func qlinearConcatMatchesOnnxRuntime() {
    for c in ortConcatCases {
        if c.signed { checkOrtConcat(c, Int8.self) } else { checkOrtConcat(c, UInt8.self) }
    }
}

@Test func qlinearConcatCopiesWhenParametersMatch() {
    let plan = QLinearConcatInput(UInt8.self, inputScale: 0.1, inputZero: 7, outputScale: 0.1, outputZero: 7)
    #expect(plan.table == nil)
    let other = QLinearConcatInput(UInt8.self, inputScale: 0.2, inputZero: 7, outputScale: 0.1, outputZero: 7)
    // q = 10 → 0.2·3 = 0.6 → 6 + 7 = 13; q = 200 → 38.6 → 386 + 7 → 255 (high).
    var out = [UInt8](repeating: 0, count: 2)
    var counts = SaturationCounts()
    ConcatInt8.run(input: [10, 200] as [UInt8], output: &out, plan: other, outer: 1, inputBlock: 2, outputBlock: 2, offset: 0, counts: &counts)
    #expect(out == [13, 255] && counts == SaturationCounts(low: 0, high: 1, total: 2))
}
