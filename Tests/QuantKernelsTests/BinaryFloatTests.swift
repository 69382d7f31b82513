import Testing
@testable import QuantKernels
import TestSupport

private func naive(_ op: BinaryFloatOperator, _ a: Float, _ b: Float) -> Float {
    switch op {
    case .add: return a + b
    case .sub: return a - b
    case .mul: return a * b
    case .div: return a / b
    case .max: return max(a, b)
    case .min: return min(a, b)
    case .prelu: return a < 0 ? a * b : a
    }
}

/// Numpy broadcasting done the slow way, from the original (uncollapsed) shapes.
private func naiveBroadcast(_ op: BinaryFloatOperator, _ lhs: [Float], _ lShape: [Int], _ rhs: [Float], _ rShape: [Int],
                            _ outShape: [Int], _ clamp: FloatClamp) -> [Float] {
    (0..<shapeCount(outShape)).map { i in
        let c = unravel(i, outShape)
        func index(_ shape: [Int]) -> Int {
            let lead = outShape.count - shape.count
            var k = 0
            for d in shape.indices { k = k * shape[d] + (shape[d] == 1 ? 0 : c[lead + d]) }
            return k
        }
        return clamp.apply(naive(op, lhs[index(lShape)], rhs[index(rShape)]))
    }
}

private let ops: [BinaryFloatOperator] = [.add, .sub, .mul, .div, .max, .min, .prelu]

private func check(_ op: BinaryFloatOperator, _ lShape: [Int], _ rShape: [Int], _ outShape: [Int],
                   clamp: FloatClamp = .none, rng: inout SplitMix64) -> Bool {
    let lhs = rng.floats(shapeCount(lShape), -4, 4), rhs = rng.floats(shapeCount(rShape), -4, 4).map { $0 == 0 ? 0.5 : $0 }
    let plan = BroadcastPlan(output: outShape, lhs: lShape, rhs: rShape)
    var out = [Float](repeating: .nan, count: plan.outputCount)
    var ref = out
    BinaryFloat.run(op, lhs: lhs, rhs: rhs, output: &out, plan: plan, clamp: clamp)
    BinaryFloat.reference(op, lhs: lhs, rhs: rhs, output: &ref, plan: plan, clamp: clamp)
    let want = naiveBroadcast(op, lhs, lShape, rhs, rShape, outShape, clamp)
    return out == want && ref == want && plan.outputCount == shapeCount(outShape)
}

@Test func broadcastRandomShapePairs() {
    var rng = SplitMix64(seed: 21)
    var failures = 0
    for trial in 0..<600 {
        let rank = rng.int(0, 5)
        let outShape = (0..<rank).map { _ in rng.int(0, 4) == 0 ? 1 : rng.int(2, trial % 3 == 0 ? 11 : 4) }
        func operand() -> [Int] {
            let r = rng.int(0, rank)
            return Array(outShape.suffix(r)).map { rng.int(0, 2) == 0 ? 1 : $0 }
        }
        var l = operand(), r = operand()
        if rng.int(0, 3) == 0 { l = outShape }   // make the fast shapes common
        if rng.int(0, 3) == 0 { r = outShape }
        // Output is the broadcast of l and r (it must not have dims that neither operand has).
        let out = outShape.indices.map { d -> Int in
            let ld = d - (rank - l.count), rd = d - (rank - r.count)
            return Swift.max(ld >= 0 ? l[ld] : 1, rd >= 0 ? r[rd] : 1)
        }
        let op = ops[trial % ops.count]
        let clamp = trial % 4 == 0 ? FloatClamp(lower: -1, upper: 2) : .none
        if !check(op, l, r, out, clamp: clamp, rng: &rng) {
            failures += 1
            Issue.record("\(op) \(l) \(r) -> \(out)")
        }
    }
    #expect(failures == 0)
}

@Test func broadcastFastPathShapes() {
    var rng = SplitMix64(seed: 22)
    let cases: [([Int], [Int], [Int])] = [
        ([2, 16, 9, 9], [16, 1, 1], [2, 16, 9, 9]),     // per-channel rhs
        ([16, 1, 1], [2, 16, 9, 9], [2, 16, 9, 9]),     // per-channel lhs
        ([5, 37], [37], [5, 37]),                       // row (Gemm bias)
        ([37], [5, 37], [5, 37]),
        ([3, 33], [3, 1], [3, 33]),                     // column
        ([67], [], [67]), ([], [67], [67]), ([1], [67], [67]),
        ([4, 1, 19], [1, 6, 19], [4, 6, 19]),           // both broadcast: general
        ([2, 1, 3, 1, 5], [1, 4, 1, 6, 1], [2, 4, 3, 6, 5]),
        ([], [], []), ([0, 3], [3], [0, 3]), ([1, 1], [1], [1, 1]),
        ([1, 24, 10, 10], [1, 24, 10, 10], [1, 24, 10, 10]),
    ]
    for (l, r, o) in cases {
        for op in ops {
            #expect(check(op, l, r, o, rng: &rng), "\(op) \(l) \(r)")
            #expect(check(op, l, r, o, clamp: FloatClamp(lower: 0, upper: 6), rng: &rng), "\(op) \(l) \(r) relu6")
        }
    }
}

@Test func binaryHandComputed() {
    func one(_ op: BinaryFloatOperator, _ a: [Float], _ aShape: [Int], _ b: [Float], _ bShape: [Int], _ o: [Int]) -> [Float] {
        let plan = BroadcastPlan(output: o, lhs: aShape, rhs: bShape)
        var y = [Float](repeating: 0, count: plan.outputCount)
        BinaryFloat.run(op, lhs: a, rhs: b, output: &y, plan: plan)
        return y
    }
    // [2,3] + [3]
    #expect(one(.add, [1, 2, 3, 4, 5, 6], [2, 3], [10, 20, 30], [3], [2, 3]) == [11, 22, 33, 14, 25, 36])
    // [2,1] * [1,3] outer product
    #expect(one(.mul, [1, 2], [2, 1], [3, 4, 5], [1, 3], [2, 3]) == [3, 4, 5, 6, 8, 10])
    // Division by zero is IEEE.
    let d = one(.div, [1, -1, 0, 2], [4], [0], [], [4])
    #expect(d[0] == .infinity && d[1] == -.infinity && d[2].isNaN && d[3] == .infinity)
    // PRelu with per-channel slope [2,1,1] over [1,2,2,1].
    #expect(one(.prelu, [-1, 2, -3, 4], [1, 2, 2, 1], [0.5, 0.25], [2, 1, 1], [1, 2, 2, 1]) == [-0.5, 2, -0.75, 4])
    #expect(one(.max, [1, 5, -2], [3], [3], [1], [3]) == [3, 5, 3])
    #expect(one(.min, [1, 5, -2], [3], [3], [1], [3]) == [1, 3, -2])
    #expect(one(.sub, [1], [], [1, 2, 3], [3], [3]) == [0, -1, -2])
}

@Test func binaryInPlace() {
    var rng = SplitMix64(seed: 23)
    let x = rng.floats(2 * 8 * 5, -4, 4), bias = rng.floats(8, -4, 4)
    let plan = BroadcastPlan(output: [2, 8, 5], lhs: [2, 8, 5], rhs: [8, 1])
    var buf = x
    buf.withUnsafeMutableBufferPointer { p in
        BinaryFloat.run(.add, lhs: p.baseAddress!, rhs: bias, output: p.baseAddress!, plan: plan)
    }
    #expect(buf == naiveBroadcast(.add, x, [2, 8, 5], bias, [8, 1], [2, 8, 5], .none))
}
