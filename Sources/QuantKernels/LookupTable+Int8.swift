// 256-entry lookup tables for unary operators on 8-bit quantized data, built at load:
// QLinearSigmoid, QLinearLeakyRelu (com.microsoft) and any float unary f that sits between a
// DequantizeLinear and a QuantizeLinear. As onnxruntime builds them
// (contrib_ops/cpu/quantization/qlinear_lookup_table.cc, `QlinearBuildLookupTable`):
//   deq[i]    = xScale · Float(Int32(x_i) − xZero)          for the 256 bit patterns x_i
//   table[i]  = clamp(nearbyint(f(deq[i]) / yScale) + yZero)  (`MlasQuantizeLinear`: a true division)
// QLinearSigmoid's f is MLAS's logistic approximation (`mlasLogistic`), QLinearLeakyRelu's is
// `v >= 0 ? v : alpha · v`. A NaN f(x) quantizes to the zero point (as QuantizeLinear here does).
// Saturation: an entry whose nearbyint(f/yScale) + yZero fell outside [qmin, qmax] is flagged at
// load; `run` counts the elements that hit flagged entries.

/// A 256-entry table `q → quantize(f(dequantize(q)))` for 8-bit quantized tensors.
public struct LookupTable8: Sendable {
    /// Output bit patterns, indexed by the input's bit pattern.
    public let table: [UInt8]
    /// Per entry: 0 = in range, 1 = below qmin (low), 2 = above qmax (high).
    let saturation: [UInt8]
    /// Whether any entry saturates (otherwise `run` skips counting).
    let saturates: Bool

    /// Table from per-entry Int32 results v (before the clamp) for type `T`.
    init<T: QuantizedScalar>(_: T.Type, values: (Int) -> Int32) {
        precondition(T.bitWidth == 8, "LookupTable8: 8-bit types only")
        var table = [UInt8](repeating: 0, count: 256)
        var saturation = [UInt8](repeating: 0, count: 256)
        for bits in 0..<256 {
            let v = values(bits)
            saturation[bits] = v < T.quantizedMin ? 1 : (v > T.quantizedMax ? 2 : 0)
            let q = Swift.min(Swift.max(v, T.quantizedMin), T.quantizedMax)
            table[bits] = UInt8(truncatingIfNeeded: T(truncatingIfNeeded: q))
        }
        self.table = table
        self.saturation = saturation
        saturates = saturation.contains { $0 != 0 }
    }

    /// table[q] = clamp(nearbyint(f(xScale·(q − xZero)) / yScale) + yZero) for each 8-bit q of type `T`.
    public init<T: QuantizedScalar>(_: T.Type, inputScale: Float, inputZero: Int32, outputScale: Float, outputZero: Int32,
                                    function: (Float) -> Float) {
        self.init(T.self) { bits in
            let x = Int32(truncatingIfNeeded: T(truncatingIfNeeded: UInt8(bits)))
            let y = function(inputScale * Float(x - inputZero))
            return roundHalfEvenToInt32(y / outputScale) &+ outputZero
        }
    }

    /// Maps `count` elements through the table (8 at a time); `output` may alias `input`.
    /// `counts` nil: no counting; otherwise low/high from the flagged entries and `total += count`.
    public func run<T: QuantizedScalar>(input: UnsafePointer<T>, output: UnsafeMutablePointer<T>, count: Int,
                                        counts: UnsafeMutablePointer<SaturationCounts>?) {
        precondition(T.bitWidth == 8, "LookupTable8: 8-bit types only")
        // Counting is a separate pass over the input, done first (output may alias input), and only
        // when some entry saturates at all.
        if let counts {
            counts.pointee.total += count
            if saturates {
                countSaturation(input: UnsafeRawPointer(input).assumingMemoryBound(to: UInt8.self), count: count, counts: counts)
            }
        }
        table.withUnsafeBufferPointer { t in
            var i = 0
            while i + 8 <= count {
                var lanes = SIMD8<UInt8>()
                for lane in 0..<8 { lanes[lane] = t[Int(UInt8(truncatingIfNeeded: input[i + lane]))] }
                for lane in 0..<8 { output[i + lane] = T(truncatingIfNeeded: lanes[lane]) }
                i += 8
            }
            while i < count {
                output[i] = T(truncatingIfNeeded: t[Int(UInt8(truncatingIfNeeded: input[i]))])
                i += 1
            }
        }
    }

    /// Reference: one element at a time, counting per element.
    public func reference<T: QuantizedScalar>(input: UnsafePointer<T>, output: UnsafeMutablePointer<T>, count: Int,
                                              counts: UnsafeMutablePointer<SaturationCounts>?) {
        precondition(T.bitWidth == 8, "LookupTable8: 8-bit types only")
        var local = SaturationCounts()
        for i in 0..<count {
            let index = Int(UInt8(truncatingIfNeeded: input[i]))
            local.total += 1
            if saturation[index] == 1 { local.low += 1 }
            if saturation[index] == 2 { local.high += 1 }
            output[i] = T(truncatingIfNeeded: table[index])
        }
        if let counts { counts.pointee.add(local) }
    }

    private func countSaturation(input: UnsafePointer<UInt8>, count: Int, counts: UnsafeMutablePointer<SaturationCounts>) {
        saturation.withUnsafeBufferPointer { s in
            var low = 0, high = 0
            for i in 0..<count {
                let flag = s[Int(input[i])]
                low += flag == 1 ? 1 : 0
                high += flag == 2 ? 1 : 0
            }
            counts.pointee.low += low
            counts.pointee.high += high
        }
    }

    // MARK: onnxruntime's unary functions

    /// MLAS's logistic (`MlasLogisticKernel`, core/mlas/lib/logistic.cpp; the Eigen rational
    /// approximation), with the fused multiply-adds of its FMA3 kernel: clamp x to [−18, 18],
    /// p = x·P(x²), q = Q(x²), result clamp(p/q + 0.5, 0, 1). NaN stays NaN.
    public static func mlasLogistic(_ input: Float) -> Float {
        if input.isNaN { return input }
        let x = Swift.min(Swift.max(input, -18.0), 18.0)
        let x2 = x * x
        var p = fusedMultiplyAdd(x2, 4.37031012579801e-11, 1.15627324459942e-07)
        p = fusedMultiplyAdd(p, x2, 6.08574864600143e-05)
        p = fusedMultiplyAdd(p, x2, 8.51377133304701e-03)
        p = fusedMultiplyAdd(p, x2, 2.48287947061529e-01)
        p = p * x
        var q = fusedMultiplyAdd(x2, 6.10247389755681e-13, 5.76102136993427e-09)
        q = fusedMultiplyAdd(q, x2, 6.29106785017040e-06)
        q = fusedMultiplyAdd(q, x2, 1.70198817374094e-03)
        q = fusedMultiplyAdd(q, x2, 1.16817656904453e-01)
        q = fusedMultiplyAdd(q, x2, 9.93151921023180e-01)
        return Swift.min(Swift.max(p / q + 0.5, 0), 1)
    }

    /// QLinearSigmoid's table.
    public static func sigmoid<T: QuantizedScalar>(_: T.Type, inputScale: Float, inputZero: Int32,
                                                   outputScale: Float, outputZero: Int32) -> LookupTable8 {
        LookupTable8(T.self, inputScale: inputScale, inputZero: inputZero, outputScale: outputScale,
                     outputZero: outputZero, function: mlasLogistic)
    }

    /// QLinearLeakyRelu's table (`v >= 0 ? v : alpha * v`).
    public static func leakyRelu<T: QuantizedScalar>(_: T.Type, alpha: Float, inputScale: Float, inputZero: Int32,
                                                     outputScale: Float, outputZero: Int32) -> LookupTable8 {
        LookupTable8(T.self, inputScale: inputScale, inputZero: inputZero, outputScale: outputScale,
                     outputZero: outputZero, function: { $0 >= 0 ? $0 : alpha * $0 })
    }
}
