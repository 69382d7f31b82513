// Hand-written exp / tanh / sigmoid (scalar and SIMD8). Embedded Swift has no libm, so nothing
// here may call `Foundation.exp`, `Float.rounded()` (lowers to a `roundf` libcall on baseline
// x86-64) or `addingProduct` (an `fmaf` libcall without hardware FMA).

// Constants shared by the scalar and the SIMD8 forms (they must stay lane-for-lane identical).
@usableFromInline let expLog2e: Float = 1.44269504088896341
@usableFromInline let expLn2Hi: Float = 0.693359375          // few bits: k·ln2Hi is exact
@usableFromInline let expLn2Lo: Float = -2.12194440e-4
/// 1.5·2^23: adding it rounds any |t| < 2^22 to an integer (ties to even) held in the low
/// mantissa bits, so k can be read from the bit pattern without a float→int conversion.
@usableFromInline let expRoundMagic: Float = 12582912
@usableFromInline let expRoundMagicBits: Int32 = 0x4B40_0000
@usableFromInline let expUpperClamp: Float = 88.8            // e^88.8 overflows to +inf
@usableFromInline let expLowerClamp: Float = -104            // e^-104 rounds to 0

/// e^x in Float32 without libm.
///
/// Method (Cody–Waite / Cephes `expf`): x is clamped to [-104, 88.8]; `k = round(x / ln 2)`,
/// `r = x − k·ln2` computed in two parts (the high part has few bits, so `k·ln2hi` is exact),
/// so |r| ≤ ln2/2; then `e^r ≈ 1 + r + r²·P(r)` with a degree-5 minimax polynomial and finally
/// `e^x = e^r · 2^k1 · 2^k2` (k1 + k2 = k, both normal powers of two), so results in the
/// subnormal range round once and overflow goes to +inf.
///
/// Accuracy: ≤ 2 ulp for x in [-87.3, 88.72] (measured < 1 ulp in the tests); subnormal
/// results for x in (-103.98, -87.3); 0 below -104; +inf above 88.7228; NaN → NaN;
/// -inf → 0; +inf → +inf.
public func kernelExp(_ x: Float) -> Float {
    if x.isNaN { return x }
    let c = x > expUpperClamp ? expUpperClamp : (x < expLowerClamp ? expLowerClamp : x)
    let t = c * expLog2e
    let shifted = t + expRoundMagic
    let kf = shifted - expRoundMagic
    // k = shifted's mantissa minus the magic's: |k| ≤ 151, no overflow possible.
    let k = Int32(bitPattern: shifted.bitPattern) - expRoundMagicBits
    let r = (c - kf * expLn2Hi) - kf * expLn2Lo
    var p: Float = 1.9875691500e-4
    p = p * r + 1.3981999507e-3
    p = p * r + 8.3334519073e-3
    p = p * r + 4.1665795894e-2
    p = p * r + 1.6666665459e-1
    p = p * r + 5.0000001201e-1
    let er = (p * (r * r) + r) + 1
    // k is in -150...128: split it so each factor is a normal power of two (biased exponent 1...254).
    let k1 = k >> 1
    let k2 = k - k1
    let p1 = Float(bitPattern: UInt32(bitPattern: (k1 + 127) << 23))
    let p2 = Float(bitPattern: UInt32(bitPattern: (k2 + 127) << 23))
    return er * p1 * p2
}

/// Eight-lane `kernelExp`; every lane equals the scalar result bit for bit.
@inline(__always)
func kernelExp8(_ x: SIMD8<Float>) -> SIMD8<Float> {
    let upper = SIMD8<Float>(repeating: expUpperClamp), lower = SIMD8<Float>(repeating: expLowerClamp)
    // NaN lanes pass the clamp unchanged and stay NaN through the polynomial.
    let c = x.replacing(with: upper, where: x .> upper).replacing(with: lower, where: x .< lower)
    let t = c * expLog2e
    let shifted = t + expRoundMagic
    let kf = shifted - expRoundMagic
    // Wrapping integer ops: for finite lanes |k| ≤ 151 so nothing wraps; NaN lanes hold garbage
    // bits that must not trap (their result is NaN anyway).
    let k = unsafeBitCast(shifted, to: SIMD8<Int32>.self) &- expRoundMagicBits
    let r = (c - kf * expLn2Hi) - kf * expLn2Lo
    var p = SIMD8<Float>(repeating: 1.9875691500e-4)
    p = p * r + 1.3981999507e-3
    p = p * r + 8.3334519073e-3
    p = p * r + 4.1665795894e-2
    p = p * r + 1.6666665459e-1
    p = p * r + 5.0000001201e-1
    let er = (p * (r * r) + r) + 1
    let k1 = k &>> 1
    let k2 = k &- k1   // wrapping: see above
    let p1 = unsafeBitCast((k1 &+ 127) &<< 23, to: SIMD8<Float>.self)   // wrapping: see above
    let p2 = unsafeBitCast((k2 &+ 127) &<< 23, to: SIMD8<Float>.self)
    return er * p1 * p2
}

/// Hyperbolic tangent in Float32 without libm.
///
/// |x| < 0.625: odd minimax polynomial (Cephes `tanhf`), x + x³·Q(x²), keeps relative accuracy
/// near 0 (tanh(±0) = ±0). Otherwise `1 − 2/(e^{2|x|} + 1)` with the sign restored; this saturates
/// to exactly ±1 for |x| ≳ 9.01 (and for ±inf). Absolute error ≤ 1e-6 everywhere; NaN → NaN.
public func kernelTanh(_ x: Float) -> Float {
    let z = x < 0 ? -x : x
    if z >= 0.625 {
        let e = kernelExp(z + z)
        let t = 1 - 2 / (e + 1)
        return x < 0 ? -t : t
    }
    if z == 0 { return x }   // keeps the sign of ±0
    // NaN also lands here (all comparisons false) and propagates through the polynomial.
    let s = x * x
    var q: Float = -5.70498872745e-3
    q = q * s + 2.06390887954e-2
    q = q * s - 5.37397155531e-2
    q = q * s + 1.33314422036e-1
    q = q * s - 3.33332819422e-1
    return q * s * x + x
}

/// Logistic sigmoid 1 / (1 + e^{−x}) in Float32 without libm.
///
/// For x ≥ 0 computes `1/(1 + e^{−x})`; for x < 0 computes `e^x·(1/(1 + e^x))` so small results keep
/// their relative accuracy (no cancellation). Saturates to exactly 1 for large x and to 0 (via
/// subnormals) for x → −inf; NaN → NaN.
public func kernelSigmoid(_ x: Float) -> Float {
    // One division shared by both branches: e = e^(−|x|) (NaN propagates), d = 1/(1 + e).
    let e = kernelExp(x > 0 ? -x : x)
    let d = 1 / (1 + e)
    return x >= 0 ? d : e * d
}

/// Eight-lane `kernelTanh`; every lane equals the scalar result bit for bit.
@inline(__always)
func kernelTanh8(_ x: SIMD8<Float>) -> SIMD8<Float> {
    let negative = x .< 0
    let z = x.replacing(with: -x, where: negative)
    let e = kernelExp8(z + z)
    var big = 1 - 2 / (e + 1)
    big = big.replacing(with: -big, where: negative)
    let s = x * x
    var q = SIMD8<Float>(repeating: -5.70498872745e-3)
    q = q * s + 2.06390887954e-2
    q = q * s - 5.37397155531e-2
    q = q * s + 1.33314422036e-1
    q = q * s - 3.33332819422e-1
    var small = q * s * x + x
    small = small.replacing(with: x, where: z .== 0)
    return small.replacing(with: big, where: z .>= 0.625)
}

/// Eight-lane `kernelSigmoid`; every lane equals the scalar result bit for bit.
@inline(__always)
func kernelSigmoid8(_ x: SIMD8<Float>) -> SIMD8<Float> {
    let e = kernelExp8(x.replacing(with: -x, where: x .> 0))   // e^(−|x|)
    let d = 1 / (1 + e)
    return (e * d).replacing(with: d, where: x .>= 0)
}
