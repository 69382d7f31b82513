// Gather along one axis.

/// Gather along an axis: data viewed as [outer, axisSize, inner]; indices may be negative (−axisSize…axisSize−1);
/// an index out of range writes zeros for that slice instead of trapping (the caller validates at load).
///
/// output viewed as [outer, indexCount, inner]: `output[o][k][·] = data[o][indices[k]][·]`
/// (negative index + axisSize). The output index shape is the flattened `indices` shape, so
/// rank-0 indices (indexCount = 1) and multi-dim indices are handled by the caller's reshape.
/// `zero` is the value written for out-of-range indices. Data and output must not overlap.
@inlinable
public func gather<T>(data: UnsafePointer<T>, indices: UnsafePointer<Int64>, indexCount: Int,
                      output: UnsafeMutablePointer<T>, outer: Int, axisSize: Int, inner: Int, zero: T) {
    let axis64 = Int64(axisSize)
    for o in 0..<outer {
        let src = data + o * axisSize * inner
        let dst = output + o * indexCount * inner
        for k in 0..<indexCount {
            var index = indices[k]
            if index < 0 { index += axis64 }
            let y = dst + k * inner
            if index >= 0 && index < axis64 {
                // In range of axisSize (an Int), so the narrowing conversion is exact even on 32-bit.
                y.update(from: src + Int(truncatingIfNeeded: index) * inner, count: inner)
            } else {
                y.update(repeating: zero, count: inner)
            }
        }
    }
}
