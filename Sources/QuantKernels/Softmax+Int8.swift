// QLinearSoftmax (com.microsoft) on 8-bit data, as onnxruntime computes it
// (contrib_ops/cpu/quantization/qlinear_softmax.cc, EXP_OUT_DTYPE = float):
//
// Load time, `QlinearBuildLookupTableUint32` (in Double, then stored as Float):
//   shift   = max(0, log(Double(Float.greatestFiniteMagnitude / Float(D))) − 5) / Double(xScale)
//   table[UInt8(i)] or table[UInt8(i − 128)] (signed) = Float(exp((Double(i) − 255 + shift) · Double(xScale)))
//   where D is the reduced length (opset < 13: product of dims from axis; ≥ 13: the axis size —
//   the caller's choice, passed as `reduceLength`).
// Per group of D elements (`QlinearSoftmaxCPU`):
//   uint8: t(x) = table[255 − max + x];        int8: t(x) = table[UInt8(127 − max + x)]
//   sum     = Σ t(x) in Float, in element order
//   yScaleF = floor(1 / yScale)                                   (Float)
//   y       = nearbyint((t(x) · yScaleF) / sum) + yZero, then clamp.
// Deviation: onnxruntime's int8 path casts v > 127 with wrap-around (and v > 255 to −1); we clamp
// to [qmin, qmax] and count it as saturation. (uint8: onnxruntime clamps v > 255 to 255, as we do.)
// x's zero point cancels out and is not needed. Exp/log are computed here without libm.

/// Load-time table and constants of one QLinearSoftmax node.
public struct SoftmaxInt8Parameters: Sendable {
    /// exp table (256 Floats) indexed as described in the file header.
    public let table: [Float]
    public let isSigned: Bool
    /// floor(1 / yScale).
    public let yScaleInverseFloor: Float
    public let yZero: Int32
    public let clamp: QuantizedOutputClamp

    public init<T: QuantizedScalar>(_: T.Type, xScale: Float, yScale: Float, yZero: Int32, reduceLength: Int) {
        precondition(T.bitWidth == 8, "QLinearSoftmax: 8-bit types only")
        precondition(reduceLength > 0, "QLinearSoftmax: empty reduction")
        isSigned = T.isSigned
        let limit = Float.greatestFiniteMagnitude / Float(reduceLength)
        let shift = Swift.max(0.0, softmaxLog(Double(limit)) - 5) / Double(xScale)
        var table = [Float](repeating: 0, count: 256)
        for i in 0..<256 {
            let value = softmaxExp((Double(i) - 255 + shift) * Double(xScale))
            let index = isSigned ? Int(UInt8(truncatingIfNeeded: i - 128)) : i
            table[index] = Float(value)
        }
        self.table = table
        yScaleInverseFloor = floorFloat(1 / yScale)
        self.yZero = yZero
        clamp = QuantizedOutputClamp(T.self)
    }

    /// Table index of x in a group whose maximum is `maximum` (both as Int32 values of T).
    @inline(__always)
    func index(_ x: Int32, maximum: Int32) -> Int {
        isSigned ? Int(UInt8(truncatingIfNeeded: 127 - maximum + x)) : Int(255 - maximum + x)
    }
}

/// floor for Floats without libm.
@inline(__always)
func floorFloat(_ x: Float) -> Float {
    if !(x.magnitude < 8_388_608) { return x }   // already integral (or inf/NaN)
    let t = Float(Int32(x))                       // toward zero
    return t > x ? t - 1 : t
}

/// ln 2 split so that k·ln2Hi is exact for |k| < 2^11.
private let ln2Hi: Double = 6.93147180369123816490e-01
private let ln2Lo: Double = 1.90821492927058770002e-10

/// e^x in Double without libm: x = k·ln2 + r, |r| ≤ ln2/2, Taylor series of degree 16 (error far
/// below 1 ulp of a Float, which is all the table keeps).
func softmaxExp(_ x: Double) -> Double {
    if x.isNaN { return x }
    if x > 709.7 { return .infinity }
    if x < -745.2 { return 0 }
    let q = x / (ln2Hi + ln2Lo)
    let k = Double(Int64(q >= 0 ? q + 0.5 : q - 0.5))   // nearest integer (|q| < 1100)
    let r = (x - k * ln2Hi) - k * ln2Lo
    var term: Double = 1, sum: Double = 1
    for n in 1...16 {
        term = term * r / Double(n)
        sum += term
    }
    // Scale by 2^k in two steps to stay in range near the limits.
    let k1 = Int(k) / 2, k2 = Int(k) - Int(k) / 2
    return sum * Double(sign: .plus, exponent: k1, significand: 1) * Double(sign: .plus, exponent: k2, significand: 1)
}

/// ln x in Double without libm (x > 0 finite): x = m·2^e with m in [√½, √2), ln m = 2·atanh(s),
/// s = (m − 1)/(m + 1), |s| ≤ 0.1716, series to s^41.
func softmaxLog(_ x: Double) -> Double {
    if !(x > 0) { return x == 0 ? -.infinity : .nan }
    if x.isInfinite { return x }
    var e = Int(x.exponent)
    var m = x.significand            // [1, 2)
    if m > 1.4142135623730951 { m /= 2; e += 1 }
    let s = (m - 1) / (m + 1), s2 = s * s
    var power = s, sum: Double = 0
    var n = 1
    while n <= 41 {
        sum += power / Double(n)
        power *= s2
        n += 2
    }
    return 2 * sum + (Double(e) * ln2Hi + Double(e) * ln2Lo)
}

/// QLinearSoftmax over `axisSize` elements with stride `inner`, for `outer·inner` independent groups.
public enum SoftmaxInt8 {
    /// Reference: one group at a time, in onnxruntime's order.
    public static func reference<T: QuantizedScalar>(input: UnsafePointer<T>, output: UnsafeMutablePointer<T>,
                                                     outer: Int, axisSize: Int, inner: Int,
                                                     parameters p: SoftmaxInt8Parameters,
                                                     counts: UnsafeMutablePointer<SaturationCounts>?) {
        precondition(T.bitWidth == 8, "QLinearSoftmax: 8-bit types only")
        var local = SaturationCounts()
        for o in 0..<outer {
            for i in 0..<inner {
                let base = o * axisSize * inner + i
                var maximum = Int32.min
                for a in 0..<axisSize { maximum = Swift.max(maximum, Int32(truncatingIfNeeded: input[base + a * inner])) }
                var sum: Float = 0
                for a in 0..<axisSize { sum += p.table[p.index(Int32(truncatingIfNeeded: input[base + a * inner]), maximum: maximum)] }
                for a in 0..<axisSize {
                    let t = p.table[p.index(Int32(truncatingIfNeeded: input[base + a * inner]), maximum: maximum)]
                    let v = roundHalfEvenToInt32((t * p.yScaleInverseFloor) / sum) &+ p.yZero
                    output[base + a * inner] = T(truncatingIfNeeded: p.clamp.apply(v, &local))
                }
            }
        }
        if let counts { counts.pointee.add(local) }
    }

    /// Fast path: 8 groups at once (adjacent `inner` positions, or — when inner is 1 — 8 adjacent
    /// rows), each lane summing in the reference's order, so results are bit-identical.
    @_specialize(where T == UInt8)
    @_specialize(where T == Int8)
    public static func run<T: QuantizedScalar>(input: UnsafePointer<T>, output: UnsafeMutablePointer<T>,
                                               outer: Int, axisSize: Int, inner: Int,
                                               parameters p: SoftmaxInt8Parameters,
                                               counts: UnsafeMutablePointer<SaturationCounts>?) {
        precondition(T.bitWidth == 8, "QLinearSoftmax: 8-bit types only")
        var tally = SaturationTally(p.clamp, counting: counts != nil)
        let groups = outer * inner
        // Group g starts at (g / inner)·axisSize·inner + g % inner; its elements are `inner` apart.
        p.table.withUnsafeBufferPointer { table in
            var g = 0
            var starts = SIMD8<Int>()
            while g + 8 <= groups {
                for lane in 0..<8 {
                    let group = g + lane
                    starts[lane] = (group / inner) * axisSize * inner + group % inner
                }
                var maximum = SIMD8<Int32>(repeating: Int32.min)
                for a in 0..<axisSize {
                    var v = SIMD8<Int32>()
                    for lane in 0..<8 { v[lane] = Int32(truncatingIfNeeded: input[starts[lane] + a * inner]) }
                    maximum = pointwiseMax(maximum, v)
                }
                var sum = SIMD8<Float>()
                for a in 0..<axisSize {
                    var t = SIMD8<Float>()
                    for lane in 0..<8 {
                        t[lane] = table[p.index(Int32(truncatingIfNeeded: input[starts[lane] + a * inner]), maximum: maximum[lane])]
                    }
                    sum += t
                }
                let scale = SIMD8<Float>(repeating: p.yScaleInverseFloor), zero = SIMD8<Int32>(repeating: p.yZero)
                for a in 0..<axisSize {
                    var t = SIMD8<Float>()
                    for lane in 0..<8 {
                        t[lane] = table[p.index(Int32(truncatingIfNeeded: input[starts[lane] + a * inner]), maximum: maximum[lane])]
                    }
                    let v = tally.apply(roundHalfEven8((t * scale) / sum) &+ zero)
                    for lane in 0..<8 { output[starts[lane] + a * inner] = T(truncatingIfNeeded: v[lane]) }
                }
                g += 8
            }
            while g < groups {
                let base = (g / inner) * axisSize * inner + g % inner
                var maximum = Int32.min
                for a in 0..<axisSize { maximum = Swift.max(maximum, Int32(truncatingIfNeeded: input[base + a * inner])) }
                var sum: Float = 0
                for a in 0..<axisSize { sum += table[p.index(Int32(truncatingIfNeeded: input[base + a * inner]), maximum: maximum)] }
                for a in 0..<axisSize {
                    let t = table[p.index(Int32(truncatingIfNeeded: input[base + a * inner]), maximum: maximum)]
                    let v = roundHalfEvenToInt32((t * p.yScaleInverseFloor) / sum) &+ p.yZero
                    output[base + a * inner] = T(truncatingIfNeeded: tally.apply(v))
                }
                g += 1
            }
        }
        tally.flush(into: counts, written: outer * axisSize * inner)
    }
}
