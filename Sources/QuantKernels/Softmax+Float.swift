// Softmax over one axis (ONNX Softmax opset 13: a single axis; older opsets' "flatten to 2-D"
// semantics are expressed by the caller as inner == 1 with axisSize = product of trailing dims).

/// Softmax over `axisSize` elements with stride `inner`, for `outer` independent groups (max-subtracted).
public enum SoftmaxFloat {
    /// Input and output viewed as [outer, axisSize, inner]. For every (o, i):
    /// `y[o][a][i] = e^(x[o][a][i] − m) / Σ_a' e^(x[o][a'][i] − m)` with m = max_a x[o][a][i],
    /// so large inputs cannot overflow. An all −inf (or any NaN / +inf) row gives NaN, as onnxruntime.
    /// In-place (`output == input`) is allowed. Exponentials use `kernelExp`.
    public static func run(input: UnsafePointer<Float>, output: UnsafeMutablePointer<Float>,
                           outer: Int, axisSize: Int, inner: Int) {
        if axisSize == 0 { return }
        for o in 0..<outer {
            for i in 0..<inner {
                let x = input + o * axisSize * inner + i
                let y = output + o * axisSize * inner + i
                var m = x[0]
                for a in 1..<axisSize {
                    let v = x[a * inner]
                    if v > m { m = v }
                }
                var sum: Float = 0
                for a in 0..<axisSize {
                    let e = kernelExp(x[a * inner] - m)
                    y[a * inner] = e
                    sum += e
                }
                let inv = 1 / sum
                for a in 0..<axisSize {
                    y[a * inner] *= inv
                }
            }
        }
    }
}
