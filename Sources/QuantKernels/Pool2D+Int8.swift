// 2-D pooling on quantized NCHW tensors: MaxPool (no requantization), QLinearAveragePool and
// QLinearGlobalAveragePool (com.microsoft), reproducing onnxruntime's arithmetic bit for bit.
//
// QLinearAveragePool — onnxruntime contrib_ops/cpu/quantization/qlinear_pool.cc works in FLOAT:
//   deq(x)  = xScale · Float(Int32(x) − xZero)                       (`dequantize_value`)
//   sum     = Σ deq(x) over the window's in-bounds taps, row by row, left to right, in Float
//   count   = countIncludePad ? kernelH·kernelW                       (always the full kernel, also
//                                                                     for ceil_mode overhang)
//                             : inBoundsRows · inBoundsColumns
//   avg     = sum / Float(count)                                      (`AveragePool::Finalize`)
//   y       = clamp(nearbyint(avg / yScale + Float(yZero)))          (`quantize_value`)
// and when the kernel covers the whole image with no padding it falls back to the global kernel.
// QLinearAveragePool has no dilation.
//
// QLinearGlobalAveragePool — MLAS `MlasQLinearGlobalAveragePoolNchw` (core/mlas/lib/qlgavgpool.cpp,
// SSE2 path; the NEON path uses fixed point):
//   acc     = Σ Int32(x) − xZero·N                                    (exact Int32)
//   scale   = xScale / (yScale · Float(N))                            (Float, that order)
//   y       = clamp(nearbyint(Float(acc) · scale) + yZero)
// (MLAS clamps the float to [qmin − yZero, qmax − yZero] before rounding: the same result.)
// onnxruntime refuses N ≥ 2^24 or scale outside [2^-32, 256); the caller validates that at load.

/// Load-time constants of a QLinearAveragePool / QLinearGlobalAveragePool node.
public struct AveragePoolInt8Parameters: Sendable {
    public let xScale: Float, xZero: Int32, yScale: Float, yZero: Int32
    public let clamp: QuantizedOutputClamp
    /// deq(x) for the 256 bit patterns of an 8-bit input (index = UInt8(truncatingIfNeeded: x)).
    let dequantized: [Float]

    /// `T` is the element type of X and Y (8-bit: onnxruntime supports Int8/UInt8 only).
    public init<T: QuantizedScalar>(_: T.Type, xScale: Float, xZero: Int32, yScale: Float, yZero: Int32,
                                    activation: FloatClamp = .none) {
        precondition(T.bitWidth == 8, "QLinearAveragePool: 8-bit types only")
        precondition(xZero >= T.quantizedMin && xZero <= T.quantizedMax && yZero >= T.quantizedMin && yZero <= T.quantizedMax,
                     "QLinearAveragePool: zero point out of range")
        self.xScale = xScale
        self.xZero = xZero
        self.yScale = yScale
        self.yZero = yZero
        clamp = QuantizedOutputClamp(T.self, outputScale: yScale, outputZero: yZero, activation: activation)
        var table = [Float](repeating: 0, count: 256)
        for bits in 0..<256 {
            let x = Int32(truncatingIfNeeded: T(truncatingIfNeeded: UInt8(bits)))
            table[bits] = xScale * Float(x - xZero)
        }
        dequantized = table
    }

    @inline(__always)
    func dequantize<T: QuantizedScalar>(_ x: T) -> Float {
        dequantized.withUnsafeBufferPointer { $0[Int(UInt8(truncatingIfNeeded: x))] }
    }

    /// quantize_value: nearbyint(avg / yScale + Float(yZero)), before the clamp.
    @inline(__always)
    func quantize(_ average: Float) -> Int32 {
        roundHalfEvenToInt32(average / yScale + Float(yZero))
    }
}

/// NCHW pooling on quantized tensors; layout and window rules as `Pool2DGeometry`.
public enum PoolInt8 {
    // MARK: MaxPool

    /// MaxPool: max over in-bounds taps (padding never wins); same scale/zero point in and out, so
    /// no rounding and no saturation. A window with no in-bounds tap gives `T.min`.
    public static func maxReference<T: QuantizedScalar>(input: UnsafePointer<T>, output: UnsafeMutablePointer<T>,
                                                        geometry: Pool2DGeometry) {
        let g = geometry
        g.validate()
        for plane in 0..<(g.batch * g.channels) {
            let inPlane = input + plane * g.inHeight * g.inWidth
            let outPlane = output + plane * g.outHeight * g.outWidth
            for outY in 0..<g.outHeight {
                let inYOrigin = outY * g.strideHeight - g.padTop
                let rows = Pool2DFloat.tapRange(origin: inYOrigin, kernel: g.kernelHeight, dilation: g.dilationHeight,
                                                low: 0, high: g.inHeight)
                for outX in 0..<g.outWidth {
                    let inXOrigin = outX * g.strideWidth - g.padLeft
                    let columns = Pool2DFloat.tapRange(origin: inXOrigin, kernel: g.kernelWidth, dilation: g.dilationWidth,
                                                       low: 0, high: g.inWidth)
                    var best = T.min
                    for filterY in rows {
                        let inRow = inPlane + (inYOrigin + filterY * g.dilationHeight) * g.inWidth + inXOrigin
                        for filterX in columns {
                            best = Swift.max(best, inRow[filterX * g.dilationWidth])
                        }
                    }
                    outPlane[outY * g.outWidth + outX] = best
                }
            }
        }
    }

    /// MaxPool, fast: 8 adjacent outputs of a row at once where their windows are fully inside
    /// the row (interior columns), the reference loop at the borders. Same result as `maxReference`.
    @_specialize(where T == UInt8)
    @_specialize(where T == Int8)
    public static func max<T: QuantizedScalar>(input: UnsafePointer<T>, output: UnsafeMutablePointer<T>,
                                               geometry: Pool2DGeometry) {
        let g = geometry
        g.validate()
        let (firstInterior, interiorEnd) = interiorColumns(g)
        for plane in 0..<(g.batch * g.channels) {
            let inPlane = input + plane * g.inHeight * g.inWidth
            let outPlane = output + plane * g.outHeight * g.outWidth
            for outY in 0..<g.outHeight {
                let inYOrigin = outY * g.strideHeight - g.padTop
                let rows = Pool2DFloat.tapRange(origin: inYOrigin, kernel: g.kernelHeight, dilation: g.dilationHeight,
                                                low: 0, high: g.inHeight)
                let outRow = outPlane + outY * g.outWidth
                var outX = 0
                while outX < g.outWidth {
                    if outX >= firstInterior && outX + 8 <= interiorEnd {
                        var best = SIMD8<Int32>(repeating: Int32(truncatingIfNeeded: T.min))
                        let inXOrigin = outX * g.strideWidth - g.padLeft
                        for filterY in rows {
                            let inRow = inPlane + (inYOrigin + filterY * g.dilationHeight) * g.inWidth + inXOrigin
                            for filterX in 0..<g.kernelWidth {
                                let tap = inRow + filterX * g.dilationWidth
                                var v = SIMD8<Int32>()
                                if g.strideWidth == 1 {
                                    v = loadWidened8(tap)
                                } else {
                                    for lane in 0..<8 { v[lane] = Int32(truncatingIfNeeded: tap[lane * g.strideWidth]) }
                                }
                                best = pointwiseMax(best, v)
                            }
                        }
                        storeNarrowed8(best, outRow + outX)
                        outX += 8
                    } else {
                        let inXOrigin = outX * g.strideWidth - g.padLeft
                        let columns = Pool2DFloat.tapRange(origin: inXOrigin, kernel: g.kernelWidth,
                                                           dilation: g.dilationWidth, low: 0, high: g.inWidth)
                        var best = T.min
                        for filterY in rows {
                            let inRow = inPlane + (inYOrigin + filterY * g.dilationHeight) * g.inWidth + inXOrigin
                            for filterX in columns { best = Swift.max(best, inRow[filterX * g.dilationWidth]) }
                        }
                        outRow[outX] = best
                        outX += 1
                    }
                }
            }
        }
    }

    /// Output columns [first, end) whose windows lie entirely inside [0, inWidth).
    @inline(__always)
    static func interiorColumns(_ g: Pool2DGeometry) -> (Int, Int) {
        // outX·sW − padLeft ≥ 0  and  outX·sW − padLeft + (kW − 1)·dW ≤ inWidth − 1
        let first = ceilDivide(g.padLeft, g.strideWidth)
        let lastStart = g.inWidth - 1 - (g.kernelWidth - 1) * g.dilationWidth + g.padLeft
        let end = lastStart < 0 ? 0 : Swift.min(g.outWidth, floorDivide(lastStart, g.strideWidth) + 1)
        return (Swift.min(first, g.outWidth), Swift.max(end, 0))
    }

    // MARK: QLinearAveragePool

    /// True when onnxruntime runs this QLinearAveragePool through its global-average kernel:
    /// the kernel equals the input's spatial size and every pad is 0.
    public static func averageUsesGlobalKernel(_ g: Pool2DGeometry) -> Bool {
        g.kernelHeight == g.inHeight && g.kernelWidth == g.inWidth
            && g.padTop == 0 && g.padLeft == 0 && g.padBottom == 0 && g.padRight == 0
    }

    /// QLinearAveragePool reference (see the file header for the arithmetic). Dilation must be 1.
    /// `counts` nil: no counting.
    public static func averageReference<T: QuantizedScalar>(input: UnsafePointer<T>, output: UnsafeMutablePointer<T>,
                                                            geometry: Pool2DGeometry, countIncludePad: Bool,
                                                            parameters p: AveragePoolInt8Parameters,
                                                            counts: UnsafeMutablePointer<SaturationCounts>?) {
        let g = geometry
        g.validate()
        precondition(g.dilationHeight == 1 && g.dilationWidth == 1, "QLinearAveragePool: no dilation")
        if averageUsesGlobalKernel(g) {
            globalAverageReference(input: input, output: output, planes: g.batch * g.channels,
                                   spatial: g.inHeight * g.inWidth, parameters: p, counts: counts)
            return
        }
        var local = SaturationCounts()
        for plane in 0..<(g.batch * g.channels) {
            let inPlane = input + plane * g.inHeight * g.inWidth
            let outPlane = output + plane * g.outHeight * g.outWidth
            for outY in 0..<g.outHeight {
                let hStart = outY * g.strideHeight - g.padTop
                let hEnd = Swift.min(hStart + g.kernelHeight, g.inHeight)
                let rowFirst = Swift.max(hStart, 0)
                for outX in 0..<g.outWidth {
                    let wStart = outX * g.strideWidth - g.padLeft
                    let wEnd = Swift.min(wStart + g.kernelWidth, g.inWidth)
                    let columnFirst = Swift.max(wStart, 0)
                    var sum: Float = 0
                    var inY = rowFirst
                    while inY < hEnd {
                        var inX = columnFirst
                        while inX < wEnd {
                            sum += p.dequantize(inPlane[inY * g.inWidth + inX])
                            inX += 1
                        }
                        inY += 1
                    }
                    let count = countIncludePad ? g.kernelHeight * g.kernelWidth
                                                : (hEnd - rowFirst) * (wEnd - columnFirst)
                    let v = p.quantize(sum / Float(count))
                    outPlane[outY * g.outWidth + outX] = T(truncatingIfNeeded: p.clamp.apply(v, &local))
                }
            }
        }
        if let counts { counts.pointee.add(local) }
    }

    /// QLinearAveragePool, fast: 8 adjacent interior outputs per step (each lane sums its taps in the
    /// reference's order, so the Float results are identical), the reference loop at the borders.
    @_specialize(where T == UInt8)
    @_specialize(where T == Int8)
    public static func average<T: QuantizedScalar>(input: UnsafePointer<T>, output: UnsafeMutablePointer<T>,
                                                   geometry: Pool2DGeometry, countIncludePad: Bool,
                                                   parameters p: AveragePoolInt8Parameters,
                                                   counts: UnsafeMutablePointer<SaturationCounts>?) {
        let g = geometry
        g.validate()
        precondition(g.dilationHeight == 1 && g.dilationWidth == 1, "QLinearAveragePool: no dilation")
        if averageUsesGlobalKernel(g) {
            globalAverage(input: input, output: output, planes: g.batch * g.channels,
                          spatial: g.inHeight * g.inWidth, parameters: p, counts: counts)
            return
        }
        var tally = SaturationTally(p.clamp, counting: counts != nil)
        let (firstInterior, interiorEnd) = interiorColumns(g)
        let yScale = SIMD8<Float>(repeating: p.yScale), yZero = SIMD8<Float>(repeating: Float(p.yZero))
        p.dequantized.withUnsafeBufferPointer { table in
            for plane in 0..<(g.batch * g.channels) {
                let inPlane = input + plane * g.inHeight * g.inWidth
                let outPlane = output + plane * g.outHeight * g.outWidth
                for outY in 0..<g.outHeight {
                    let hStart = outY * g.strideHeight - g.padTop
                    let hEnd = Swift.min(hStart + g.kernelHeight, g.inHeight)
                    let rowFirst = Swift.max(hStart, 0)
                    let outRow = outPlane + outY * g.outWidth
                    var outX = 0
                    while outX < g.outWidth {
                        let wStart = outX * g.strideWidth - g.padLeft
                        if outX >= firstInterior && outX + 8 <= interiorEnd {
                            var sum = SIMD8<Float>()
                            var inY = rowFirst
                            while inY < hEnd {
                                let inRow = inPlane + inY * g.inWidth + wStart
                                for filterX in 0..<g.kernelWidth {
                                    var v = SIMD8<Float>()
                                    for lane in 0..<8 {
                                        v[lane] = table[Int(UInt8(truncatingIfNeeded: inRow[lane * g.strideWidth + filterX]))]
                                    }
                                    sum += v
                                }
                                inY += 1
                            }
                            let count = countIncludePad ? g.kernelHeight * g.kernelWidth : (hEnd - rowFirst) * g.kernelWidth
                            let average = sum / SIMD8<Float>(repeating: Float(count))
                            storeNarrowed8(tally.apply(roundHalfEven8(average / yScale + yZero)), outRow + outX)
                            outX += 8
                        } else {
                            let wEnd = Swift.min(wStart + g.kernelWidth, g.inWidth)
                            let columnFirst = Swift.max(wStart, 0)
                            var sum: Float = 0
                            var inY = rowFirst
                            while inY < hEnd {
                                var inX = columnFirst
                                while inX < wEnd {
                                    sum += table[Int(UInt8(truncatingIfNeeded: inPlane[inY * g.inWidth + inX]))]
                                    inX += 1
                                }
                                inY += 1
                            }
                            let count = countIncludePad ? g.kernelHeight * g.kernelWidth
                                                        : (hEnd - rowFirst) * (wEnd - columnFirst)
                            outRow[outX] = T(truncatingIfNeeded: tally.apply(p.quantize(sum / Float(count))))
                            outX += 1
                        }
                    }
                }
            }
        }
        tally.flush(into: counts, written: g.batch * g.channels * g.outHeight * g.outWidth)
    }

    // MARK: QLinearGlobalAveragePool

    /// MLAS's requantization scale of the global average: xScale / (yScale · Float(spatial)).
    @inline(__always)
    static func globalScale(_ p: AveragePoolInt8Parameters, spatial: Int) -> Float {
        p.xScale / (p.yScale * Float(spatial))
    }

    /// QLinearGlobalAveragePool reference: input `[planes, spatial]` → output `[planes]`.
    public static func globalAverageReference<T: QuantizedScalar>(input: UnsafePointer<T>, output: UnsafeMutablePointer<T>,
                                                                  planes: Int, spatial: Int,
                                                                  parameters p: AveragePoolInt8Parameters,
                                                                  counts: UnsafeMutablePointer<SaturationCounts>?) {
        precondition(planes >= 0 && spatial >= 0, "Pool2D: negative dimension")
        let scale = globalScale(p, spatial: spatial)
        let bias = 0 &- p.xZero &* Int32(truncatingIfNeeded: spatial)
        var local = SaturationCounts()
        for plane in 0..<planes {
            var acc = bias
            for i in 0..<spatial { acc &+= Int32(truncatingIfNeeded: input[plane * spatial + i]) }
            let v = roundHalfEvenToInt32(Float(acc) * scale) &+ p.yZero
            output[plane] = T(truncatingIfNeeded: p.clamp.apply(v, &local))
        }
        if let counts { counts.pointee.add(local) }
    }

    /// QLinearGlobalAveragePool, fast: 8-lane Int32 sums (exact, so any order), 8 planes requantized at once.
    @_specialize(where T == UInt8)
    @_specialize(where T == Int8)
    public static func globalAverage<T: QuantizedScalar>(input: UnsafePointer<T>, output: UnsafeMutablePointer<T>,
                                                         planes: Int, spatial: Int,
                                                         parameters p: AveragePoolInt8Parameters,
                                                         counts: UnsafeMutablePointer<SaturationCounts>?) {
        precondition(planes >= 0 && spatial >= 0, "Pool2D: negative dimension")
        let scale = globalScale(p, spatial: spatial)
        let bias = 0 &- p.xZero &* Int32(truncatingIfNeeded: spatial)
        var tally = SaturationTally(p.clamp, counting: counts != nil)
        var sums = SIMD8<Int32>()
        var pending = 0
        for plane in 0..<planes {
            let source = input + plane * spatial
            var vectorSum = SIMD8<Int32>()
            var i = 0
            while i + 8 <= spatial {
                vectorSum &+= loadWidened8(source + i)
                i += 8
            }
            var acc = bias &+ vectorSum.wrappedSum()
            while i < spatial {
                acc &+= Int32(truncatingIfNeeded: source[i])
                i += 1
            }
            sums[pending] = acc
            pending += 1
            if pending == 8 {
                let v = roundHalfEven8(floatLanes(sums) * SIMD8<Float>(repeating: scale)) &+ SIMD8<Int32>(repeating: p.yZero)
                storeNarrowed8(tally.apply(v), output + plane - 7)
                pending = 0
            }
        }
        for k in 0..<pending {
            let v = roundHalfEvenToInt32(Float(sums[k]) * scale) &+ p.yZero
            output[planes - pending + k] = T(truncatingIfNeeded: tally.apply(v))
        }
        tally.flush(into: counts, written: planes)
    }
}
