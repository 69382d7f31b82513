import Testing
@testable import QuantKernels
import TestSupport

private struct GemmCase: CustomStringConvertible {
    var m: Int, n: Int, k: Int
    var transposeA: Bool, transposeB: Bool
    var extraLeading: Int   // padding added to the leading dimension of stored A and B
    var alpha: Float
    var hasBias: Bool
    var clamp: FloatClamp
    var description: String {
        "m=\(m) n=\(n) k=\(k) tA=\(transposeA) tB=\(transposeB) pad=\(extraLeading) alpha=\(alpha) bias=\(hasBias) clamp=(\(clamp.lower), \(clamp.upper))"
    }
}

/// Runs reference and fast GEMM on the same random operands; returns a failure description or nil.
private func check(_ c: GemmCase, _ rng: inout SplitMix64) -> String? {
    // A is logically m x k; stored either row-major (m rows of lda) or transposed (k rows of lda).
    let lda = (c.transposeA ? c.m : c.k) + c.extraLeading
    let ldb = (c.transposeB ? c.k : c.n) + c.extraLeading
    let a = rng.floats((c.transposeA ? c.k : c.m) * lda + 1)
    let b = rng.floats((c.transposeB ? c.n : c.k) * ldb + 1)
    let bias = rng.floats(c.n + 1)
    let aRow = c.transposeA ? 1 : lda, aCol = c.transposeA ? lda : 1
    let bRow = c.transposeB ? 1 : ldb, bCol = c.transposeB ? ldb : 1
    var reference = [Float](repeating: .nan, count: c.m * c.n)
    var fast = [Float](repeating: .nan, count: c.m * c.n)
    var scratch = [Float](repeating: .nan, count: max(1, GemmFloat.scratchCount(m: c.m, n: c.n, k: c.k)))
    a.withUnsafeBufferPointer { a in
        b.withUnsafeBufferPointer { b in
            bias.withUnsafeBufferPointer { bias in
                let biasPointer = c.hasBias ? bias.baseAddress! : nil
                reference.withUnsafeMutableBufferPointer { out in
                    GemmFloat.reference(m: c.m, n: c.n, k: c.k, a: a.baseAddress!, aRowStride: aRow, aColStride: aCol,
                                        b: b.baseAddress!, bRowStride: bRow, bColStride: bCol,
                                        output: out.baseAddress!, alpha: c.alpha, bias: biasPointer, clamp: c.clamp)
                }
                fast.withUnsafeMutableBufferPointer { out in
                    scratch.withUnsafeMutableBufferPointer { scratch in
                        GemmFloat.run(m: c.m, n: c.n, k: c.k, a: a.baseAddress!, aRowStride: aRow, aColStride: aCol,
                                      b: b.baseAddress!, bRowStride: bRow, bColStride: bCol,
                                      output: out.baseAddress!, alpha: c.alpha, bias: biasPointer, clamp: c.clamp,
                                      scratch: scratch.baseAddress!)
                    }
                }
            }
        }
    }
    if let i = firstMismatch(fast, reference, rtol: 1e-5, atol: 1e-5) {
        return "\(c): element \(i) (row \(i / c.n), col \(i % c.n)) fast \(fast[i]) reference \(reference[i])"
    }
    return nil
}

@Test func gemmReferenceHandComputed() {
    // A = [[1, 2, 3], [4, 5, 6]], B = [[1, 0], [0, 1], [1, 1]] → A·B = [[4, 5], [10, 11]].
    let a: [Float] = [1, 2, 3, 4, 5, 6]
    let b: [Float] = [1, 0, 0, 1, 1, 1]
    let bias: [Float] = [0.5, -20]
    var out = [Float](repeating: .nan, count: 4)
    GemmFloat.reference(m: 2, n: 2, k: 3, a: a, aRowStride: 3, aColStride: 1, b: b, bRowStride: 2, bColStride: 1,
                        output: &out, alpha: 2, bias: bias, clamp: FloatClamp(lower: 0, upper: 20))
    // 2*[[4,5],[10,11]] + [0.5, -20] = [[8.5, -10], [20.5, 2]] → clamp [0, 20].
    #expect(out == [8.5, 0, 20, 2])
    var scratch = [Float](repeating: 0, count: GemmFloat.scratchCount(m: 2, n: 2, k: 3))
    var fast = [Float](repeating: .nan, count: 4)
    GemmFloat.run(m: 2, n: 2, k: 3, a: a, aRowStride: 3, aColStride: 1, b: b, bRowStride: 2, bColStride: 1,
                  output: &fast, alpha: 2, bias: bias, clamp: FloatClamp(lower: 0, upper: 20), scratch: &scratch)
    #expect(fast == [8.5, 0, 20, 2])
}

@Test(arguments: [(false, false), (false, true), (true, false), (true, true)])
func gemmFastMatchesReferenceRandom(transposeA: Bool, transposeB: Bool) {
    var rng = SplitMix64(seed: transposeA ? (transposeB ? 11 : 12) : (transposeB ? 13 : 14))
    var failures: [String] = []
    for _ in 0..<250 {
        let clampKind = rng.int(0, 2)
        let c = GemmCase(
            m: rng.int(1, 70), n: rng.int(1, 70), k: rng.int(1, 70),
            transposeA: transposeA, transposeB: transposeB, extraLeading: rng.int(0, 1) * rng.int(0, 5),
            alpha: rng.bool() ? 1 : rng.float() * 2, hasBias: rng.bool(),
            clamp: clampKind == 0 ? .none : (clampKind == 1 ? FloatClamp(lower: 0) : FloatClamp(lower: -0.5, upper: 0.75)))
        if let failure = check(c, &rng) { failures.append(failure) }
    }
    #expect(failures.isEmpty, "\(failures.count) mismatches, first: \(failures.first ?? "")")
}

@Test func gemmFastMatchesReferenceEdgeShapes() {
    var rng = SplitMix64(seed: 99)
    let shapes: [(Int, Int, Int)] = [
        (1, 1, 1), (6, 16, 1), (7, 17, 3), (5, 15, 2), (12, 32, 8), (1, 100, 9), (100, 1, 9),
        (121, 33, 300),   // crosses the mc (120) row block and the kc (256) depth block
        (3, 2100, 5),     // crosses the nc (2048) column block
        (130, 40, 513),   // several depth blocks, partial last one
    ]
    var failures: [String] = []
    for (index, (m, n, k)) in shapes.enumerated() {
        let c = GemmCase(m: m, n: n, k: k, transposeA: index % 2 == 1, transposeB: index % 3 == 1, extraLeading: index % 4,
                         alpha: index % 2 == 0 ? 1 : 0.5, hasBias: index % 3 != 2,
                         clamp: index % 2 == 0 ? FloatClamp(lower: 0, upper: 6) : .none)
        if let failure = check(c, &rng) { failures.append(failure) }
    }
    #expect(failures.isEmpty, "\(failures.count) mismatches, first: \(failures.first ?? "")")
}

@Test func gemmZeroDepthGivesBiasOnly() {
    let bias: [Float] = [1, -2, 3]
    let dummy: [Float] = [0]
    var out = [Float](repeating: .nan, count: 6)
    var scratch: [Float] = [0]
    GemmFloat.run(m: 2, n: 3, k: 0, a: dummy, aRowStride: 0, aColStride: 1, b: dummy, bRowStride: 3, bColStride: 1,
                  output: &out, alpha: 1, bias: bias, clamp: FloatClamp(lower: 0), scratch: &scratch)
    #expect(out == [1, 0, 3, 1, 0, 3])
}

@Test func floatClampSemantics() {
    let relu6 = FloatClamp(lower: 0, upper: 6)
    #expect(relu6.apply(-1) == 0)
    #expect(relu6.apply(7) == 6)
    #expect(relu6.apply(3.5) == 3.5)
    #expect(FloatClamp.none.apply(-1e30) == -1e30)
    #expect(FloatClamp.none.isNone && !relu6.isNone)
    #expect(relu6.apply(Float.nan).isNaN)
    let v = relu6.apply(SIMD8<Float>(-1, 0, 1, 5.5, 6, 7, .nan, -0.0))
    #expect(v[0] == 0 && v[1] == 0 && v[2] == 1 && v[3] == 5.5 && v[4] == 6 && v[5] == 6 && v[6].isNaN && v[7] == 0)
}

/// The AVX-512F kernel (taken on CPUs that have it, for one depth block with unit-stride B rows)
/// against the portable one: the same bits on random shapes — rows and columns around the 8 x 32
/// and 6 x 16 tiles, row-major and transposed A, alpha, row and column biases, clamps (with NaN and
/// infinite inputs, which pass through or clamp the same way). On other CPUs both runs are portable.
@Test func gemmAVX512MatchesPortableBitForBit() {
    var rng = SplitMix64(seed: 0xA5_12F)
    var failures: [String] = []
    for trial in 0..<300 {
        let m = rng.int(1, 20), n = rng.int(1, 70), k = rng.int(1, trial % 10 == 0 ? 256 : 40)
        let transposeA = rng.bool()
        let lda = (transposeA ? m : k) + rng.int(0, 2), ldb = n + rng.int(0, 3)
        var a = rng.floats((transposeA ? k : m) * lda), b = rng.floats(k * ldb)
        if trial % 7 == 0 { b[rng.int(0, b.count - 1)] = [Float.nan, .infinity, -.infinity][rng.int(0, 2)] }
        if trial % 11 == 0 { a[rng.int(0, a.count - 1)] = -0.0 }
        let rowBias = rng.floats(m), columnBias = rng.floats(n)
        let alpha: Float = rng.bool() ? 1 : rng.float(-2, 2)
        let clamp: FloatClamp = [FloatClamp.none, FloatClamp(lower: 0), FloatClamp(lower: -0.5, upper: 0.5)][rng.int(0, 2)]
        let useRowBias = rng.bool(), useColumnBias = rng.bool()
        var portable = [Float](repeating: 0, count: m * n), fast = [Float](repeating: 1, count: m * n)
        var scratch = [Float](repeating: .nan, count: max(1, GemmKernel.scratchCount(m: m, n: n, k: k)))
        a.withUnsafeBufferPointer { a in
            b.withUnsafeBufferPointer { b in
                rowBias.withUnsafeBufferPointer { rowBias in
                    columnBias.withUnsafeBufferPointer { columnBias in
                        let epilogue = GemmEpilogue(alpha: alpha, rowBias: useRowBias ? rowBias.baseAddress : nil,
                                                    columnBias: useColumnBias ? columnBias.baseAddress : nil, clamp: clamp)
                        for (allow, destination) in [(false, 0), (true, 1)] {
                            scratch.withUnsafeMutableBufferPointer { scratch in
                                if destination == 0 {
                                    portable.withUnsafeMutableBufferPointer { out in
                                        GemmKernel.run(m: m, n: n, k: k, a: a.baseAddress!, aRowStride: transposeA ? 1 : lda,
                                                       aColStride: transposeA ? lda : 1, b: b.baseAddress!, bRowStride: ldb, bColStride: 1,
                                                       prepackedB: nil, output: out.baseAddress!, outputRowStride: n, epilogue: epilogue,
                                                       scratch: scratch.baseAddress!, allowAVX512: allow)
                                    }
                                } else {
                                    fast.withUnsafeMutableBufferPointer { out in
                                        GemmKernel.run(m: m, n: n, k: k, a: a.baseAddress!, aRowStride: transposeA ? 1 : lda,
                                                       aColStride: transposeA ? lda : 1, b: b.baseAddress!, bRowStride: ldb, bColStride: 1,
                                                       prepackedB: nil, output: out.baseAddress!, outputRowStride: n, epilogue: epilogue,
                                                       scratch: scratch.baseAddress!, allowAVX512: allow)
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        if let i = (0..<(m * n)).first(where: { portable[$0].bitPattern != fast[$0].bitPattern }) {
            failures.append("m \(m) n \(n) k \(k) tA \(transposeA) alpha \(alpha) clamp \(clamp) [\(i)]: \(fast[i]) vs portable \(portable[i])")
        }
    }
    #expect(failures.isEmpty, "\(failures.count) mismatches, first: \(failures.prefix(3))")
}
