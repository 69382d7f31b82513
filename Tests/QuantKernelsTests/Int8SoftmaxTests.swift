import Testing
@testable import QuantKernels
import TestSupport

private func checkOrtSoftmax<T: QuantizedScalar>(_ c: OrtSoftmaxCase, _: T.Type) {
    let p = SoftmaxInt8Parameters(T.self, xScale: c.xScale, yScale: c.yScale, yZero: c.yZero, reduceLength: c.axisSize)
    let x = c.x.map { T(truncatingIfNeeded: $0) }
    var ref = [T](repeating: 0, count: x.count), fast = ref
    var rc = SaturationCounts(), fc = SaturationCounts()
    SoftmaxInt8.reference(input: x, output: &ref, outer: c.outer, axisSize: c.axisSize, inner: c.inner, parameters: p, counts: &rc)
    SoftmaxInt8.run(input: x, output: &fast, outer: c.outer, axisSize: c.axisSize, inner: c.inner, parameters: p, counts: &fc)
    #expect(ref.map { Int($0) } == c.expected, "\(c.outer)x\(c.axisSize)x\(c.inner) signed \(c.signed)")
    #expect(fast == ref && rc == fc && rc.total == x.count)
}

@Test func qlinearSoftmaxMatchesOnnxRuntime() {
    for c in ortSoftmaxCases {
        if c.signed { checkOrtSoftmax(c, Int8.self) } else { checkOrtSoftmax(c, UInt8.self) }
    }
}

@Test func qlinearSoftmaxFastEqualsReference() {
    var rng = SplitMix64(seed: 12)
    for trial in 0..<150 {
        let outer = rng.int(1, 5), axisSize = rng.int(1, 40), inner = rng.int(1, trial % 2 == 0 ? 1 : 11)
        func check<T: QuantizedScalar>(_: T.Type) {
            let p = SoftmaxInt8Parameters(T.self, xScale: rng.float(0.01, 0.3), yScale: 1 / 256, yZero: Int32(T.quantizedMin),
                                          reduceLength: axisSize)
            let x = (0..<(outer * axisSize * inner)).map { _ in T(truncatingIfNeeded: rng.int(Int(T.quantizedMin), Int(T.quantizedMax))) }
            var ref = [T](repeating: 0, count: x.count), fast = ref
            var rc = SaturationCounts(), fc = SaturationCounts()
            SoftmaxInt8.reference(input: x, output: &ref, outer: outer, axisSize: axisSize, inner: inner, parameters: p, counts: &rc)
            SoftmaxInt8.run(input: x, output: &fast, outer: outer, axisSize: axisSize, inner: inner, parameters: p, counts: &fc)
            #expect(ref == fast && rc == fc, "\(outer)x\(axisSize)x\(inner)")
        }
        if trial % 3 == 0 { check(Int8.self) } else { check(UInt8.self) }
    }
}

@Test func qlinearSoftmaxHandComputed() {
    // One dominant element: y ≈ 1 → 256 with yScale 1/256 → uint8 saturates at 255 (high), the rest 0.
    let p = SoftmaxInt8Parameters(UInt8.self, xScale: 1, yScale: 1 / 256, yZero: 0, reduceLength: 3)
    var out = [UInt8](repeating: 9, count: 3)
    var counts = SaturationCounts()
    SoftmaxInt8.run(input: [0, 100, 0] as [UInt8], output: &out, outer: 1, axisSize: 3, inner: 1, parameters: p, counts: &counts)
    #expect(out == [0, 255, 0] && counts == SaturationCounts(low: 0, high: 1, total: 3))
    // Equal inputs: 1/4 each → 64.
    var quarter = [UInt8](repeating: 0, count: 4)
    SoftmaxInt8.run(input: [7, 7, 7, 7] as [UInt8], output: &quarter, outer: 1, axisSize: 4, inner: 1,
                    parameters: SoftmaxInt8Parameters(UInt8.self, xScale: 0.1, yScale: 1 / 256, yZero: 0, reduceLength: 4), counts: nil)
    #expect(quarter == [64, 64, 64, 64])
    // Int8 with yZero −128: the dominant element gives 256 − 128 = 128 → clamped to 127 (onnxruntime wraps to −128).
    var signed = [Int8](repeating: 0, count: 2)
    SoftmaxInt8.run(input: [-100, 100] as [Int8], output: &signed, outer: 1, axisSize: 2, inner: 1,
                    parameters: SoftmaxInt8Parameters(Int8.self, xScale: 1, yScale: 1 / 256, yZero: -128, reduceLength: 2), counts: nil)
    #expect(signed == [-128, 127])
}

@Test func softmaxDoubleExpAndLogAreAccurate() {
    // Against identities that do not need libm.
    #expect(softmaxExp(0) == 1)
    #expect(abs(softmaxExp(1) - 2.718281828459045) <= 4.5e-16)
    #expect(abs(softmaxLog(2.718281828459045) - 1) <= 2.3e-16)
    for i in -50...50 {
        let x = Double(i) * 0.731
        let e = softmaxExp(x)
        #expect(abs(softmaxLog(e) - x) <= 1e-14 * Swift.max(1, abs(x)))
        #expect(abs(softmaxExp(x) * softmaxExp(-x) - 1) <= 1e-15)
    }
    #expect(abs(softmaxLog(Double(Float.greatestFiniteMagnitude)) - 88.72283905206835) < 1e-13)
}
