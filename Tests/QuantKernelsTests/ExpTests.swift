// kernelExp / kernelTanh / kernelSigmoid against Foundation (Double precision reference).
import Foundation
import Testing
@testable import QuantKernels
import TestSupport

/// Error of `got` against the exact value `exact` in units of the Float ulp at `exact`
/// (ulp of the smallest normal for subnormal results).
private func ulpError(_ got: Float, _ exact: Double) -> Double {
    let ref = Float(exact)
    let ulp = Double(max(ref.magnitude, Float.leastNormalMagnitude).ulp)
    return abs(Double(got) - exact) / ulp
}

/// Sweep points: a dense grid over [lo, hi] plus random points, plus the given specials.
private func sweep(_ lo: Float, _ hi: Float, grid: Int, random: Int, seed: UInt64) -> [Float] {
    var r = SplitMix64(seed: seed)
    var xs: [Float] = []
    xs.reserveCapacity(grid + random + 1)
    for i in 0...grid { xs.append(lo + (hi - lo) * Float(i) / Float(grid)) }
    for _ in 0..<random { xs.append(r.float(lo, hi)) }
    return xs
}

@Test func expAccuracyNormalRange() {
    var maxUlp = 0.0
    var worst: Float = 0
    for x in sweep(-87.3, 88.72, grid: 400_000, random: 400_000, seed: 7) {
        let e = ulpError(kernelExp(x), Foundation.exp(Double(x)))
        if e > maxUlp { maxUlp = e; worst = x }
    }
    // Also every Float in a small window around 0 and near the ends (bit-pattern walks).
    for start: Float in [-1e-3, 1, -1, 20, -20, 88.0, -87.0] {
        var x = start
        for _ in 0..<20_000 {
            let e = ulpError(kernelExp(x), Foundation.exp(Double(x)))
            if e > maxUlp { maxUlp = e; worst = x }
            x = x.nextUp
        }
    }
    print("kernelExp max error on [-87.3, 88.72]: \(maxUlp) ulp at x = \(worst)")
    #expect(maxUlp <= 2)
}

@Test func expSubnormalAndSpecials() {
    var maxAbs = 0.0
    for x in sweep(-104, -87.3, grid: 50_000, random: 0, seed: 1) {
        maxAbs = max(maxAbs, abs(Double(kernelExp(x)) - Foundation.exp(Double(x))))
    }
    print("kernelExp max abs error on [-104, -87.3]: \(maxAbs)")
    #expect(maxAbs <= Double(Float.leastNonzeroMagnitude) * 2)
    #expect(kernelExp(0) == 1)
    #expect(kernelExp(-0.0) == 1)
    #expect(kernelExp(.nan).isNaN)
    #expect(kernelExp(.infinity) == .infinity)
    #expect(kernelExp(-.infinity) == 0)
    #expect(kernelExp(88.73) == .infinity)
    #expect(kernelExp(100) == .infinity)
    #expect(kernelExp(-105) == 0)
    #expect(kernelExp(-1000) == 0)
    #expect(kernelExp(88.72) < .infinity)
    #expect(kernelExp(88.72) > 3.3e38)
    #expect(kernelExp(1) == Float(M_E))
    #expect(kernelExp(-87.3) > 0)
}

@Test func tanhAccuracy() {
    var maxAbs = 0.0
    var maxUlp = 0.0
    for x in sweep(-12, 12, grid: 400_000, random: 200_000, seed: 3) + sweep(-1e-3, 1e-3, grid: 20_000, random: 0, seed: 0) {
        let got = kernelTanh(x)
        let exact = Foundation.tanh(Double(x))
        maxAbs = max(maxAbs, abs(Double(got) - exact))
        maxUlp = max(maxUlp, ulpError(got, exact))
    }
    print("kernelTanh max abs error: \(maxAbs), max ulp error: \(maxUlp)")
    #expect(maxAbs <= 1e-6)
    for x: Float in [9.1, 10, 20, 44.4, 50, 1e30, .infinity] {
        #expect(kernelTanh(x) == 1)
        #expect(kernelTanh(-x) == -1)
    }
    #expect(kernelTanh(.nan).isNaN)
    #expect(kernelTanh(0) == 0)
    #expect(kernelTanh(-0.0).sign == .minus)
    #expect(kernelTanh(1e-30) == 1e-30)
}

@Test func sigmoidAccuracy() {
    var maxAbs = 0.0
    var maxUlp = 0.0
    for x in sweep(-100, 100, grid: 400_000, random: 200_000, seed: 5) {
        let got = kernelSigmoid(x)
        let exact = 1 / (1 + Foundation.exp(-Double(x)))
        maxAbs = max(maxAbs, abs(Double(got) - exact))
        maxUlp = max(maxUlp, ulpError(got, exact))
    }
    print("kernelSigmoid max abs error: \(maxAbs), max ulp error: \(maxUlp)")
    #expect(maxAbs <= 1e-6)
    #expect(maxUlp <= 4)
    #expect(kernelSigmoid(0) == 0.5)
    #expect(kernelSigmoid(.infinity) == 1)
    #expect(kernelSigmoid(-.infinity) == 0)
    #expect(kernelSigmoid(.nan).isNaN)
    #expect(kernelSigmoid(40) == 1)
    #expect(kernelSigmoid(-200) == 0)
}

@Test func simdFormsMatchScalarLaneForLane() {
    var xs = sweep(-120, 100, grid: 100_000, random: 100_000, seed: 9)
    xs += [.nan, .infinity, -.infinity, 0, -0.0, 88.72, 88.73, -87.3, -103.9, -104, -105,
           0.625, -0.625, 0.62499994, 9.01, -9.01, Float.leastNonzeroMagnitude, -Float.greatestFiniteMagnitude]
    while xs.count % 8 != 0 { xs.append(1) }
    func same(_ a: Float, _ b: Float) -> Bool { a.bitPattern == b.bitPattern || (a.isNaN && b.isNaN) }
    var mismatches = 0
    for i in stride(from: 0, to: xs.count, by: 8) {
        var v = SIMD8<Float>()
        for l in 0..<8 { v[l] = xs[i + l] }
        let e = kernelExp8(v), t = kernelTanh8(v), s = kernelSigmoid8(v)
        for l in 0..<8 {
            let x = xs[i + l]
            if !same(e[l], kernelExp(x)) || !same(t[l], kernelTanh(x)) || !same(s[l], kernelSigmoid(x)) {
                mismatches += 1
                if mismatches < 5 { Issue.record("lane mismatch at x = \(x)") }
            }
        }
    }
    #expect(mismatches == 0)
}
