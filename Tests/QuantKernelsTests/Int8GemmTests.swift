import Testing
@testable import QuantKernels
import TestSupport

/// Reference vs fast int8 GEMM (requantized and raw Int32) on random data; a failure text or nil.
private func checkGemm<A: QuantizedScalar, W: QuantizedScalar, Y: QuantizedScalar>(
    m: Int, n: Int, k: Int, transposed: Bool, hasBias: Bool, perColumnZeros: Bool,
    _ a: A.Type, _ w: W.Type, _ y: Y.Type, _ rng: inout SplitMix64
) -> String? {
    let lda = k + rng.int(0, 3), ldc = n + rng.int(0, 2)
    let aData = randomQuantized(A.self, max(1, m * lda), &rng)
    let bData = randomQuantized(W.self, k * n, &rng)
    let aZero = Int32(rng.int(Int(A.quantizedMin), Int(A.quantizedMax)))
    let bZeros: [Int32] = (0..<(perColumnZeros ? max(1, n) : 1)).map { _ in Int32(rng.int(Int(W.quantizedMin), Int(W.quantizedMax))) }
    let bias: [Int32] = (0..<max(1, n)).map { _ in Int32(rng.int(-30000, 30000)) }
    let (requantization, text) = randomRequantization(Y.self, channels: n, typicalSum: Float(k) * 4000, &rng)
    let count = max(1, m * ldc)
    var reference = [Y](repeating: 0x11, count: count), fast = [Y](repeating: 0x11, count: count)
    var reference32 = [Int32](repeating: 7, count: count), fast32 = [Int32](repeating: 7, count: count)
    var referenceCounts = SaturationCounts(), fastCounts = SaturationCounts()
    let packed = GemmInt8.PackedB(b: bData, k: k, n: n, transposed: transposed, zeroPoints: bZeros)
    var scratch = [UInt8](repeating: 0xEE, count: GemmInt8.scratchByteCount(m: m, n: n, k: k))
    bias.withUnsafeBufferPointer { bias in
        let biasPointer = hasBias ? bias.baseAddress : nil
        GemmInt8.reference(m: m, n: n, k: k, a: aData, lda: lda, aZero: aZero, b: bData, transposedB: transposed,
                           bZeros: bZeros, bZeroCount: bZeros.count, bias: biasPointer, output: &reference, ldc: ldc,
                           requantization: requantization, counts: &referenceCounts)
        GemmInt8.referenceInt32(m: m, n: n, k: k, a: aData, lda: lda, aZero: aZero, b: bData, transposedB: transposed,
                                bZeros: bZeros, bZeroCount: bZeros.count, output: &reference32, ldc: ldc)
        scratch.withUnsafeMutableBytes { scratch in
            GemmInt8.run(m: m, n: n, k: k, a: aData, lda: lda, aZero: aZero, packed: packed, bias: biasPointer,
                         output: &fast, ldc: ldc, requantization: requantization, counts: &fastCounts, scratch: scratch.baseAddress!)
            GemmInt8.runInt32(m: m, n: n, k: k, a: aData, lda: lda, aZero: aZero, packed: packed,
                              output: &fast32, ldc: ldc, scratch: scratch.baseAddress!)
        }
    }
    let describe = "m\(m) n\(n) k\(k) T\(transposed) \(A.self)x\(W.self)→\(Y.self) bias \(hasBias) \(text)"
    for row in 0..<m {
        for column in 0..<n where reference[row * ldc + column] != fast[row * ldc + column] || reference32[row * ldc + column] != fast32[row * ldc + column] {
            return "\(describe): [\(row)][\(column)] fast \(fast[row * ldc + column]) ref \(reference[row * ldc + column]) raw \(fast32[row * ldc + column]) vs \(reference32[row * ldc + column])"
        }
    }
    // Padding columns between n and ldc are untouched.
    if fast != reference.enumerated().map({ $0.offset % ldc < n ? $0.element : 0x11 }) { return "\(describe): wrote outside the matrix" }
    if referenceCounts != fastCounts { return "\(describe): counts \(fastCounts) vs \(referenceCounts)" }
    var naive = SaturationCounts()
    for row in 0..<m {
        for column in 0..<n {
            let acc = reference32[row * ldc + column] &+ (hasBias ? bias[column] : 0)
            let multiplier = requantization.multipliers.count == 1 ? requantization.multipliers[0] : requantization.multipliers[column]
            let v = naiveRound(Float(acc) * multiplier) + Int64(requantization.zeroPoint)
            naive.total += 1
            if requantization.countLow && v < Int64(Y.quantizedMin) { naive.low += 1 }
            if requantization.countHigh && v > Int64(Y.quantizedMax) { naive.high += 1 }
        }
    }
    if naive != fastCounts { return "\(describe): counts \(fastCounts) vs naive \(naive)" }
    return nil
}

@Suite struct Int8GemmTests {
    @Test func fastMatchesReferenceOnRandomShapes() {
        var rng = SplitMix64(seed: 0x6E77)
        var failures: [String] = []
        for iteration in 0..<500 {
            let m = rng.int(1, 13), n = rng.int(1, 27), k = iteration % 50 == 0 ? rng.int(200, 700) : rng.int(1, 40)
            let transposed = rng.bool(), hasBias = rng.bool(), perColumn = rng.bool()
            let failure: String?
            switch rng.int(0, 3) {
            case 0: failure = checkGemm(m: m, n: n, k: k, transposed: transposed, hasBias: hasBias, perColumnZeros: perColumn, UInt8.self, Int8.self, UInt8.self, &rng)
            case 1: failure = checkGemm(m: m, n: n, k: k, transposed: transposed, hasBias: hasBias, perColumnZeros: perColumn, Int8.self, Int8.self, Int8.self, &rng)
            case 2: failure = checkGemm(m: m, n: n, k: k, transposed: transposed, hasBias: hasBias, perColumnZeros: perColumn, UInt8.self, UInt8.self, Int8.self, &rng)
            default: failure = checkGemm(m: m, n: n, k: k, transposed: transposed, hasBias: hasBias, perColumnZeros: perColumn, Int8.self, UInt8.self, UInt8.self, &rng)
            }
            if let failure { failures.append(failure) }
        }
        #expect(failures.isEmpty, "\(failures.count) mismatches, first: \(failures.prefix(3))")
    }

    /// Extreme operands: k = 32768 with every product at its maximum (|255 · 255|) stays exact.
    @Test func deepestReductionDoesNotOverflow() {
        let k = 32768
        let a = [UInt8](repeating: 255, count: k)      // − 0   → 255
        let b = [UInt8](repeating: 0, count: k)        // − 255 → −255
        let packed = GemmInt8.PackedB(b: b, k: k, n: 1, transposed: false, zeroPoints: [255])
        var raw: [Int32] = [0]
        var scratch = [UInt8](repeating: 0, count: GemmInt8.scratchByteCount(m: 1, n: 1, k: k))
        scratch.withUnsafeMutableBytes { scratch in
            GemmInt8.runInt32(m: 1, n: 1, k: k, a: a, lda: k, aZero: 0, packed: packed, output: &raw, ldc: 1, scratch: scratch.baseAddress!)
        }
        #expect(raw == [Int32(-255 * 255 * k)])
    }

    /// A 2x3 · 3x2 product worked by hand, per-column zero points and bias.
    @Test func handComputed() {
        let a: [UInt8] = [1, 2, 3,
                          4, 5, 6]                      // aZero 1 → [[0,1,2],[3,4,5]]
        let b: [Int8] = [1, 2,
                         3, 4,
                         5, 6]                          // zeros [1, 2] → [[0,0],[2,2],[4,4]]
        let packed = GemmInt8.PackedB(b: b, k: 3, n: 2, transposed: false, zeroPoints: [1, 2])
        var raw = [Int32](repeating: 0, count: 4)
        var out = [Int8](repeating: 0, count: 4)
        var counts = SaturationCounts()
        var scratch = [UInt8](repeating: 0, count: GemmInt8.scratchByteCount(m: 2, n: 2, k: 3))
        // Row 0: 0·0 + 1·2 + 2·4 = 10 (both columns); row 1: 3·0 + 4·2 + 5·4 = 28.
        let bias: [Int32] = [0, 2]
        let r = Requantization(multipliers: [0.5, 5], zeroPoint: -3, lower: -128, upper: 127, qmin: -128, qmax: 127,
                               countLow: true, countHigh: true)
        scratch.withUnsafeMutableBytes { scratch in
            GemmInt8.runInt32(m: 2, n: 2, k: 3, a: a, lda: 3, aZero: 1, packed: packed, output: &raw, ldc: 2, scratch: scratch.baseAddress!)
            GemmInt8.run(m: 2, n: 2, k: 3, a: a, lda: 3, aZero: 1, packed: packed, bias: bias, output: &out, ldc: 2,
                         requantization: r, counts: &counts, scratch: scratch.baseAddress!)
        }
        #expect(raw == [10, 10, 28, 28])
        // Column 0: 10·0.5 = 5 → 2, 28·0.5 = 14 → 11; column 1: 12·5 = 60 → 57, 30·5 = 150 → 147 → 127 (high).
        #expect(out == [2, 57, 11, 127])
        #expect(counts == SaturationCounts(low: 0, high: 1, total: 4))
    }
}
