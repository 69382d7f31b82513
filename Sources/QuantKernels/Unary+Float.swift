// Elementwise unary activations on Float32 tensors.

/// Loads 8 consecutive Floats (no alignment requirement).
@inline(__always)
func ewLoad8(_ p: UnsafePointer<Float>) -> SIMD8<Float> {
    UnsafeRawPointer(p).loadUnaligned(as: SIMD8<Float>.self)
}

/// Stores 8 consecutive Floats (no alignment requirement).
@inline(__always)
func ewStore8(_ v: SIMD8<Float>, _ p: UnsafeMutablePointer<Float>) {
    UnsafeMutableRawPointer(p).storeBytes(of: v, as: SIMD8<Float>.self)
}

/// Lane-wise clamp that lets NaN through (same rule as `FloatClamp.apply`).
@inline(__always)
func ewClamp8(_ v: SIMD8<Float>, _ lower: SIMD8<Float>, _ upper: SIMD8<Float>) -> SIMD8<Float> {
    var r = v.replacing(with: lower, where: v .< lower)
    r = r.replacing(with: upper, where: r .> upper)
    return r
}

/// A unary activation, with its ONNX attributes already resolved.
public enum UnaryFloatOperator: Sendable, Equatable {
    /// max(0, x)
    case relu
    /// x < 0 ? alpha·x : x
    case leakyRelu(alpha: Float)
    /// min(max(x, lower), upper)
    case clip(lower: Float, upper: Float)
    /// 1 / (1 + e^−x)
    case sigmoid
    /// max(0, min(1, alpha·x + beta))
    case hardSigmoid(alpha: Float, beta: Float)
    /// x · max(0, min(1, x/6 + 0.5))
    case hardSwish
    /// tanh(x)
    case tanh
    /// x (copy)
    case identity
}

/// Elementwise unary activations over `count` contiguous Floats.
public enum UnaryFloat {
    /// Scalar semantics of one operator; the readable definition that `run` must match.
    @inline(__always)
    public static func apply(_ op: UnaryFloatOperator, _ x: Float) -> Float {
        switch op {
        case .relu:
            return x < 0 ? 0 : x
        case .leakyRelu(let alpha):
            return x < 0 ? alpha * x : x
        case .clip(let lower, let upper):
            return FloatClamp(lower: lower, upper: upper).apply(x)
        case .sigmoid:
            return kernelSigmoid(x)
        case .hardSigmoid(let alpha, let beta):
            return FloatClamp(lower: 0, upper: 1).apply(alpha * x + beta)
        case .hardSwish:
            return x * FloatClamp(lower: 0, upper: 1).apply(x * (1 / 6 as Float) + 0.5)
        case .tanh:
            return kernelTanh(x)
        case .identity:
            return x
        }
    }

    /// Reference: `output[i] = apply(op, input[i])` one element at a time.
    public static func reference(_ op: UnaryFloatOperator, input: UnsafePointer<Float>,
                                 output: UnsafeMutablePointer<Float>, count: Int) {
        for i in 0..<count {
            output[i] = apply(op, input[i])
        }
    }

    /// `output[i] = op(input[i])` for i in 0..<count. `input` and `output` may be the same buffer
    /// (in-place). All operators run 8 lanes at a time (SIMD8<Float>, with lane-exact SIMD forms
    /// of `kernelSigmoid`/`kernelTanh`) and finish the tail with the scalar form. Results equal `reference` (up to the sign of a zero).
    public static func run(_ op: UnaryFloatOperator, input: UnsafePointer<Float>,
                           output: UnsafeMutablePointer<Float>, count: Int) {
        switch op {
        case .relu:
            map8(input, output, count, { v in v.replacing(with: 0, where: v .< 0) }, { apply(.relu, $0) })
        case .leakyRelu(let alpha):
            let a = SIMD8<Float>(repeating: alpha)
            map8(input, output, count, { v in v.replacing(with: v * a, where: v .< 0) }, { apply(op, $0) })
        case .clip(let lower, let upper):
            let lo = SIMD8<Float>(repeating: lower), hi = SIMD8<Float>(repeating: upper)
            map8(input, output, count, { v in ewClamp8(v, lo, hi) }, { apply(op, $0) })
        case .hardSigmoid(let alpha, let beta):
            let a = SIMD8<Float>(repeating: alpha), b = SIMD8<Float>(repeating: beta)
            map8(input, output, count, { v in ewClamp8(v * a + b, .zero, .one) }, { apply(op, $0) })
        case .hardSwish:
            let a = SIMD8<Float>(repeating: 1 / 6 as Float), b = SIMD8<Float>(repeating: 0.5)
            map8(input, output, count, { v in v * ewClamp8(v * a + b, .zero, .one) }, { apply(op, $0) })
        case .sigmoid:
            map8(input, output, count, { v in kernelSigmoid8(v) }, { kernelSigmoid($0) })
        case .tanh:
            map8(input, output, count, { v in kernelTanh8(v) }, { kernelTanh($0) })
        case .identity:
            if UnsafePointer(output) != input {
                output.update(from: input, count: count)
            }
        }
    }

    @inline(__always)
    private static func map8(_ input: UnsafePointer<Float>, _ output: UnsafeMutablePointer<Float>, _ count: Int,
                             _ vector: (SIMD8<Float>) -> SIMD8<Float>, _ scalar: (Float) -> Float) {
        var i = 0
        while i + 8 <= count {
            ewStore8(vector(ewLoad8(input + i)), output + i)
            i += 8
        }
        while i < count {
            output[i] = scalar(input[i])
            i += 1
        }
    }
}
