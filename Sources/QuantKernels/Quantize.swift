// QuantizeLinear and DequantizeLinear (per tensor or per axis): reference loops, then SIMD variants.
// The rule (rounding, NaN, infinities, saturation) is written once in Requantize.swift.

/// `y = clamp(nearbyint(x / scale[c]) + zp[c], qmin, qmax)`, per tensor (channels 1) or per axis with
/// the data viewed as `[outer, channels, inner]`. NaN → the zero point (not counted); ±inf → qmax/qmin.
///
/// `counts` (optional) receives the input_out_of_range metric: `high`/`low` count elements whose
/// `nearbyint(x / scale) + zp` was above qmax / below qmin before the clamp; `total` the elements.
public enum QuantizeLinear {
    /// Readable reference: one element at a time.
    public static func reference<Y: QuantizedScalar>(
        input: UnsafePointer<Float>, output: UnsafeMutablePointer<Y>, scales: UnsafePointer<Float>,
        zeroPoints: UnsafePointer<Int32>, outer: Int, channels: Int, inner: Int,
        counts: UnsafeMutablePointer<SaturationCounts>?
    ) {
        let qmin = Int64(Y.quantizedMin), qmax = Int64(Y.quantizedMax)
        var low = 0, high = 0
        for outerIndex in 0..<outer {
            for channel in 0..<channels {
                for innerIndex in 0..<inner {
                    let index = (outerIndex * channels + channel) * inner + innerIndex
                    let v = Int64(roundHalfEvenToInt32(input[index] / scales[channel])) + Int64(zeroPoints[channel])
                    if v < qmin { low += 1 }
                    if v > qmax { high += 1 }
                    output[index] = Y(truncatingIfNeeded: min(max(v, qmin), qmax))
                }
            }
        }
        if let counts {
            counts.pointee.low += low
            counts.pointee.high += high
            counts.pointee.total += outer * channels * inner
        }
    }

    /// Fast path (SIMD8 division, magic-number rounding), bit-identical to `reference`.
    @_specialize(where Y == UInt8)
    @_specialize(where Y == Int8)
    @_specialize(where Y == UInt16)
    @_specialize(where Y == Int16)
    public static func run<Y: QuantizedScalar>(
        input: UnsafePointer<Float>, output: UnsafeMutablePointer<Y>, scales: UnsafePointer<Float>,
        zeroPoints: UnsafePointer<Int32>, outer: Int, channels: Int, inner: Int,
        counts: UnsafeMutablePointer<SaturationCounts>?, countLow: Bool = true, countHigh: Bool = true,
        countingState: UnsafeMutablePointer<Int32>? = nil
    ) {
        precondition(outer >= 0 && channels >= 0 && inner >= 0, "QuantizeLinear: negative dimension")
        let qmin = Y.quantizedMin, qmax = Y.quantizedMax
        let magic = SIMD8<Float>(repeating: roundingMagic)
        var lowCount = SIMD8<Int32>(), highCount = SIMD8<Int32>()
        var low = 0, high = 0
        // A side that is a folded activation's floor or ceiling (`countLow` / `countHigh` false) is not
        // compared: its count stays 0; the total still counts every element.
        let countingLow = counts != nil && countLow, countingHigh = counts != nil && countHigh
        // Two passes (`TwoPassCounting`): extremes first, a channel counted exactly only if they crossed.
        let twoPass = (countingLow || countingHigh) && TwoPassCounting.begin(countingState)
        var recounted = false
        defer { if recounted { TwoPassCounting.crossed(countingState) } }
        for outerIndex in 0..<outer {
            for channel in 0..<channels {
                let scale = SIMD8<Float>(repeating: scales[channel])
                let zero = zeroPoints[channel]
                // Thresholds and bounds in the shifted domain t = x/scale + 1.5·2^23 (see Requantize.swift).
                let lowThreshold = SIMD8<Float>(repeating: Float(qmin - zero) + roundingMagic)
                let highThreshold = SIMD8<Float>(repeating: Float(qmax - zero) + roundingMagic)
                let lowerBound = SIMD8<Float>(repeating: Float(qmin - zero) + roundingMagic)
                let upperBound = SIMD8<Float>(repeating: Float(qmax - zero) + roundingMagic)
                let offset = SIMD8<Int32>(repeating: roundingMagicBits - zero)
                let base = (outerIndex * channels + channel) * inner
                let source = input + base, destination = output + base
                var i = 0
                // Two passes keep each lane's smallest and largest t (one vminps / vmaxps per counted side
                // and 8 lanes, against a compare and a subtract): a channel whose extremes stay inside the
                // thresholds has no count to add; one that crossed is counted exactly by `recount`, a
                // second pass over its vector part (rare: out-of-range input is what it measures). One
                // pass (after a recent crossing) compares every vector.
                var tMin = SIMD8<Float>(repeating: .infinity), tMax = SIMD8<Float>(repeating: -.infinity)
                @inline(__always) func unclamped(_ x: SIMD8<Float>) -> SIMD8<Float> {
                    var t = x / scale + magic
                    t.replace(with: magic, where: t .!= t)  // NaN → the zero point
                    return t
                }
                @inline(__always) func clamped(_ t: SIMD8<Float>) -> SIMD8<Float> {
                    var r = t
                    for lane in 0..<8 {   // lane loops: vmaxps/vminps (t is not NaN here)
                        let value = t[lane]
                        r[lane] = value < lowerBound[lane] ? lowerBound[lane] : (value > upperBound[lane] ? upperBound[lane] : value)
                    }
                    return r
                }
                @inline(__always) func smaller(_ a: SIMD8<Float>, _ b: SIMD8<Float>) -> SIMD8<Float> {
                    var r = a
                    for lane in 0..<8 { r[lane] = b[lane] < a[lane] ? b[lane] : a[lane] }
                    return r
                }
                @inline(__always) func larger(_ a: SIMD8<Float>, _ b: SIMD8<Float>) -> SIMD8<Float> {
                    var r = a
                    for lane in 0..<8 { r[lane] = b[lane] > a[lane] ? b[lane] : a[lane] }
                    return r
                }
                // −1 in the lanes where t lies below / above the threshold (the compare's mask; the
                // tallies sum masks and are negated at the end).
                @inline(__always) func below(_ t: SIMD8<Float>) -> SIMD8<Int32> { unsafeBitCast(t .< lowThreshold, to: SIMD8<Int32>.self) }
                @inline(__always) func above(_ t: SIMD8<Float>) -> SIMD8<Int32> { unsafeBitCast(t .> highThreshold, to: SIMD8<Int32>.self) }
                @inline(__always) func recount(_ end: Int) {
                    var j = 0
                    while j + 8 <= end {
                        let t = unclamped(UnsafeRawPointer(source + j).loadUnaligned(as: SIMD8<Float>.self))
                        if countingLow { lowCount &+= below(t) }
                        if countingHigh { highCount &+= above(t) }
                        j += 8
                    }
                }
                // 16 lanes per step as two independent 8-lane halves (two divisions in flight; vdivps ymm,
                // NEON fdiv): min/max clamps, one narrowing store for 8-bit outputs.
                while i + 16 <= inner {
                    let u0 = unclamped(UnsafeRawPointer(source + i).loadUnaligned(as: SIMD8<Float>.self))
                    let u1 = unclamped(UnsafeRawPointer(source + i + 8).loadUnaligned(as: SIMD8<Float>.self))
                    if twoPass {
                        if countingLow { tMin = smaller(tMin, smaller(u0, u1)) }
                        if countingHigh { tMax = larger(tMax, larger(u0, u1)) }
                    } else {
                        if countingLow { lowCount &+= below(u0) &+ below(u1) }
                        if countingHigh { highCount &+= above(u0) &+ above(u1) }
                    }
                    let q0 = unsafeBitCast(clamped(u0), to: SIMD8<Int32>.self) &- offset
                    let q1 = unsafeBitCast(clamped(u1), to: SIMD8<Int32>.self) &- offset
                    if Y.bitWidth == 8 {
                        let bytes = SIMD16<UInt8>(truncatingIfNeeded: SIMD16<Int32>(lowHalf: q0, highHalf: q1))
                        UnsafeMutableRawPointer(destination + i).storeBytes(of: bytes, as: SIMD16<UInt8>.self)
                    } else {
                        storeNarrowed8(q0, destination + i)
                        storeNarrowed8(q1, destination + i + 8)
                    }
                    i += 16
                }
                while i + 8 <= inner {
                    let u = unclamped(UnsafeRawPointer(source + i).loadUnaligned(as: SIMD8<Float>.self))
                    if twoPass {
                        if countingLow { tMin = smaller(tMin, u) }
                        if countingHigh { tMax = larger(tMax, u) }
                    } else {
                        if countingLow { lowCount &+= below(u) }
                        if countingHigh { highCount &+= above(u) }
                    }
                    storeNarrowed8(unsafeBitCast(clamped(u), to: SIMD8<Int32>.self) &- offset, destination + i)
                    i += 8
                }
                if twoPass, (countingLow && any(tMin .< lowThreshold)) || (countingHigh && any(tMax .> highThreshold)) {
                    recounted = true
                    recount(i)
                }
                while i < inner {
                    let q = Int64(roundHalfEvenToInt32(source[i] / scales[channel])) + Int64(zero)
                    if countingLow && q < Int64(qmin) { low += 1 }
                    if countingHigh && q > Int64(qmax) { high += 1 }
                    destination[i] = Y(truncatingIfNeeded: min(max(q, Int64(qmin)), Int64(qmax)))
                    i += 1
                }
            }
        }
        if let counts {
            counts.pointee.low += low - Int(lowCount.wrappedSum())
            counts.pointee.high += high - Int(highCount.wrappedSum())
            counts.pointee.total += outer * channels * inner
        }
    }
}

/// `x = Float(Int32(q) − zp[c]) · scale[c]`, per tensor (channels 1) or per axis (`[outer, channels, inner]`).
/// The subtraction wraps for Int32 inputs (as onnxruntime's int32 arithmetic would, without trapping).
public enum DequantizeLinear {
    @_specialize(where X == UInt8)
    @_specialize(where X == Int8)
    @_specialize(where X == UInt16)
    @_specialize(where X == Int16)
    public static func run<X: QuantizedScalar>(
        input: UnsafePointer<X>, output: UnsafeMutablePointer<Float>, scales: UnsafePointer<Float>,
        zeroPoints: UnsafePointer<Int32>, outer: Int, channels: Int, inner: Int
    ) {
        precondition(outer >= 0 && channels >= 0 && inner >= 0, "DequantizeLinear: negative dimension")
        for outerIndex in 0..<outer {
            for channel in 0..<channels {
                let base = (outerIndex * channels + channel) * inner
                let scale = scales[channel], zero = zeroPoints[channel]
                let scaleVector = SIMD8<Float>(repeating: scale), zeroVector = SIMD8<Int32>(repeating: zero)
                let source = input + base, destination = output + base
                var i = 0
                if X.bitWidth == 8 {
                    while i + 8 <= inner {
                        let q = SIMD8<Int32>(truncatingIfNeeded: widen8(source + i))
                        let x = SIMD8<Float>(q &- zeroVector) * scaleVector
                        UnsafeMutableRawPointer(destination + i).storeBytes(of: x, as: SIMD8<Float>.self)
                        i += 8
                    }
                }
                while i < inner {
                    destination[i] = Float(Int32(truncatingIfNeeded: source[i]) &- zero) * scale
                    i += 1
                }
            }
        }
    }

    /// Int32 input (bias tensors, MatMulInteger/ConvInteger outputs).
    public static func run(
        input: UnsafePointer<Int32>, output: UnsafeMutablePointer<Float>, scales: UnsafePointer<Float>,
        zeroPoints: UnsafePointer<Int32>, outer: Int, channels: Int, inner: Int
    ) {
        precondition(outer >= 0 && channels >= 0 && inner >= 0, "DequantizeLinear: negative dimension")
        for outerIndex in 0..<outer {
            for channel in 0..<channels {
                let base = (outerIndex * channels + channel) * inner
                let scale = scales[channel], zero = zeroPoints[channel]
                for i in 0..<inner {
                    output[base + i] = Float(input[base + i] &- zero) * scale
                }
            }
        }
    }
}
