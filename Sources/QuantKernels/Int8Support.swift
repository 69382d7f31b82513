// Internal SIMD helpers shared by the element-wise int8 kernels (QLinearAdd/Mul, pools, lookup
// tables, softmax, concat, DynamicQuantizeLinear). The quantization rule itself is written once,
// in Requantize.swift; these are only its 8-lane building blocks.

/// 8 quantized values widened to Int32 (lane-wise; LLVM turns the loop into a load + extend).
@inline(__always)
func loadWidened8<T: QuantizedScalar>(_ p: UnsafePointer<T>) -> SIMD8<Int32> {
    var v = SIMD8<Int32>()
    for lane in 0..<8 { v[lane] = Int32(truncatingIfNeeded: p[lane]) }
    return v
}

/// Int32 lanes → Float lanes (exact for |v| < 2^24, otherwise round to nearest even like `cvtdq2ps`).
@inline(__always)
func floatLanes(_ v: SIMD8<Int32>) -> SIMD8<Float> {
    var f = SIMD8<Float>()
    for lane in 0..<8 { f[lane] = Float(v[lane]) }
    return f
}

/// Lane-wise `roundHalfEvenToInt32`, for results that are then clamped to a 16-bit range: values
/// beyond ±2^22 become ±2^22 (still beyond any 16-bit bound, so clamping and counting agree with
/// the scalar rule) and NaN becomes 0, as in `roundHalfEvenToInt32`.
@inline(__always)
func roundHalfEven8(_ f: SIMD8<Float>) -> SIMD8<Int32> {
    // Whole-vector form of `roundHalfEvenSmall(clampToRoundingRange(_))` (compares and blends, no
    // per-lane branches): NaN → 0, clamp to ±2^22, then + 1.5·2^23 rounds half-to-even (spacing 1
    // on [2^23, 2^24]) and the bit pattern minus the magic's is the integer.
    let bound = SIMD8<Float>(repeating: 4_194_304.0)
    var y = f
    y.replace(with: SIMD8<Float>(), where: .!(y .== y))
    y.replace(with: bound, where: y .> bound)
    y.replace(with: -bound, where: y .< -bound)
    let shifted = y + SIMD8<Float>(repeating: roundingMagic)
    return unsafeBitCast(shifted, to: SIMD8<Int32>.self) &- SIMD8<Int32>(repeating: roundingMagicBits)
}

/// `z + x·y` with a single rounding (fused multiply-add), as MLAS's AVX2 kernels compute it.
///
/// On arm64, and on x86-64 built for Haswell (`QUANTKERNELS_FMA`, see Package.swift), this is the
/// fused instruction. Without FMA (`addingProduct` would be a libm call per lane) the exact product is formed in Double
/// (x·y of two Floats has ≤ 48 significant bits) and the sum rounded back to Float. That equals the
/// true fused result unless the Double sum itself had to round and landed exactly on a Float
/// rounding tie — impossible for the operands the int8 kernels pass (an 8/16-bit integer x, and
/// y, z of similar magnitude), and in any case the same in the reference and the fast path.
@inline(__always)
func fusedMultiplyAdd(_ x: Float, _ y: Float, _ z: Float) -> Float {
    #if arch(arm64) || QUANTKERNELS_FMA
    return z.addingProduct(x, y)
    #else
    return Float(Double(x) * Double(y) + Double(z))
    #endif
}

/// Lane-wise `fusedMultiplyAdd(x, y, z)`.
@inline(__always)
func fusedMultiplyAdd8(_ x: SIMD8<Float>, _ y: SIMD8<Float>, _ z: SIMD8<Float>) -> SIMD8<Float> {
    #if arch(arm64) || QUANTKERNELS_FMA
    return z.addingProduct(x, y)
    #else
    var r = SIMD8<Float>()
    for lane in 0..<8 { r[lane] = Float(Double(x[lane]) * Double(y[lane]) + Double(z[lane])) }
    return r
    #endif
}

/// The q-domain output clamp of an int8 kernel plus its saturation-counting flags
/// (the `lower/upper/qmin/qmax/countLow/countHigh` part of a `Requantization`).
public struct QuantizedOutputClamp: Sendable, Equatable {
    public var lower: Int32, upper: Int32
    public var qmin: Int32, qmax: Int32
    public var countLow: Bool, countHigh: Bool

    public init(lower: Int32, upper: Int32, qmin: Int32, qmax: Int32, countLow: Bool, countHigh: Bool) {
        precondition(qmin <= qmax && lower <= upper, "QuantizedOutputClamp: empty range")
        self.lower = lower
        self.upper = upper
        self.qmin = qmin
        self.qmax = qmax
        self.countLow = countLow
        self.countHigh = countHigh
    }

    /// The full range of `T`, counting both ends (no fused activation).
    public init<T: QuantizedScalar>(_: T.Type) {
        self.init(lower: T.quantizedMin, upper: T.quantizedMax, qmin: T.quantizedMin, qmax: T.quantizedMax,
                  countLow: true, countHigh: true)
    }

    /// Output of type `T` with scale/zero point and an optional fused real-valued clamp, quantized
    /// as `Requantization.make` does (a fused floor ≥ qmin is not counted as saturation, etc.).
    public init<T: QuantizedScalar>(_: T.Type, outputScale: Float, outputZero: Int32, activation: FloatClamp) {
        let r = Requantization.make(T.self, multipliers: [1], zeroPoint: outputZero, outputScale: outputScale,
                                    activation: activation)
        self.init(lower: r.lower, upper: r.upper, qmin: r.qmin, qmax: r.qmax, countLow: r.countLow, countHigh: r.countHigh)
    }

    /// Scalar reference: counts v against qmin/qmax (and `total`), returns clamp(v, lower, upper).
    @inline(__always)
    func apply(_ v: Int32, _ counts: inout SaturationCounts) -> Int32 {
        counts.total += 1
        if countLow && v < qmin { counts.low += 1 }
        if countHigh && v > qmax { counts.high += 1 }
        return Swift.min(Swift.max(v, lower), upper)
    }
}

/// Vector saturation counters for one kernel call: per-lane Int32 tallies (a call writes far fewer
/// than 2^31 elements per lane), flushed into a `SaturationCounts` at the end of the call.
struct SaturationTally {
    let active: Bool
    let countLow: Bool, countHigh: Bool
    let qmin: SIMD8<Int32>, qmax: SIMD8<Int32>
    let lower: SIMD8<Int32>, upper: SIMD8<Int32>
    let clamp: QuantizedOutputClamp
    var low = SIMD8<Int32>()
    var high = SIMD8<Int32>()
    var scalar = SaturationCounts()
    /// Whether this call counts its spans in two passes (`TwoPassCounting`), and whether one had to
    /// count again.
    var twoPass = false, recounted = false

    @inline(__always)
    init(_ clamp: QuantizedOutputClamp, counting: Bool) {
        self.clamp = clamp
        active = counting
        countLow = counting && clamp.countLow
        countHigh = counting && clamp.countHigh
        qmin = SIMD8(repeating: clamp.qmin)
        qmax = SIMD8(repeating: clamp.qmax)
        lower = SIMD8(repeating: clamp.lower)
        upper = SIMD8(repeating: clamp.upper)
    }

    /// Counts 8 values and returns them clamped to [lower, upper].
    @inline(__always)
    mutating func apply(_ v: SIMD8<Int32>) -> SIMD8<Int32> {
        // Whole-vector compares: a true lane's mask is −1 (all bits), so subtracting it counts one
        // (vpcmpgtd + vpsubd; the register-tally pattern of Int8Requantizer8).
        if countLow {
            low &-= unsafeBitCast(v .< qmin, to: SIMD8<Int32>.self)
        }
        if countHigh {
            high &-= unsafeBitCast(v .> qmax, to: SIMD8<Int32>.self)
        }
        // Lane-wise max/min (vpmaxsd/vpminsd); the generic `clamped` is an outlined call.
        var r = v
        for lane in 0..<8 { r[lane] = Swift.min(Swift.max(v[lane], lower[lane]), upper[lane]) }
        return r
    }

    /// Two-pass counting (`TwoPassCounting`), for kernels that can compute a span's values again
    /// (their output does not overwrite an operand): the first pass stores `clamp(v)`, uncounted,
    /// while `SpanExtremes` keeps each lane's extremes of the counted sides (a vpminsd / vpmaxsd per
    /// counted side and 8 lanes instead of a compare and a subtract); only when an extreme crossed
    /// qmin / qmax does the caller run `count` over the span's vectors again.
    @inline(__always)
    func clamp(_ v: SIMD8<Int32>) -> SIMD8<Int32> {
        var r = v
        for lane in 0..<8 { r[lane] = Swift.min(Swift.max(v[lane], lower[lane]), upper[lane]) }
        return r
    }

    /// Counts 8 values of the second pass (no clamp, nothing stored).
    @inline(__always)
    mutating func count(_ v: SIMD8<Int32>) {
        if countLow { low &-= unsafeBitCast(v .< qmin, to: SIMD8<Int32>.self) }
        if countHigh { high &-= unsafeBitCast(v .> qmax, to: SIMD8<Int32>.self) }
    }

    /// Counts one value (tails) and returns it clamped.
    @inline(__always)
    mutating func apply(_ v: Int32) -> Int32 {
        if countLow && v < clamp.qmin { scalar.low += 1 }
        if countHigh && v > clamp.qmax { scalar.high += 1 }
        return Swift.min(Swift.max(v, clamp.lower), clamp.upper)
    }

    /// Adds this call's counts (and `written` to total) to `counts`, if counting.
    @inline(__always)
    func flush(into counts: UnsafeMutablePointer<SaturationCounts>?, written: Int) {
        guard active, let counts else { return }
        var l = scalar.low, h = scalar.high
        for lane in 0..<8 {
            l += Int(low[lane])
            h += Int(high[lane])
        }
        counts.pointee.low += l
        counts.pointee.high += h
        counts.pointee.total += written
    }
}

/// When a kernel counts saturation in two passes — extremes first (a min / max per counted side and
/// vector instead of a compare and an add), exact counts only when an extreme crossed a bound — and
/// when in one. Saturation is the exception on a healthy input, so the second pass is too; under
/// drift it persists from frame to frame, and each call would pay both passes. So a step remembers
/// (`state`, one Int32 it owns: `StepBinding.countingState`): after a call that had to count again,
/// its next `exactCallsAfterCrossing` calls count in one exact pass, then two passes are tried again.
/// Without a state (nil: a kernel called on its own), every call tries two passes.
public enum TwoPassCounting {
    public static let exactCallsAfterCrossing: Int32 = 15

    /// Whether this call may count in two passes; uses up one exact call when not.
    @inline(__always)
    public static func begin(_ state: UnsafeMutablePointer<Int32>?) -> Bool {
        guard let state, state.pointee > 0 else { return true }
        state.pointee -= 1
        return false
    }

    /// Records that a two-pass call had to count again.
    @inline(__always)
    public static func crossed(_ state: UnsafeMutablePointer<Int32>?) {
        state?.pointee = exactCallsAfterCrossing
    }
}

/// 8 values of a span at an offset, computed again by two-pass counting (`BinaryInt8.vectors`).
protocol SpanValues {
    func callAsFunction(_ i: Int) -> SIMD8<Int32>
}

/// Per-lane extremes of a span's values, for `SaturationTally`'s two-pass counting. Lane loops
/// (vpminsd / vpmaxsd): the generic `pointwiseMin` and `any` are outlined calls.
struct SpanExtremes {
    var smallest = SIMD8<Int32>(repeating: .max), largest = SIMD8<Int32>(repeating: .min)

    @inline(__always)
    mutating func add(_ v: SIMD8<Int32>, low: Bool, high: Bool) {
        if low { for lane in 0..<8 { smallest[lane] = Swift.min(smallest[lane], v[lane]) } }
        if high { for lane in 0..<8 { largest[lane] = Swift.max(largest[lane], v[lane]) } }
    }

    /// Whether a lane lay below `tally`'s qmin or above its qmax, on a side it counts.
    @inline(__always)
    func crossed(_ tally: SaturationTally) -> Bool {
        var result = false
        for lane in 0..<8 {
            if tally.countLow && smallest[lane] < tally.clamp.qmin { result = true }
            if tally.countHigh && largest[lane] > tally.clamp.qmax { result = true }
        }
        return result
    }
}

/// Stores 8 already-clamped Int32 lanes as `T`.
@inline(__always)
func storeNarrowed8<T: QuantizedScalar>(_ v: SIMD8<Int32>, _ p: UnsafeMutablePointer<T>) {
    if T.bitWidth == 8 {
        // Truncated into one vector (same bits for signed and unsigned), one 8-byte store. A lane
        // loop: the generic SIMD8 `init(truncatingIfNeeded:)` is not inlined (a call per row).
        var bytes = SIMD8<UInt8>()
        for lane in 0..<8 { bytes[lane] = UInt8(truncatingIfNeeded: v[lane]) }
        UnsafeMutableRawPointer(p).storeBytes(of: bytes, as: SIMD8<UInt8>.self)
        return
    }
    for lane in 0..<8 { p[lane] = T(truncatingIfNeeded: v[lane]) }
}
