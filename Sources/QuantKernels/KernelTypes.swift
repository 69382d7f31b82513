// Shared types for the float kernels. Pure Swift (Embedded-compatible): no Foundation, no existentials.

/// Output clamp fused into a kernel's epilogue: Relu = (0, +inf), Relu6/Clip = (lo, hi), none = (-inf, +inf).
///
/// `apply` computes `min(max(x, lower), upper)`; a NaN input passes through unchanged.
public struct FloatClamp: Sendable, Equatable {
    /// Smallest value the kernel may write (`-Float.infinity` for no lower bound).
    public var lower: Float
    /// Largest value the kernel may write (`+Float.infinity` for no upper bound).
    public var upper: Float

    /// Creates a clamp; the defaults describe "no clamp".
    @inlinable
    public init(lower: Float = -Float.infinity, upper: Float = Float.infinity) {
        self.lower = lower
        self.upper = upper
    }

    /// The identity clamp (-inf, +inf).
    public static let none = FloatClamp()

    /// True when the clamp cannot change any value (both bounds infinite).
    @inlinable
    public var isNone: Bool { lower == -Float.infinity && upper == Float.infinity }

    /// `min(max(x, lower), upper)`; NaN passes through unchanged.
    @inlinable
    public func apply(_ x: Float) -> Float {
        var y = x
        if y < lower { y = lower }
        if y > upper { y = upper }
        return y
    }

    /// Lane-wise `apply` for a SIMD vector; NaN lanes pass through.
    ///
    /// Written as a per-lane loop on purpose: LLVM turns it into min/compare/blend instructions,
    /// whereas the generic `SIMD.replacing(with:where:)` stays a scalar loop.
    @inlinable @inline(__always)
    public func apply(_ x: SIMD8<Float>) -> SIMD8<Float> {
        var y = x
        for lane in 0..<8 {
            let value = y[lane]
            y[lane] = value < lower ? lower : (value > upper ? upper : value)
        }
        return y
    }
}

// MARK: - Internal SIMD helpers shared by the float kernels

@inline(__always)
internal func loadVector8(_ p: UnsafePointer<Float>) -> SIMD8<Float> {
    UnsafeRawPointer(p).loadUnaligned(as: SIMD8<Float>.self)
}

@inline(__always)
internal func loadVector16(_ p: UnsafePointer<Float>) -> SIMD16<Float> {
    UnsafeRawPointer(p).loadUnaligned(as: SIMD16<Float>.self)
}

@inline(__always)
internal func storeVector8(_ v: SIMD8<Float>, _ p: UnsafeMutablePointer<Float>) {
    UnsafeMutableRawPointer(p).storeBytes(of: v, as: SIMD8<Float>.self)
}

/// acc + a * b. Fused on aarch64 (NEON fmla). On x86-64 the baseline ISA has no FMA instruction,
/// and `addingProduct` would become a libm call per lane, so we keep a separate multiply and add.
@inline(__always)
internal func multiplyAdd(_ acc: SIMD8<Float>, _ a: SIMD8<Float>, _ b: SIMD8<Float>) -> SIMD8<Float> {
    #if arch(arm64) || QUANTKERNELS_FMA
    return acc.addingProduct(a, b)
    #else
    return acc + a * b
    #endif
}

@inline(__always)
internal func ceilDivide(_ a: Int, _ b: Int) -> Int {
    // b > 0; rounds toward +infinity for either sign of a.
    a >= 0 ? (a + b - 1) / b : -((-a) / b)
}

@inline(__always)
internal func floorDivide(_ a: Int, _ b: Int) -> Int {
    // b > 0; rounds toward -infinity for either sign of a.
    a >= 0 ? a / b : -((-a + b - 1) / b)
}
