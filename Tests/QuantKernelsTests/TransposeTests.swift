import Testing
@testable import QuantKernels
import TestSupport

private func naiveTranspose<T>(_ x: [T], _ shape: [Int], _ perm: [Int]) -> [T] {
    let outShape = perm.map { shape[$0] }
    return (0..<x.count).map { i in
        let oc = unravel(i, outShape)
        var ic = [Int](repeating: 0, count: shape.count)
        for j in perm.indices { ic[perm[j]] = oc[j] }
        return x[ravel(ic, shape)]
    }
}

private func run<T>(_ x: [T], _ shape: [Int], _ perm: [Int], fill: T) -> ([T], [T]) {
    let plan = TransposePlan(inputShape: shape, permutation: perm)
    var y = [T](repeating: fill, count: x.count)
    var ref = y
    transpose(input: x, output: &y, plan: plan)
    transposeReference(input: x, output: &ref, plan: plan)
    return (y, ref)
}

@Test func transposeRandomPermutationsUpToRank5() {
    var rng = SplitMix64(seed: 51)
    for trial in 0..<400 {
        let rank = rng.int(0, 5)
        let shape = (0..<rank).map { _ in rng.int(0, 4) == 0 ? 1 : rng.int(2, trial % 5 == 0 ? 20 : 5) }
        let perm = rng.shuffled(Array(0..<rank))
        let x = (0..<shapeCount(shape)).map { Float($0) }
        let (y, ref) = run(x, shape, perm, fill: -1)
        let want = naiveTranspose(x, shape, perm)
        #expect(y == want, "shape \(shape) perm \(perm)")
        #expect(ref == want, "reference: shape \(shape) perm \(perm)")
    }
}

@Test func transposeLayoutFastPathsAndElementTypes() {
    var rng = SplitMix64(seed: 52)
    let cases: [([Int], [Int])] = [
        ([2, 3, 17, 19], [0, 2, 3, 1]),   // NCHW → NHWC
        ([2, 17, 19, 3], [0, 3, 1, 2]),   // NHWC → NCHW
        ([33, 47], [1, 0]),               // 2-D, not a multiple of the tile
        ([1, 64, 1, 40], [3, 1, 2, 0]),   // only size-1 dims differ → still a 2-D transpose
        ([1, 5, 1], [2, 1, 0]),           // copy
        ([4, 0, 3], [2, 0, 1]),           // empty
    ]
    for (shape, perm) in cases {
        let n = shapeCount(shape)
        let xi8 = (0..<n).map { _ in Int8(truncatingIfNeeded: rng.int(-128, 127)) }
        let (y8, r8) = run(xi8, shape, perm, fill: 0)
        #expect(y8 == naiveTranspose(xi8, shape, perm) && r8 == y8, "Int8 \(shape) \(perm)")
        let xi64 = (0..<n).map { Int64($0) * 1_000_000_007 }
        let (y64, _) = run(xi64, shape, perm, fill: 0)
        #expect(y64 == naiveTranspose(xi64, shape, perm), "Int64 \(shape) \(perm)")
        let xu8 = (0..<n).map { UInt8(truncatingIfNeeded: $0) }
        let (yu8, _) = run(xu8, shape, perm, fill: 0)
        #expect(yu8 == naiveTranspose(xu8, shape, perm), "UInt8 \(shape) \(perm)")
    }
    // Hand-computed 2×3 → 3×2.
    let (y, _) = run([1, 2, 3, 4, 5, 6] as [Int32], [2, 3], [1, 0], fill: 0)
    #expect(y == [1, 4, 2, 5, 3, 6])
}

@Test func concatAlongEachAxis() {
    var rng = SplitMix64(seed: 53)
    for _ in 0..<100 {
        let rank = rng.int(1, 4)
        let axis = rng.int(0, rank - 1)
        let base = (0..<rank).map { _ in rng.int(1, 4) }
        let parts = rng.int(1, 4)
        let shapes = (0..<parts).map { _ -> [Int] in var s = base; s[axis] = rng.int(0, 3); return s }
        let inputs = shapes.map { s in (0..<shapeCount(s)).map { _ in Int32(truncatingIfNeeded: rng.next()) } }
        var outShape = base
        outShape[axis] = shapes.map { $0[axis] }.reduce(0, +)
        let outer = base[..<axis].reduce(1, *), inner = base[(axis + 1)...].reduce(1, *)
        var y = [Int32](repeating: 0, count: shapeCount(outShape))
        var offset = 0
        for (s, x) in zip(shapes, inputs) {
            concatCopy(input: x, output: &y, outer: outer, inputBlock: s[axis] * inner,
                       outputBlock: outShape[axis] * inner, offset: offset * inner)
            offset += s[axis]
        }
        // Naive: output coordinate along axis picks the part.
        let want = (0..<y.count).map { i -> Int32 in
            var c = unravel(i, outShape)
            var part = 0
            while c[axis] >= shapes[part][axis] { c[axis] -= shapes[part][axis]; part += 1 }
            return inputs[part][ravel(c, shapes[part])]
        }
        #expect(y == want, "shapes \(shapes) axis \(axis)")
    }
}
