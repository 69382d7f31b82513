// 2-D max/average pooling and global pooling, float32, NCHW.

/// Shape and hyper-parameters of an NCHW 2-D pooling window.
///
/// Input `[batch, channels, inHeight, inWidth]`, output `[batch, channels, outHeight, outWidth]`,
/// contiguous. Output (outY, outX) covers input rows `outY*strideHeight - padTop + filterY*dilationHeight`
/// (filterY < kernelHeight) and likewise for columns. padBottom/padRight only matter for
/// `average(countIncludePad: true)`; ceil_mode is expressed by the caller through outHeight/outWidth.
public struct Pool2DGeometry: Sendable, Equatable {
    public var batch: Int, channels: Int, inHeight: Int, inWidth: Int, outHeight: Int, outWidth: Int
    public var kernelHeight: Int, kernelWidth: Int, strideHeight: Int, strideWidth: Int
    public var dilationHeight: Int, dilationWidth: Int
    public var padTop: Int, padLeft: Int, padBottom: Int, padRight: Int

    public init(batch: Int, channels: Int, inHeight: Int, inWidth: Int, outHeight: Int, outWidth: Int,
                kernelHeight: Int, kernelWidth: Int, strideHeight: Int, strideWidth: Int,
                dilationHeight: Int, dilationWidth: Int,
                padTop: Int, padLeft: Int, padBottom: Int, padRight: Int) {
        self.batch = batch
        self.channels = channels
        self.inHeight = inHeight
        self.inWidth = inWidth
        self.outHeight = outHeight
        self.outWidth = outWidth
        self.kernelHeight = kernelHeight
        self.kernelWidth = kernelWidth
        self.strideHeight = strideHeight
        self.strideWidth = strideWidth
        self.dilationHeight = dilationHeight
        self.dilationWidth = dilationWidth
        self.padTop = padTop
        self.padLeft = padLeft
        self.padBottom = padBottom
        self.padRight = padRight
    }

    @inline(__always)
    func validate() {
        precondition(batch >= 0 && channels >= 0 && inHeight >= 0 && inWidth >= 0 && outHeight >= 0 && outWidth >= 0,
                     "Pool2D: negative dimension")
        precondition(kernelHeight >= 1 && kernelWidth >= 1, "Pool2D: kernel must be at least 1x1")
        precondition(strideHeight >= 1 && strideWidth >= 1, "Pool2D: stride must be >= 1")
        precondition(dilationHeight >= 1 && dilationWidth >= 1, "Pool2D: dilation must be >= 1")
        precondition(padTop >= 0 && padLeft >= 0 && padBottom >= 0 && padRight >= 0, "Pool2D: negative padding")
    }
}

/// NCHW float pooling. Layout: see `Pool2DGeometry`; `planes` = batch * channels for the global variants.
public enum Pool2DFloat {
    /// Index range of filter taps `f` in `0..<kernel` with `origin + f*dilation` inside `[low, high)`.
    @inline(__always)
    static func tapRange(origin: Int, kernel: Int, dilation: Int, low: Int, high: Int) -> Range<Int> {
        // origin + f*d >= low  <=>  f >= ceil((low - origin) / d)
        // origin + f*d <  high <=>  f <= floor((high - 1 - origin) / d)
        let first = Swift.max(0, ceilDivide(low - origin, dilation))
        let last = Swift.min(kernel - 1, floorDivide(high - 1 - origin, dilation))
        return first <= last ? first..<(last + 1) : first..<first
    }

    /// MaxPool: max over in-bounds taps (padding never wins); a window with no in-bounds tap gives -inf.
    ///
    /// Layout: input `[N, C, inH, inW]` → output `[N, C, outH, outW]`.
    public static func max(input: UnsafePointer<Float>, output: UnsafeMutablePointer<Float>, geometry: Pool2DGeometry) {
        let g = geometry
        g.validate()
        let planes = g.batch * g.channels
        for plane in 0..<planes {
            let inPlane = input + plane * g.inHeight * g.inWidth
            let outPlane = output + plane * g.outHeight * g.outWidth
            for outY in 0..<g.outHeight {
                let inYOrigin = outY * g.strideHeight - g.padTop
                let rows = tapRange(origin: inYOrigin, kernel: g.kernelHeight, dilation: g.dilationHeight, low: 0, high: g.inHeight)
                for outX in 0..<g.outWidth {
                    let inXOrigin = outX * g.strideWidth - g.padLeft
                    let columns = tapRange(origin: inXOrigin, kernel: g.kernelWidth, dilation: g.dilationWidth, low: 0, high: g.inWidth)
                    var best = -Float.infinity
                    for filterY in rows {
                        let inRow = inPlane + (inYOrigin + filterY * g.dilationHeight) * g.inWidth + inXOrigin
                        for filterX in columns {
                            let value = inRow[filterX * g.dilationWidth]
                            if value > best { best = value }
                        }
                    }
                    outPlane[outY * g.outWidth + outX] = best
                }
            }
        }
    }

    /// AveragePool as onnxruntime computes it: countIncludePad=false divides by in-bounds taps;
    /// true divides by the taps inside the padded extent [−padTop, inHeight+padBottom) (window clipped
    /// to it; ceil_mode overhang is not counted). A window with no tap to count gives 0.
    ///
    /// Layout: input `[N, C, inH, inW]` → output `[N, C, outH, outW]`.
    public static func average(input: UnsafePointer<Float>, output: UnsafeMutablePointer<Float>,
                               geometry: Pool2DGeometry, countIncludePad: Bool) {
        let g = geometry
        g.validate()
        let planes = g.batch * g.channels
        for plane in 0..<planes {
            let inPlane = input + plane * g.inHeight * g.inWidth
            let outPlane = output + plane * g.outHeight * g.outWidth
            for outY in 0..<g.outHeight {
                let inYOrigin = outY * g.strideHeight - g.padTop
                let rows = tapRange(origin: inYOrigin, kernel: g.kernelHeight, dilation: g.dilationHeight, low: 0, high: g.inHeight)
                let paddedRows = tapRange(origin: inYOrigin, kernel: g.kernelHeight, dilation: g.dilationHeight,
                                          low: -g.padTop, high: g.inHeight + g.padBottom)
                for outX in 0..<g.outWidth {
                    let inXOrigin = outX * g.strideWidth - g.padLeft
                    let columns = tapRange(origin: inXOrigin, kernel: g.kernelWidth, dilation: g.dilationWidth, low: 0, high: g.inWidth)
                    var sum: Float = 0
                    for filterY in rows {
                        let inRow = inPlane + (inYOrigin + filterY * g.dilationHeight) * g.inWidth + inXOrigin
                        for filterX in columns {
                            sum += inRow[filterX * g.dilationWidth]
                        }
                    }
                    let count: Int
                    if countIncludePad {
                        let paddedColumns = tapRange(origin: inXOrigin, kernel: g.kernelWidth, dilation: g.dilationWidth,
                                                     low: -g.padLeft, high: g.inWidth + g.padRight)
                        count = paddedRows.count * paddedColumns.count
                    } else {
                        count = rows.count * columns.count
                    }
                    outPlane[outY * g.outWidth + outX] = count > 0 ? sum / Float(count) : 0
                }
            }
        }
    }

    /// Global average over H*W for each (n, c). Layout: input `[planes, spatial]` → output `[planes]`.
    public static func globalAverage(input: UnsafePointer<Float>, output: UnsafeMutablePointer<Float>,
                                     planes: Int, spatial: Int) {
        precondition(planes >= 0 && spatial >= 0, "Pool2D: negative dimension")
        for plane in 0..<planes {
            let source = input + plane * spatial
            var vectorSum = SIMD8<Float>()
            var index = 0
            while index + 8 <= spatial {
                vectorSum += loadVector8(source + index)
                index += 8
            }
            var sum = vectorSum.sum()
            while index < spatial {
                sum += source[index]
                index += 1
            }
            output[plane] = spatial > 0 ? sum / Float(spatial) : 0
        }
    }

    /// Global max over H*W for each (n, c) (-inf when spatial == 0). Layout: input `[planes, spatial]` → output `[planes]`.
    public static func globalMax(input: UnsafePointer<Float>, output: UnsafeMutablePointer<Float>,
                                 planes: Int, spatial: Int) {
        precondition(planes >= 0 && spatial >= 0, "Pool2D: negative dimension")
        for plane in 0..<planes {
            let source = input + plane * spatial
            var best = -Float.infinity
            var index = 0
            if spatial >= 8 {
                var vectorBest = SIMD8<Float>(repeating: -Float.infinity)
                while index + 8 <= spatial {
                    let values = loadVector8(source + index)
                    // Per-lane select (lowers to a vector compare + blend; see FloatClamp.apply).
                    for lane in 0..<8 where values[lane] > vectorBest[lane] {
                        vectorBest[lane] = values[lane]
                    }
                    index += 8
                }
                best = vectorBest.max()
            }
            while index < spatial {
                if source[index] > best { best = source[index] }
                index += 1
            }
            output[plane] = best
        }
    }
}
