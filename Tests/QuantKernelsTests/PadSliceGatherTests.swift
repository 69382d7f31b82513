import Testing
@testable import QuantKernels
import TestSupport

private func naivePad(_ x: [Float], _ shape: [Int], _ begin: [Int], _ end: [Int], _ value: Float) -> [Float] {
    let outShape = shape.indices.map { shape[$0] + begin[$0] + end[$0] }
    return (0..<shapeCount(outShape)).map { i in
        let c = unravel(i, outShape)
        var ic = c
        for d in c.indices {
            ic[d] = c[d] - begin[d]
            if ic[d] < 0 || ic[d] >= shape[d] { return value }
        }
        return x[ravel(ic, shape)]
    }
}

@Test func padRandomIncludingNegativePads() {
    var rng = SplitMix64(seed: 61)
    for trial in 0..<400 {
        let rank = rng.int(0, 5)
        let shape = (0..<rank).map { _ in rng.int(1, trial % 4 == 0 ? 12 : 4) }
        var begin = [Int](), end = [Int]()
        for d in 0..<rank {
            // Often zero (to exercise merging); negative pads crop but keep the dim ≥ 0.
            var b = rng.int(0, 2) == 0 ? 0 : rng.int(-2, 3)
            var e = rng.int(0, 2) == 0 ? 0 : rng.int(-2, 3)
            while shape[d] + b + e < 0 { if b < 0 { b += 1 } else { e += 1 } }
            begin.append(b); end.append(e)
        }
        let x = (0..<shapeCount(shape)).map { Float($0) + 1 }
        let plan = PadPlan(inputShape: shape, begin: begin, end: end)
        let outShape = shape.indices.map { shape[$0] + begin[$0] + end[$0] }
        #expect(plan.outputShape == outShape)
        var y = [Float](repeating: .nan, count: shapeCount(outShape))
        padConstant(input: x, output: &y, value: -7, plan: plan)
        #expect(y == naivePad(x, shape, begin, end, -7), "shape \(shape) begin \(begin) end \(end)")
    }
}

@Test func padHandComputed() {
    // [2,2] padded by 1 on every side with 0.
    let plan = PadPlan(inputShape: [2, 2], begin: [1, 1], end: [1, 1])
    var y = [Int8](repeating: 9, count: 16)
    padConstant(input: [1, 2, 3, 4] as [Int8], output: &y, value: 0, plan: plan)
    #expect(y == [0, 0, 0, 0, 0, 1, 2, 0, 0, 3, 4, 0, 0, 0, 0, 0])
    // Crop: [3,3] with begin [-1,-1], end [0,-1] → [2,1]: rows 1..2, column 1.
    let crop = PadPlan(inputShape: [3, 3], begin: [-1, -1], end: [0, -1])
    #expect(crop.outputShape == [2, 1])
    var z = [Int64](repeating: 0, count: 2)
    padConstant(input: [0, 1, 2, 3, 4, 5, 6, 7, 8] as [Int64], output: &z, value: -1, plan: crop)
    #expect(z == [4, 7])
    // Mixed: crop one side, pad the other: [4] begin -2 end 3 → [2, 3, v, v, v].
    var w = [Float](repeating: 0, count: 5)
    padConstant(input: [0, 1, 2, 3] as [Float], output: &w, value: 9, plan: PadPlan(inputShape: [4], begin: [-2], end: [3]))
    #expect(w == [2, 3, 9, 9, 9])
}

/// ONNX Slice output length and normalised start for one dim (start/end as written in the model).
private func onnxSliceDim(_ dim: Int, _ start: Int, _ end: Int, _ step: Int) -> (start: Int, count: Int) {
    var s = start < 0 ? start + dim : start
    var e = end < 0 ? end + dim : end
    if step > 0 {
        s = min(max(s, 0), dim); e = min(max(e, 0), dim)
        return (s, max(0, (e - s + step - 1) / step))
    } else {
        s = min(max(s, -1), dim - 1); e = min(max(e, -1), dim - 1)
        return (s, max(0, (s - e + (-step) - 1) / (-step)))
    }
}

@Test func sliceRandomIncludingNegativeSteps() {
    var rng = SplitMix64(seed: 62)
    var sawNegative = 0
    for _ in 0..<400 {
        let rank = rng.int(1, 5)
        let shape = (0..<rank).map { _ in rng.int(1, 7) }
        var starts = [Int](), steps = [Int](), outShape = [Int]()
        for d in 0..<rank {
            let step = [1, 1, 2, 3, -1, -2, -3][rng.int(0, 6)]
            if step < 0 { sawNegative += 1 }
            let (s, n) = onnxSliceDim(shape[d], rng.int(-8, 8), rng.int(-8, 8), step)
            starts.append(n == 0 ? 0 : s); steps.append(step); outShape.append(n)
        }
        let x = (0..<shapeCount(shape)).map { Int32($0) }
        let plan = SlicePlan(inputShape: shape, starts: starts, steps: steps, outputShape: outShape)
        var y = [Int32](repeating: -1, count: shapeCount(outShape))
        slice(input: x, output: &y, plan: plan)
        let want = (0..<y.count).map { i -> Int32 in
            let c = unravel(i, outShape)
            return x[ravel(c.indices.map { starts[$0] + c[$0] * steps[$0] }, shape)]
        }
        #expect(y == want, "shape \(shape) starts \(starts) steps \(steps) out \(outShape)")
    }
    #expect(sawNegative > 100)
}

@Test func sliceHandComputed() {
    // x = [0..<10], x[::-1]
    var y = [Float](repeating: 0, count: 10)
    let x = (0..<10).map { Float($0) }
    slice(input: x, output: &y, plan: SlicePlan(inputShape: [10], starts: [9], steps: [-1], outputShape: [10]))
    #expect(y == [9, 8, 7, 6, 5, 4, 3, 2, 1, 0])
    // [3,4]: rows 2,0 (step -2), columns 1..3 (step 1) → [[9,10,11],[1,2,3]]
    var z = [Float](repeating: 0, count: 6)
    let m = (0..<12).map { Float($0) }
    slice(input: m, output: &z, plan: SlicePlan(inputShape: [3, 4], starts: [2, 1], steps: [-2, 1], outputShape: [2, 3]))
    #expect(z == [9, 10, 11, 1, 2, 3])
    // Contiguous inner block merges into a single copy: [2,3,4] rows 1.. of dim 0.
    var w = [Float](repeating: 0, count: 12)
    let t = (0..<24).map { Float($0) }
    slice(input: t, output: &w, plan: SlicePlan(inputShape: [2, 3, 4], starts: [1, 0, 0], steps: [1, 1, 1], outputShape: [1, 3, 4]))
    #expect(w == Array(t[12...]))
}

@Test func gatherNegativeAndOutOfRangeIndices() {
    var rng = SplitMix64(seed: 63)
    for _ in 0..<200 {
        let outer = rng.int(1, 4), axis = rng.int(1, 6), inner = rng.int(1, 5)
        let k = rng.int(0, 6)
        let indices = (0..<k).map { _ in Int64(rng.int(-axis - 1, axis)) }   // includes ±out of range
        let data = (0..<outer * axis * inner).map { Float($0) + 1 }
        var y = [Float](repeating: .nan, count: outer * k * inner)
        gather(data: data, indices: indices, indexCount: k, output: &y, outer: outer, axisSize: axis, inner: inner, zero: 0)
        var want = [Float]()
        for o in 0..<outer {
            for idx in indices {
                let i = idx < 0 ? Int(idx) + axis : Int(idx)
                for j in 0..<inner {
                    want.append(i >= 0 && i < axis ? data[(o * axis + i) * inner + j] : 0)
                }
            }
        }
        #expect(y == want, "outer \(outer) axis \(axis) inner \(inner) indices \(indices)")
    }
    // Hand: rows of a [3,2] Int32 matrix with indices [-1, 0, 7].
    var g = [Int32](repeating: 5, count: 6)
    gather(data: [1, 2, 3, 4, 5, 6] as [Int32], indices: [-1, 0, 7], indexCount: 3, output: &g,
           outer: 1, axisSize: 3, inner: 2, zero: 0)
    #expect(g == [5, 6, 1, 2, 0, 0])
    // Extreme Int64 indices never trap.
    var h = [UInt8](repeating: 1, count: 2)
    gather(data: [7, 8] as [UInt8], indices: [Int64.min, Int64.max], indexCount: 2, output: &h,
           outer: 1, axisSize: 2, inner: 1, zero: 0)
    #expect(h == [0, 0])
}
