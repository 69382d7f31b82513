// Strided Slice (ONNX Slice with starts/steps resolved by the caller; steps may be negative).

/// Slice plan built at load time. Output element idx reads input element
/// `starts[d] + idx[d]·steps[d]` in every dim d. `starts` are already clamped/normalised by the
/// caller (valid input indices wherever outputShape[d] > 0), `steps` are non-zero and may be
/// negative, `outputShape` is the ONNX output shape. Size-1 output dims are folded into a base
/// offset and dims whose strides line up are merged (rank ≤ 8 afterwards).
public struct SlicePlan: Sendable {
    @usableFromInline let rank: Int
    @usableFromInline let dims: SIMD8<Int>
    /// Input stride (elements, may be negative) per collapsed output dim.
    @usableFromInline let strides: SIMD8<Int>
    @usableFromInline let base: Int
    @usableFromInline let outputCount: Int

    public init(inputShape: [Int], starts: [Int], steps: [Int], outputShape: [Int]) {
        let r = inputShape.count
        precondition(starts.count == r && steps.count == r && outputShape.count == r, "slice: rank mismatch")
        outputCount = outputShape.reduce(1, *)
        var inStride = [Int](repeating: 1, count: r)
        var s = 1
        for d in (0..<r).reversed() { inStride[d] = s; s *= inputShape[d] }
        var base = 0
        var gDims: [Int] = [], gStrides: [Int] = []
        for d in 0..<r {
            precondition(steps[d] != 0, "slice: zero step")
            if outputCount > 0 {
                precondition(starts[d] >= 0 && starts[d] < inputShape[d], "slice: start not normalised")
                let lastIndex = starts[d] + (outputShape[d] - 1) * steps[d]
                precondition(lastIndex >= 0 && lastIndex < inputShape[d], "slice: out of range")
            }
            base += starts[d] * inStride[d]
            let n = outputShape[d]
            if n == 1 { continue }
            let st = steps[d] * inStride[d]
            if let prev = gStrides.last, prev == st * n {
                // The previous dim steps exactly over this one: one longer dim.
                gDims[gDims.count - 1] *= n
                gStrides[gStrides.count - 1] = st
            } else {
                gDims.append(n)
                gStrides.append(st)
            }
        }
        if gDims.isEmpty { gDims = [1]; gStrides = [1] }
        precondition(gDims.count <= maxCollapsedRank, "slice: rank > 8 after collapsing")
        rank = gDims.count
        var dv = SIMD8<Int>(repeating: 1), sv = SIMD8<Int>(repeating: 0)
        for d in 0..<rank { dv[d] = gDims[d]; sv[d] = gStrides[d] }
        dims = dv
        strides = sv
        self.base = outputCount > 0 ? base : 0
    }
}

/// Copies the slice described by `plan` from the contiguous `input` into the contiguous `output`
/// (output in row-major order of the output shape). Input and output must not overlap.
/// Innermost runs with step 1 are block copies; other steps (incl. negative) are strided loops.
@inlinable
public func slice<T>(input: UnsafePointer<T>, output: UnsafeMutablePointer<T>, plan: SlicePlan) {
    if plan.outputCount == 0 { return }
    let last = plan.rank - 1
    let n = plan.dims[last]
    let step = plan.strides[last]
    let src0 = input + plan.base
    forEachOuterRow(outerRank: last, dims: plan.dims, stridesA: plan.strides,
                    stridesB: SIMD8<Int>(repeating: 0)) { row, inOffset, _ in
        let y = output + row * n
        if step == 1 {
            y.update(from: src0 + inOffset, count: n)
        } else {
            var x = src0 + inOffset
            for i in 0..<n {
                y[i] = x.pointee
                x += step
            }
        }
    }
}
