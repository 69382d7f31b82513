// Constant-mode Pad (negative pads crop).

/// Pad plan built at load time. `begin[d]`/`end[d]` are the ONNX `pads` split in halves (x1_begin,
/// x2_begin, … / x1_end, …); negative values crop. Output dim d = input[d] + begin[d] + end[d] (≥ 0).
/// Internally a dim without padding is merged into the dim before it (rank ≤ 8 afterwards).
public struct PadPlan: Sendable {
    /// The padded (or cropped) shape.
    public let outputShape: [Int]
    @usableFromInline let rank: Int
    @usableFromInline let inDims: SIMD8<Int>
    @usableFromInline let outDims: SIMD8<Int>
    @usableFromInline let begin: SIMD8<Int>
    @usableFromInline let inStrides: SIMD8<Int>
    @usableFromInline let outputCount: Int

    public init(inputShape: [Int], begin: [Int], end: [Int]) {
        precondition(begin.count == inputShape.count && end.count == inputShape.count, "pad: rank mismatch")
        var out: [Int] = []
        for d in inputShape.indices {
            let n = inputShape[d] + begin[d] + end[d]
            precondition(n >= 0, "pad: negative output dim")
            out.append(n)
        }
        outputShape = out
        outputCount = out.reduce(1, *)
        // Groups: (in, out, begin). A dim with zero pads merges into the previous group as its inner part.
        var gIn: [Int] = [], gOut: [Int] = [], gBegin: [Int] = []
        for d in inputShape.indices {
            let n = inputShape[d]
            if begin[d] == 0 && end[d] == 0 && !gIn.isEmpty {
                let last = gIn.count - 1
                gIn[last] *= n
                gOut[last] *= n
                gBegin[last] *= n
            } else {
                gIn.append(n)
                gOut.append(out[d])
                gBegin.append(begin[d])
            }
        }
        if gIn.isEmpty { gIn = [1]; gOut = [1]; gBegin = [0] }   // scalar
        precondition(gIn.count <= maxCollapsedRank, "pad: rank > 8 after collapsing")
        rank = gIn.count
        var i = SIMD8<Int>(repeating: 1), o = SIMD8<Int>(repeating: 1), b = SIMD8<Int>(repeating: 0)
        for d in 0..<rank { i[d] = gIn[d]; o[d] = gOut[d]; b[d] = gBegin[d] }
        inDims = i
        outDims = o
        self.begin = b
        inStrides = contiguousStrides(i, rank: rank)
    }
}

/// Constant-mode pad: `output[j] = input[j − begin]` where that index is inside the input, else
/// `value`. With negative `begin`/`end` the input is cropped. Input and output must not overlap.
/// Rows along the innermost (collapsed) dim are filled / block-copied.
@inlinable
public func padConstant<T>(input: UnsafePointer<T>, output: UnsafeMutablePointer<T>, value: T, plan: PadPlan) {
    if plan.outputCount == 0 { return }
    let last = plan.rank - 1
    let outInner = plan.outDims[last]
    let inInner = plan.inDims[last]
    let b = plan.begin[last]
    // Valid output columns [lo, hi) read input column j − b.
    let lo = max(0, b)
    let hi = max(lo, min(outInner, b + inInner))
    var counter = SIMD8<Int>(repeating: 0)
    var rows = 1
    for d in 0..<last { rows *= plan.outDims[d] }
    for row in 0..<rows {
        let y = output + row * outInner
        // Input row for this output row, if every outer coordinate lands inside the input.
        var inOffset = 0
        var inside = true
        for d in 0..<last {
            let c = counter[d] - plan.begin[d]
            if c < 0 || c >= plan.inDims[d] { inside = false; break }
            inOffset += c * plan.inStrides[d]
        }
        if inside && hi > lo {
            y.update(repeating: value, count: lo)
            (y + lo).update(from: input + inOffset + (lo - b), count: hi - lo)
            (y + hi).update(repeating: value, count: outInner - hi)
        } else {
            y.update(repeating: value, count: outInner)
        }
        var d = last - 1
        while d >= 0 {
            counter[d] += 1
            if counter[d] < plan.outDims[d] { break }
            counter[d] = 0
            d -= 1
        }
    }
}
