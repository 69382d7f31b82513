// Quantized element types, saturation counters and the requantization of int32 accumulators.
// Pure Swift (Embedded-compatible): no Foundation, no libm, no existentials.
//
// # The quantization rule (the single place it is written down)
//
// A quantized tensor stores q with real value `real = scale · (q − zeroPoint)`. All rounding is
// round-half-to-even (IEEE `nearbyint` in the default rounding mode), exactly as onnxruntime's MLAS
// (`MlasRequantizeOutput`, `MlasQuantizeLinear`) does, so results agree with onnxruntime bit for bit:
//
// - QuantizeLinear: `q = clamp(nearbyint(x / scale) + zp, qmin, qmax)` — a true Float division.
//   ±inf go to qmax/qmin. NaN quantizes to the zero point (our choice: C's float→int conversion of
//   NaN is undefined, numpy gives garbage; MLAS's SSE path happens to give qmin). It is not counted.
// - DequantizeLinear: `x = Float(Int32(q) − zp) · scale`.
// - Requantization of an int32 accumulator (bias already added):
//   `v = Int32(nearbyint(Float(acc) · multiplier)) + outputZeroPoint`, then `clamp(v, lower, upper)`.
//   `Float(acc)` rounds to nearest even (like `cvtdq2ps`). The multiplier is computed at load in
//   Float as `(inputScale * weightScale[c]) / outputScale` (that order; see `multipliers(...)`).
//   The Float→Int32 conversion never traps: values beyond the Int32 range saturate (the fast
//   paths clamp the float to ±2^22 first, which cannot change v's relation to any 16-bit bound).
// - Saturation: an element counts as `high` when v (before the final clamp) > qmax and as `low`
//   when v < qmin. A fused activation's own floor/ceiling is not saturation: `countLow` is false
//   when the fused floor in the q domain is ≥ qmin, `countHigh` false when the fused ceiling is ≤ qmax.
//
// Rounding without libm: for |f| ≤ 2^22, `f + 1.5·2^23` lands in [2^23, 2^24] where the float
// spacing is 1, so the addition itself rounds f half-to-even, and the integer is the difference of
// the bit patterns. This is what the fast paths use; `Float.rounded` would be a libm call on SSE2.

/// Element types of quantized tensors: Int8, UInt8, Int16, UInt16 conform.
public protocol QuantizedScalar: FixedWidthInteger, BitwiseCopyable, Sendable {}

extension Int8: QuantizedScalar {}
extension UInt8: QuantizedScalar {}
extension Int16: QuantizedScalar {}
extension UInt16: QuantizedScalar {}

extension QuantizedScalar {
    /// The smallest representable value, as Int32 (e.g. −128 for Int8, 0 for UInt8).
    @inlinable @inline(__always)
    public static var quantizedMin: Int32 { Int32(truncatingIfNeeded: Self.min) }
    /// The largest representable value, as Int32 (e.g. 127 for Int8, 255 for UInt8).
    @inlinable @inline(__always)
    public static var quantizedMax: Int32 { Int32(truncatingIfNeeded: Self.max) }
}

/// Two counters per quantized output tensor, accumulated across calls (the caller zeroes them per window).
///
/// `total` counts every element a kernel wrote (the denominator of the saturation rate).
public struct SaturationCounts: Sendable, Equatable {
    /// Elements whose unclamped value was below qmin (and the floor was counted).
    public var low: Int
    /// Elements whose unclamped value was above qmax (and the ceiling was counted).
    public var high: Int
    /// Elements written.
    public var total: Int

    @inlinable
    public init() {
        low = 0
        high = 0
        total = 0
    }

    @inlinable
    public init(low: Int, high: Int, total: Int) {
        self.low = low
        self.high = high
        self.total = total
    }

    /// Adds another tensor's (or call's) counts.
    @inlinable
    public mutating func add(_ other: SaturationCounts) {
        low += other.low
        high += other.high
        total += other.total
    }
}

/// `nearbyint(x)` (ties to even) as Int32 without libm and without trapping: values beyond the
/// Int32 range saturate to Int32.min/Int32.max, NaN gives 0.
@inlinable @inline(__always)
public func roundHalfEvenToInt32(_ x: Float) -> Int32 {
    if !(x == x) { return 0 }
    if x >= 2_147_483_648.0 { return Int32.max }
    if x < -2_147_483_648.0 { return Int32.min }
    // |x| ≥ 2^23: already an integer, and within range.
    if x.magnitude >= 8_388_608.0 { return Int32(x) }
    // |x| < 2^23: x ± 2^23 rounds half-to-even to an integer (spacing 1 there); subtract back exactly.
    let magic: Float = x >= 0 ? 8_388_608.0 : -8_388_608.0
    return Int32((x + magic) - magic)
}

/// Requantization of one output tensor, computed at load.
///
/// `apply` is the scalar reference of the rule in this file's header: the fast kernels' SIMD
/// epilogues produce exactly the same outputs and counts.
public struct Requantization: Sendable {
    /// Count 1 (per tensor) or one per output channel/column (per channel). Finite and ≥ 0.
    public var multipliers: [Float]
    /// Output zero point.
    public var zeroPoint: Int32
    /// Final clamp: qmin/qmax narrowed by a fused activation.
    public var lower: Int32, upper: Int32
    /// The output type's range.
    public var qmin: Int32, qmax: Int32
    /// Whether values below qmin / above qmax are counted as saturation.
    public var countLow: Bool, countHigh: Bool

    public init(multipliers: [Float], zeroPoint: Int32, lower: Int32, upper: Int32,
                qmin: Int32, qmax: Int32, countLow: Bool, countHigh: Bool) {
        precondition(!multipliers.isEmpty, "Requantization: no multipliers")
        for multiplier in multipliers {
            precondition(multiplier.isFinite && multiplier >= 0, "Requantization: multiplier must be finite and ≥ 0")
        }
        precondition(qmin <= qmax && lower <= upper, "Requantization: empty range")
        precondition(qmin >= -65_536 && qmax <= 65_536, "Requantization: only 8/16-bit outputs")
        precondition(zeroPoint >= -65_536 && zeroPoint <= 65_536, "Requantization: zero point out of range")
        self.multipliers = multipliers
        self.zeroPoint = zeroPoint
        self.lower = lower
        self.upper = upper
        self.qmin = qmin
        self.qmax = qmax
        self.countLow = countLow
        self.countHigh = countHigh
    }

    /// The multipliers `(inputScale * weightScales[c]) / outputScale`, in Float, in that order
    /// (as onnxruntime's QLinearConv/QLinearMatMul compute them).
    public static func multipliers(inputScale: Float, weightScales: [Float], outputScale: Float) -> [Float] {
        weightScales.map { (inputScale * $0) / outputScale }
    }

    /// Per-tensor or per-channel requantization to output type `Y` with an optional fused real-valued
    /// clamp (ReLU: `FloatClamp(lower: 0)`, ReLU6: `FloatClamp(lower: 0, upper: 6)`).
    ///
    /// The clamp bounds are quantized with the QuantizeLinear rule (monotone, so clamping then
    /// quantizing equals quantizing then clamping to the quantized bounds). A finite floor whose
    /// unclamped q value is ≥ qmin turns off low counting; a finite ceiling ≤ qmax turns off high counting.
    public static func make<Y: QuantizedScalar>(_: Y.Type, multipliers: [Float], zeroPoint: Int32,
                                                outputScale: Float, activation: FloatClamp) -> Requantization {
        let qmin = Y.quantizedMin, qmax = Y.quantizedMax
        var lower = qmin, upper = qmax
        var countLow = true, countHigh = true
        if activation.lower > -Float.infinity {
            let floorQ = Int64(roundHalfEvenToInt32(activation.lower / outputScale)) + Int64(zeroPoint)
            if floorQ >= Int64(qmin) { countLow = false }
            lower = Int32(Swift.min(Swift.max(floorQ, Int64(qmin)), Int64(qmax)))
        }
        if activation.upper < Float.infinity {
            let ceilingQ = Int64(roundHalfEvenToInt32(activation.upper / outputScale)) + Int64(zeroPoint)
            if ceilingQ <= Int64(qmax) { countHigh = false }
            upper = Int32(Swift.min(Swift.max(ceilingQ, Int64(qmin)), Int64(qmax)))
        }
        if upper < lower { upper = lower }
        return Requantization(multipliers: multipliers, zeroPoint: zeroPoint, lower: lower, upper: upper,
                              qmin: qmin, qmax: qmax, countLow: countLow, countHigh: countHigh)
    }

    /// True when there is one multiplier for the whole tensor.
    @inlinable
    public var isPerTensor: Bool { multipliers.count == 1 }

    /// v → clamped output, updating `counts` (low/high/total); the scalar reference of the rule.
    /// `channel` selects the multiplier when per channel (ignored when per tensor).
    @inlinable
    public func apply(_ acc: Int32, channel: Int, counts: inout SaturationCounts) -> Int32 {
        let multiplier = multipliers.count == 1 ? multipliers[0] : multipliers[channel]
        let rounded = roundHalfEvenToInt32(Float(acc) * multiplier)
        let v = Int64(rounded) + Int64(zeroPoint)
        counts.total += 1
        if countLow && v < Int64(qmin) { counts.low += 1 }
        if countHigh && v > Int64(qmax) { counts.high += 1 }
        return Int32(Swift.min(Swift.max(v, Int64(lower)), Int64(upper)))
    }
}

// MARK: - Internal SIMD helpers shared by the int8 kernels' epilogues

/// 1.5·2^23: adding it to |f| ≤ 2^22 rounds f half-to-even to an integer (float spacing 1 there).
@usableFromInline internal let roundingMagic: Float = 12_582_912.0
/// The bit pattern of `roundingMagic`.
@usableFromInline internal let roundingMagicBits: Int32 = 0x4B40_0000

/// Lane-wise nearbyint(f) for |f| ≤ 2^22 (callers clamp first), as Int32.
@inlinable @inline(__always)
internal func roundHalfEvenSmall(_ f: SIMD4<Float>) -> SIMD4<Int32> {
    let shifted = f + SIMD4<Float>(repeating: roundingMagic)
    return unsafeBitCast(shifted, to: SIMD4<Int32>.self) &- SIMD4<Int32>(repeating: roundingMagicBits)
}

/// Lane-wise clamp to ±2^22 (NaN lanes become 0, via the ordered compares).
@inlinable @inline(__always)
internal func clampToRoundingRange(_ f: SIMD4<Float>) -> SIMD4<Float> {
    var y = f
    for lane in 0..<4 {
        let value = y[lane]
        y[lane] = value < 4_194_304.0 ? (value > -4_194_304.0 ? value : -4_194_304.0) : (value == value ? 4_194_304.0 : 0)
    }
    return y
}
