// Transpose (general permutation) plus the shared strided "odometer" used by the other
// data-movement and broadcast kernels in this module.

/// Largest rank a plan can hold after collapsing dims (plans keep shapes in a SIMD8<Int> so the
/// per-frame path never touches an array).
@usableFromInline let maxCollapsedRank = 8

/// Calls `body(row, offsetA, offsetB)` once for every index of the first `outerRank` dims of a
/// row-major box `dims` (row = linear index over those dims, in row-major order), where
/// offsetA/offsetB = Σ index[d]·stridesA[d] / stridesB[d]. Offsets are updated incrementally
/// like an odometer; nothing is allocated (the counter is a SIMD8<Int>).
@inlinable @inline(__always)
func forEachOuterRow(outerRank: Int, dims: SIMD8<Int>, stridesA: SIMD8<Int>, stridesB: SIMD8<Int>,
                     _ body: (_ row: Int, _ offsetA: Int, _ offsetB: Int) -> Void) {
    var rows = 1
    for d in 0..<outerRank { rows *= dims[d] }
    if rows == 0 { return }
    var counter = SIMD8<Int>(repeating: 0)
    var offsetA = 0
    var offsetB = 0
    for row in 0..<rows {
        body(row, offsetA, offsetB)
        var d = outerRank - 1
        while d >= 0 {
            counter[d] += 1
            offsetA += stridesA[d]
            offsetB += stridesB[d]
            if counter[d] < dims[d] { break }
            offsetA -= stridesA[d] * dims[d]
            offsetB -= stridesB[d] * dims[d]
            counter[d] = 0
            d -= 1
        }
    }
}

/// Row-major strides of `dims[0..<rank]`.
@inlinable
func contiguousStrides(_ dims: SIMD8<Int>, rank: Int) -> SIMD8<Int> {
    var strides = SIMD8<Int>(repeating: 0)
    var s = 1
    var d = rank - 1
    while d >= 0 {
        strides[d] = s
        s *= dims[d]
        d -= 1
    }
    return strides
}

/// Transpose plan built at load time: `output` dim j is `input` dim `permutation[j]` (ONNX `perm`).
/// Dims of size 1 are dropped and input dims that stay adjacent in the permutation are merged,
/// so e.g. NCHW→NHWC becomes a batch of [C, H·W] 2-D transposes. Rank ≤ 8 after collapsing.
public struct TransposePlan: Sendable {
    @usableFromInline enum Kind: Sendable { case copy, transpose2D, general }
    @usableFromInline let kind: Kind
    /// Collapsed output dims, in output order.
    @usableFromInline let outDims: SIMD8<Int>
    /// Input stride of each collapsed output dim.
    @usableFromInline let inStrides: SIMD8<Int>
    @usableFromInline let rank: Int
    @usableFromInline let count: Int

    /// `permutation` must be a permutation of 0..<inputShape.count.
    public init(inputShape: [Int], permutation: [Int]) {
        precondition(inputShape.count == permutation.count, "transpose: perm rank mismatch")
        var seen = [Bool](repeating: false, count: permutation.count)
        for p in permutation {
            precondition(p >= 0 && p < permutation.count && !seen[p], "transpose: not a permutation")
            seen[p] = true
        }
        count = inputShape.reduce(1, *)
        // Keep only input dims > 1, renumbered.
        var keptIndex = [Int](repeating: -1, count: inputShape.count)
        var keptShape: [Int] = []
        for (d, n) in inputShape.enumerated() where n != 1 {
            keptIndex[d] = keptShape.count
            keptShape.append(n)
        }
        let perm = permutation.compactMap { keptIndex[$0] >= 0 ? keptIndex[$0] : nil }
        // Merge runs of consecutive input dims that stay consecutive in the output.
        var groups: [[Int]] = []   // each group: consecutive input dims, in output order
        for p in perm {
            if var last = groups.last, last.last! + 1 == p {
                last.append(p)
                groups[groups.count - 1] = last
            } else {
                groups.append([p])
            }
        }
        // Collapsed input dims are the groups sorted by their first input dim.
        let inputOrder = groups.indices.sorted { groups[$0][0] < groups[$1][0] }
        let groupSize = groups.map { $0.reduce(1) { $0 * keptShape[$1] } }
        precondition(groups.count <= maxCollapsedRank, "transpose: rank > 8 after collapsing")
        var strideOfGroup = [Int](repeating: 0, count: groups.count)
        var s = 1
        for g in inputOrder.reversed() {
            strideOfGroup[g] = s
            s *= groupSize[g]
        }
        var dims = SIMD8<Int>(repeating: 1)
        var strides = SIMD8<Int>(repeating: 0)
        for g in groups.indices {
            dims[g] = groupSize[g]
            strides[g] = strideOfGroup[g]
        }
        outDims = dims
        inStrides = strides
        rank = groups.count
        if rank <= 1 {
            kind = .copy
        } else if rank == 2 || (rank == 3 && strides[0] == dims[1] * dims[2]) {
            // [R, C] → [C, R], or a batch of those ([B, C, R] output with batch outermost).
            kind = .transpose2D
        } else {
            kind = .general
        }
    }
}

/// Readable reference: walks every output element, decomposes its linear index into output
/// coordinates and gathers the input element through the plan's strides.
@inlinable
public func transposeReference<T>(input: UnsafePointer<T>, output: UnsafeMutablePointer<T>, plan: TransposePlan) {
    for outIndex in 0..<plan.count {
        var rest = outIndex
        var inOffset = 0
        var d = plan.rank - 1
        while d >= 0 {
            inOffset += (rest % plan.outDims[d]) * plan.inStrides[d]
            rest /= plan.outDims[d]
            d -= 1
        }
        output[outIndex] = input[inOffset]
    }
}

/// Writes the transpose of the contiguous tensor `input` (shape `plan`'s inputShape) into the
/// contiguous `output` (shape inputShape permuted). Buffers must not overlap. Fast paths: plain
/// copy when the permutation only moves size-1 dims; cache-blocked 2-D transpose (also batched,
/// which covers NCHW↔NHWC); otherwise an odometer over the collapsed output dims.
@inlinable
public func transpose<T>(input: UnsafePointer<T>, output: UnsafeMutablePointer<T>, plan: TransposePlan) {
    switch plan.kind {
    case .copy:
        output.update(from: input, count: plan.count)
    case .transpose2D:
        // Output viewed as [batch, cols, rows], input as [batch, rows, cols].
        let batch = plan.rank == 3 ? plan.outDims[0] : 1
        let cols = plan.outDims[plan.rank - 2]
        let rows = plan.outDims[plan.rank - 1]
        let plane = rows * cols
        for b in 0..<batch {
            transposePlane(input + b * plane, output + b * plane, rows: rows, cols: cols)
        }
    case .general:
        let inner = plan.outDims[plan.rank - 1]
        let innerStride = plan.inStrides[plan.rank - 1]
        forEachOuterRow(outerRank: plan.rank - 1, dims: plan.outDims, stridesA: plan.inStrides,
                        stridesB: SIMD8<Int>(repeating: 0)) { row, inOffset, _ in
            let dst = output + row * inner
            if innerStride == 1 {
                dst.update(from: input + inOffset, count: inner)
            } else {
                var src = input + inOffset
                for i in 0..<inner {
                    dst[i] = src.pointee
                    src += innerStride
                }
            }
        }
    }
}

/// `output[c][r] = input[r][c]` for a row-major [rows, cols] input, in 16×16 tiles.
@inlinable @inline(__always)
func transposePlane<T>(_ input: UnsafePointer<T>, _ output: UnsafeMutablePointer<T>, rows: Int, cols: Int) {
    let tile = 16
    var r0 = 0
    while r0 < rows {
        let r1 = min(r0 + tile, rows)
        var c0 = 0
        while c0 < cols {
            let c1 = min(c0 + tile, cols)
            for r in r0..<r1 {
                let src = input + r * cols
                for c in c0..<c1 {
                    output[c * rows + r] = src[c]
                }
            }
            c0 = c1
        }
        r0 = r1
    }
}
