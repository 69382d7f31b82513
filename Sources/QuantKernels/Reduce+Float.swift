// ReduceSum / ReduceMean / ReduceMax over any set of axes.

/// Reduction plan built at load time. The output layout is the input shape with reduced dims
/// set to 1 (identical in memory for keepdims = 0 and 1). Internally size-1 dims are dropped
/// and adjacent dims of the same kind (reduced / kept) are merged (rank ≤ 8 afterwards).
public struct ReducePlan: Sendable {
    let rank: Int
    let dims: SIMD8<Int>
    /// Output stride of each collapsed input dim (0 for reduced dims).
    let outStrides: SIMD8<Int>
    let lastReduced: Bool
    /// Number of input elements folded into each output element.
    let reduceCount: Int
    /// Number of output elements.
    public let outputCount: Int

    /// `axes` may be negative (counted from the end, ONNX style) and may repeat; an empty `axes`
    /// reduces over every dim (ONNX default; the caller handles `noop_with_empty_axes`).
    public init(inputShape: [Int], axes: [Int]) {
        let r = inputShape.count
        var reduced = [Bool](repeating: axes.isEmpty, count: r)
        for a in axes {
            let axis = a < 0 ? a + r : a
            precondition(axis >= 0 && axis < r, "reduce: axis out of range")
            reduced[axis] = true
        }
        var sizes: [Int] = []
        var kinds: [Bool] = []
        var outCount = 1
        var redCount = 1
        for d in 0..<r {
            let n = inputShape[d]
            if reduced[d] { redCount *= n } else { outCount *= n }
            if n == 1 { continue }
            if let last = kinds.last, last == reduced[d] {
                sizes[sizes.count - 1] *= n
            } else {
                sizes.append(n)
                kinds.append(reduced[d])
            }
        }
        if sizes.isEmpty {   // scalar or all-ones: one element, copied through
            sizes = [1]
            kinds = [false]
        }
        precondition(sizes.count <= maxCollapsedRank, "reduce: rank > 8 after collapsing")
        var dims = SIMD8<Int>(repeating: 1)
        var strides = SIMD8<Int>(repeating: 0)
        var s = 1
        for d in sizes.indices.reversed() {
            dims[d] = sizes[d]
            if !kinds[d] { strides[d] = s; s *= sizes[d] }
        }
        rank = sizes.count
        self.dims = dims
        outStrides = strides
        lastReduced = kinds[kinds.count - 1]
        reduceCount = redCount
        outputCount = outCount
    }
}

/// Reductions of a contiguous Float tensor according to a `ReducePlan`. Input and output must
/// not overlap. The input is read once, in order; rows along the innermost dim are summed or
/// folded into the output with SIMD8 loops (so results differ from a sequential sum only by
/// float reassociation).
public enum ReduceFloat {
    /// Arithmetic mean over the reduced axes (sum · 1/count; NaN when the count is 0).
    public static func mean(input: UnsafePointer<Float>, output: UnsafeMutablePointer<Float>, plan: ReducePlan) {
        sum(input: input, output: output, plan: plan)
        let inv = 1 / Float(plan.reduceCount)
        for i in 0..<plan.outputCount { output[i] *= inv }
    }

    /// Sum over the reduced axes (0 for an empty reduction).
    public static func sum(input: UnsafePointer<Float>, output: UnsafeMutablePointer<Float>, plan: ReducePlan) {
        output.update(repeating: 0, count: plan.outputCount)
        fold(input, output, plan, { $0 + $1 }, { $0 + $1 }, horizontal: { v in v.sum() }, identity: 0)
    }

    /// Maximum over the reduced axes (−inf for an empty reduction). NaN inputs are not guaranteed
    /// to propagate.
    public static func max(input: UnsafePointer<Float>, output: UnsafeMutablePointer<Float>, plan: ReducePlan) {
        output.update(repeating: -.infinity, count: plan.outputCount)
        fold(input, output, plan, { $0 < $1 ? $1 : $0 }, { $0.replacing(with: $1, where: $0 .< $1) },
             horizontal: { v in v.max() }, identity: -.infinity)
    }

    @inline(__always)
    private static func fold(_ input: UnsafePointer<Float>, _ output: UnsafeMutablePointer<Float>, _ plan: ReducePlan,
                             _ f: (Float, Float) -> Float, _ fv: (SIMD8<Float>, SIMD8<Float>) -> SIMD8<Float>,
                             horizontal: (SIMD8<Float>) -> Float, identity: Float) {
        let last = plan.rank - 1
        let n = plan.dims[last]
        forEachOuterRow(outerRank: last, dims: plan.dims, stridesA: plan.outStrides,
                        stridesB: SIMD8<Int>(repeating: 0)) { row, outOffset, _ in
            let x = input + row * n
            let y = output + outOffset
            var i = 0
            if plan.lastReduced {
                // Reduce a contiguous run into one output element.
                var acc = SIMD8<Float>(repeating: identity)
                while i + 8 <= n { acc = fv(acc, ewLoad8(x + i)); i += 8 }
                var s = f(y[0], horizontal(acc))
                while i < n { s = f(s, x[i]); i += 1 }
                y[0] = s
            } else {
                // Fold a contiguous run into a contiguous output run.
                while i + 8 <= n { ewStore8(fv(ewLoad8(y + i), ewLoad8(x + i)), y + i); i += 8 }
                while i < n { y[i] = f(y[i], x[i]); i += 1 }
            }
        }
    }
}
