import Testing
@testable import QuantKernels
import TestSupport

private func naiveReduce(_ x: [Float], _ shape: [Int], _ axes: [Int], _ kind: Int) -> [Float] {
    let r = shape.count
    let reduced = Set(axes.isEmpty ? Array(0..<r) : axes.map { $0 < 0 ? $0 + r : $0 })
    let outShape = shape.indices.map { reduced.contains($0) ? 1 : shape[$0] }
    var acc = [Double](repeating: kind == 2 ? -.infinity : 0, count: shapeCount(outShape))
    var counts = [Int](repeating: 0, count: acc.count)
    for i in 0..<x.count {
        var c = unravel(i, shape)
        for d in reduced { c[d] = 0 }
        let o = ravel(c, outShape)
        acc[o] = kind == 2 ? Swift.max(acc[o], Double(x[i])) : acc[o] + Double(x[i])
        counts[o] += 1
    }
    return acc.indices.map { Float(kind == 1 ? acc[$0] / Double(counts[$0]) : acc[$0]) }
}

@Test func reduceRandomShapesAndAxes() {
    var rng = SplitMix64(seed: 41)
    for trial in 0..<300 {
        let rank = rng.int(0, 5)
        let shape = (0..<rank).map { _ in rng.int(0, 3) == 0 ? 1 : rng.int(2, trial % 4 == 0 ? 19 : 5) }
        var axes: [Int] = []
        for d in 0..<rank where rng.bool() { axes.append(rng.bool() ? d - rank : d) }
        if rank > 0 && axes.isEmpty && rng.bool() { axes = [rng.int(0, rank - 1)] }
        let x = rng.floats(shapeCount(shape), -4, 4)
        let plan = ReducePlan(inputShape: shape, axes: axes)
        for kind in 0..<3 {
            var y = [Float](repeating: .nan, count: plan.outputCount)
            switch kind {
            case 0: ReduceFloat.sum(input: x, output: &y, plan: plan)
            case 1: ReduceFloat.mean(input: x, output: &y, plan: plan)
            default: ReduceFloat.max(input: x, output: &y, plan: plan)
            }
            let want = naiveReduce(x, shape, axes, kind)
            #expect(allClose(y, want, rtol: 1e-5, atol: 1e-5), "kind \(kind) shape \(shape) axes \(axes)")
        }
    }
}

@Test func reduceHandComputed() {
    let x: [Float] = [1, 2, 3, 4, 5, 6]   // [2, 3]
    var y = [Float](repeating: 0, count: 3)
    ReduceFloat.sum(input: x, output: &y, plan: ReducePlan(inputShape: [2, 3], axes: [0]))
    #expect(y == [5, 7, 9])
    var z = [Float](repeating: 0, count: 2)
    ReduceFloat.mean(input: x, output: &z, plan: ReducePlan(inputShape: [2, 3], axes: [-1]))
    #expect(z == [2, 5])
    ReduceFloat.max(input: x, output: &z, plan: ReducePlan(inputShape: [2, 3], axes: [1]))
    #expect(z == [3, 6])
    var all = [Float](repeating: 0, count: 1)
    let plan = ReducePlan(inputShape: [2, 3], axes: [])
    #expect(plan.outputCount == 1)
    ReduceFloat.sum(input: x, output: &all, plan: plan)
    #expect(all == [21])
    // Empty reduction: sum 0, max −inf.
    let empty = ReducePlan(inputShape: [2, 0], axes: [1])
    var e = [Float](repeating: 7, count: 2)
    ReduceFloat.sum(input: x, output: &e, plan: empty)
    #expect(e == [0, 0])
    ReduceFloat.max(input: x, output: &e, plan: empty)
    #expect(e == [-.infinity, -.infinity])
}
