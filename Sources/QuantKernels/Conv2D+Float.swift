// 2-D convolution, float32, NCHW: reference loops, then fast paths (1x1 pointwise GEMM, depthwise
// SIMD rows, im2col packed straight into GEMM panels).

/// Shape and hyper-parameters of an NCHW 2-D convolution.
///
/// Input `[batch, inChannels, inHeight, inWidth]`, weights `[outChannels, inChannels/groups,
/// kernelHeight, kernelWidth]`, output `[batch, outChannels, outHeight, outWidth]`, all contiguous.
/// Output pixel (outY, outX) reads input row `outY*strideHeight - padTop + filterY*dilationHeight`
/// and column `outX*strideWidth - padLeft + filterX*dilationWidth`; bottom/right padding is implied
/// by outHeight/outWidth.
public struct Conv2DGeometry: Sendable, Equatable {
    public var batch: Int, inChannels: Int, inHeight: Int, inWidth: Int
    public var outChannels: Int, outHeight: Int, outWidth: Int
    public var kernelHeight: Int, kernelWidth: Int
    public var strideHeight: Int, strideWidth: Int
    public var dilationHeight: Int, dilationWidth: Int
    /// Bottom/right padding is implied by outHeight/outWidth.
    public var padTop: Int, padLeft: Int
    /// inChannels % groups == 0, outChannels % groups == 0.
    public var groups: Int

    public init(batch: Int, inChannels: Int, inHeight: Int, inWidth: Int,
                outChannels: Int, outHeight: Int, outWidth: Int,
                kernelHeight: Int, kernelWidth: Int,
                strideHeight: Int, strideWidth: Int,
                dilationHeight: Int, dilationWidth: Int,
                padTop: Int, padLeft: Int, groups: Int) {
        self.batch = batch
        self.inChannels = inChannels
        self.inHeight = inHeight
        self.inWidth = inWidth
        self.outChannels = outChannels
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
        self.groups = groups
    }

    /// Traps on an inconsistent geometry (negative sizes, zero stride/dilation/groups, groups not dividing channels).
    @inline(__always)
    func validate() {
        precondition(batch >= 0 && inChannels >= 0 && inHeight >= 0 && inWidth >= 0, "Conv2D: negative input dimension")
        precondition(outChannels >= 0 && outHeight >= 0 && outWidth >= 0, "Conv2D: negative output dimension")
        precondition(kernelHeight >= 1 && kernelWidth >= 1, "Conv2D: kernel must be at least 1x1")
        precondition(strideHeight >= 1 && strideWidth >= 1, "Conv2D: stride must be >= 1")
        precondition(dilationHeight >= 1 && dilationWidth >= 1, "Conv2D: dilation must be >= 1")
        precondition(padTop >= 0 && padLeft >= 0, "Conv2D: negative padding")
        precondition(groups >= 1 && inChannels % groups == 0 && outChannels % groups == 0,
                     "Conv2D: groups must divide inChannels and outChannels")
    }
}

/// NCHW float convolution. Layout: see `Conv2DGeometry`; weights `[outC, inC/groups, kH, kW]`,
/// bias `[outC]` or nil; out-of-bounds input taps read 0. Epilogue: `clamp(sum + bias)`.
public enum Conv2DFloat {
    /// Readable reference (TFLite-Micro shape): one dot product per output element.
    ///
    /// Layout: input `[N, inC, inH, inW]`, weights `[outC, inC/groups, kH, kW]`, bias `[outC]` or nil,
    /// output `[N, outC, outH, outW]`.
    public static func reference(input: UnsafePointer<Float>, weights: UnsafePointer<Float>,
                                 bias: UnsafePointer<Float>?, output: UnsafeMutablePointer<Float>,
                                 geometry: Conv2DGeometry, clamp: FloatClamp) {
        let g = geometry
        g.validate()
        let inChannelsPerGroup = g.inChannels / g.groups
        let outChannelsPerGroup = g.outChannels / g.groups
        for batchIndex in 0..<g.batch {
            for outChannel in 0..<g.outChannels {
                let group = outChannel / outChannelsPerGroup
                for outY in 0..<g.outHeight {
                    for outX in 0..<g.outWidth {
                        let inYOrigin = outY * g.strideHeight - g.padTop
                        let inXOrigin = outX * g.strideWidth - g.padLeft
                        var sum: Float = 0
                        for inChannel in 0..<inChannelsPerGroup {
                            let inputChannel = group * inChannelsPerGroup + inChannel
                            for filterY in 0..<g.kernelHeight {
                                let inY = inYOrigin + filterY * g.dilationHeight
                                if inY < 0 || inY >= g.inHeight { continue }
                                for filterX in 0..<g.kernelWidth {
                                    let inX = inXOrigin + filterX * g.dilationWidth
                                    if inX < 0 || inX >= g.inWidth { continue }
                                    let inputValue = input[((batchIndex * g.inChannels + inputChannel) * g.inHeight + inY) * g.inWidth + inX]
                                    let filterValue = weights[((outChannel * inChannelsPerGroup + inChannel) * g.kernelHeight + filterY) * g.kernelWidth + filterX]
                                    sum += inputValue * filterValue
                                }
                            }
                        }
                        if let bias { sum += bias[outChannel] }
                        output[((batchIndex * g.outChannels + outChannel) * g.outHeight + outY) * g.outWidth + outX] = clamp.apply(sum)
                    }
                }
            }
        }
    }

    /// The fast path `run` takes for a geometry.
    enum Path {
        /// 1x1, stride 1, no padding: B is the input itself (row stride H*W), no im2col.
        case pointwise
        /// groups == inChannels and outChannels a multiple of it: per-channel SIMD row loops.
        case depthwise
        /// General (grouped) convolution: im2col written directly as packed GEMM panels.
        case im2col
        /// Few input channels, one group (a network's RGB stem): direct per-input-channel sums,
        /// see Conv2D+Float+Direct.swift.
        case direct
    }

    static func path(_ g: Conv2DGeometry) -> Path {
        if g.kernelHeight == 1 && g.kernelWidth == 1 && g.strideHeight == 1 && g.strideWidth == 1
            && g.padTop == 0 && g.padLeft == 0 && g.outHeight == g.inHeight && g.outWidth == g.inWidth {
            return .pointwise
        }
        if g.groups == g.inChannels && g.groups > 1 && g.outChannels % g.inChannels == 0 {
            return .depthwise
        }
        if g.groups == 1 && g.inChannels < directMaximumInputChannels {
            return .direct
        }
        return .im2col
    }

    /// Scratch (in Floats) that `run` needs for this geometry (im2col/packing); may be 0.
    public static func scratchCount(geometry: Conv2DGeometry) -> Int {
        let g = geometry
        g.validate()
        let outChannelsPerGroup = g.outChannels / g.groups
        let inChannelsPerGroup = g.inChannels / g.groups
        let pixels = g.outHeight * g.outWidth
        switch path(g) {
        case .pointwise:
            return GemmKernel.scratchCount(m: outChannelsPerGroup, n: pixels, k: inChannelsPerGroup)
        case .depthwise:
            return 0
        case .direct:
            return directScratchCount(g)
        case .im2col:
            let depth = inChannelsPerGroup * g.kernelHeight * g.kernelWidth
            return GemmKernel.prepackedBCount(n: pixels, k: depth)
                + GemmKernel.scratchCount(m: outChannelsPerGroup, n: pixels, k: depth, bIsPrepacked: true)
        }
    }

    /// Fast path: same result as `reference` within float rounding. Picks 1x1 / depthwise / im2col+GEMM.
    ///
    /// Layout: as `reference`. `scratch` holds at least `scratchCount(geometry:)` Floats (may be a
    /// dangling-but-non-nil pointer when that is 0) and must not alias input/output.
    public static func run(input: UnsafePointer<Float>, weights: UnsafePointer<Float>,
                           bias: UnsafePointer<Float>?, output: UnsafeMutablePointer<Float>,
                           geometry: Conv2DGeometry, clamp: FloatClamp, scratch: UnsafeMutablePointer<Float>) {
        let g = geometry
        g.validate()
        switch path(g) {
        case .pointwise:
            runPointwise(input: input, weights: weights, bias: bias, output: output, geometry: g, clamp: clamp, scratch: scratch)
        case .depthwise:
            runDepthwise(input: input, weights: weights, bias: bias, output: output, geometry: g, clamp: clamp)
        case .im2col:
            runIm2col(input: input, weights: weights, bias: bias, output: output, geometry: g, clamp: clamp, scratch: scratch)
        case .direct:
            runDirect(input: input, weights: weights, bias: bias, output: output, geometry: g, clamp: clamp, scratch: scratch)
        }
    }

    // MARK: - 1x1 pointwise

    /// out[oc][pixel] = Σ_ic W[oc][ic] * in[ic][pixel]: a GEMM with A = weights (outC/g x inC/g),
    /// B = the input planes (inC/g x H*W, row stride H*W), C = output planes.
    static func runPointwise(input: UnsafePointer<Float>, weights: UnsafePointer<Float>,
                             bias: UnsafePointer<Float>?, output: UnsafeMutablePointer<Float>,
                             geometry g: Conv2DGeometry, clamp: FloatClamp, scratch: UnsafeMutablePointer<Float>) {
        let pixels = g.outHeight * g.outWidth
        let inChannelsPerGroup = g.inChannels / g.groups
        let outChannelsPerGroup = g.outChannels / g.groups
        for batchIndex in 0..<g.batch {
            for group in 0..<g.groups {
                let firstOutChannel = group * outChannelsPerGroup
                GemmKernel.run(
                    m: outChannelsPerGroup, n: pixels, k: inChannelsPerGroup,
                    a: weights + firstOutChannel * inChannelsPerGroup, aRowStride: inChannelsPerGroup, aColStride: 1,
                    b: input + (batchIndex * g.inChannels + group * inChannelsPerGroup) * pixels,
                    bRowStride: pixels, bColStride: 1, prepackedB: nil,
                    output: output + (batchIndex * g.outChannels + firstOutChannel) * pixels, outputRowStride: pixels,
                    epilogue: GemmEpilogue(alpha: 1, rowBias: bias.map { $0 + firstOutChannel }, columnBias: nil, clamp: clamp),
                    scratch: scratch)
            }
        }
    }

    // MARK: - im2col + GEMM

    /// Per (batch, group): writes the im2col matrix (rows = inChannel/filterY/filterX, columns =
    /// output pixels) directly in the GEMM's packed-B layout (panels of 16 pixels, depth-major),
    /// then multiplies by the group's weights.
    static func runIm2col(input: UnsafePointer<Float>, weights: UnsafePointer<Float>,
                          bias: UnsafePointer<Float>?, output: UnsafeMutablePointer<Float>,
                          geometry g: Conv2DGeometry, clamp: FloatClamp, scratch: UnsafeMutablePointer<Float>) {
        let pixels = g.outHeight * g.outWidth
        if pixels == 0 { return }
        let inChannelsPerGroup = g.inChannels / g.groups
        let outChannelsPerGroup = g.outChannels / g.groups
        let depth = inChannelsPerGroup * g.kernelHeight * g.kernelWidth
        let packedColumns = scratch
        let gemmScratch = scratch + GemmKernel.prepackedBCount(n: pixels, k: depth)
        let inputPlane = g.inHeight * g.inWidth
        for batchIndex in 0..<g.batch {
            for group in 0..<g.groups {
                let firstOutChannel = group * outChannelsPerGroup
                packIm2col(input: input + (batchIndex * g.inChannels + group * inChannelsPerGroup) * inputPlane,
                           channels: inChannelsPerGroup, geometry: g, into: packedColumns)
                GemmKernel.run(
                    m: outChannelsPerGroup, n: pixels, k: depth,
                    a: weights + firstOutChannel * depth, aRowStride: depth, aColStride: 1,
                    b: UnsafePointer(packedColumns), bRowStride: 0, bColStride: 0, prepackedB: UnsafePointer(packedColumns),
                    output: output + (batchIndex * g.outChannels + firstOutChannel) * pixels, outputRowStride: pixels,
                    epilogue: GemmEpilogue(alpha: 1, rowBias: bias.map { $0 + firstOutChannel }, columnBias: nil, clamp: clamp),
                    scratch: gemmScratch)
            }
        }
    }

    /// im2col into packed panels: element (row, pixel) goes to
    /// `packed[(pixel / nr) * depth * nr + row * nr + pixel % nr]`; padding taps and the pixels past
    /// the end of the last panel are 0.
    static func packIm2col(input: UnsafePointer<Float>, channels: Int, geometry g: Conv2DGeometry,
                           into packed: UnsafeMutablePointer<Float>) {
        let nr = GemmKernel.nr
        let pixels = g.outHeight * g.outWidth
        let depth = channels * g.kernelHeight * g.kernelWidth
        let panelStride = depth * nr
        let paddedPixels = GemmKernel.roundUp(pixels, nr)
        var row = 0
        for inChannel in 0..<channels {
            let plane = input + inChannel * g.inHeight * g.inWidth
            for filterY in 0..<g.kernelHeight {
                for filterX in 0..<g.kernelWidth {
                    let rowBase = packed + row * nr
                    var pixel = 0
                    for outY in 0..<g.outHeight {
                        let inY = outY * g.strideHeight - g.padTop + filterY * g.dilationHeight
                        if inY < 0 || inY >= g.inHeight {
                            for _ in 0..<g.outWidth {
                                rowBase[(pixel / nr) * panelStride + pixel % nr] = 0
                                pixel += 1
                            }
                            continue
                        }
                        let sourceRow = plane + inY * g.inWidth
                        let inXOrigin = filterX * g.dilationWidth - g.padLeft
                        for outX in 0..<g.outWidth {
                            let inX = outX * g.strideWidth + inXOrigin
                            let value: Float = (inX >= 0 && inX < g.inWidth) ? sourceRow[inX] : 0
                            rowBase[(pixel / nr) * panelStride + pixel % nr] = value
                            pixel += 1
                        }
                    }
                    while pixel < paddedPixels {
                        rowBase[(pixel / nr) * panelStride + pixel % nr] = 0
                        pixel += 1
                    }
                    row += 1
                }
            }
        }
    }

    // MARK: - Depthwise

    /// groups == inChannels, outChannels = multiplier * inChannels: output channel oc reads input
    /// channel oc / multiplier with its own kH x kW filter. Interior columns (every filterX tap in
    /// bounds) are computed 8 output pixels at a time in a SIMD8 accumulator; borders are scalar.
    static func runDepthwise(input: UnsafePointer<Float>, weights: UnsafePointer<Float>,
                             bias: UnsafePointer<Float>?, output: UnsafeMutablePointer<Float>,
                             geometry g: Conv2DGeometry, clamp: FloatClamp) {
        let multiplier = g.outChannels / g.inChannels
        let taps = g.kernelHeight * g.kernelWidth
        let inputPlane = g.inHeight * g.inWidth
        let outputPlane = g.outHeight * g.outWidth
        // Interior: 0 <= outX*sw - padLeft and outX*sw - padLeft + (kW-1)*dW <= inW - 1.
        let reach = (g.kernelWidth - 1) * g.dilationWidth
        let interiorStart = Swift.min(ceilDivide(g.padLeft, g.strideWidth), g.outWidth)
        var interiorEnd = floorDivide(g.inWidth - 1 + g.padLeft - reach, g.strideWidth) + 1
        if g.strideWidth == 2 {
            // The stride-2 path loads 16 floats for 8 outputs: one float past the last tap must be in the row.
            interiorEnd = floorDivide(g.inWidth - 2 + g.padLeft - reach, 2) + 1
        }
        interiorEnd = Swift.max(interiorStart, Swift.min(interiorEnd, g.outWidth))

        for batchIndex in 0..<g.batch {
            for outChannel in 0..<g.outChannels {
                let inChannel = outChannel / multiplier
                let plane = input + (batchIndex * g.inChannels + inChannel) * inputPlane
                let filter = weights + outChannel * taps
                let channelBias: Float = bias?[outChannel] ?? 0
                let outPlane = output + (batchIndex * g.outChannels + outChannel) * outputPlane
                for outY in 0..<g.outHeight {
                    let outRow = outPlane + outY * g.outWidth
                    var outX = 0
                    while outX < interiorStart {
                        outRow[outX] = depthwisePoint(plane: plane, filter: filter, outY: outY, outX: outX,
                                                      geometry: g, bias: channelBias, hasBias: bias != nil, clamp: clamp)
                        outX += 1
                    }
                    if interiorEnd - outX >= 8 {
                        // Constant strides get their own inlined copy so the load shape is fixed per loop.
                        switch g.strideWidth {
                        case 1:
                            depthwiseInterior(plane: plane, filter: filter, outRow: outRow, outY: outY, from: outX, to: interiorEnd,
                                              stride: 1, geometry: g, bias: channelBias, hasBias: bias != nil, clamp: clamp)
                        case 2:
                            depthwiseInterior(plane: plane, filter: filter, outRow: outRow, outY: outY, from: outX, to: interiorEnd,
                                              stride: 2, geometry: g, bias: channelBias, hasBias: bias != nil, clamp: clamp)
                        default:
                            depthwiseInterior(plane: plane, filter: filter, outRow: outRow, outY: outY, from: outX, to: interiorEnd,
                                              stride: g.strideWidth, geometry: g, bias: channelBias, hasBias: bias != nil, clamp: clamp)
                        }
                        outX = interiorEnd
                    }
                    while outX < g.outWidth {
                        outRow[outX] = depthwisePoint(plane: plane, filter: filter, outY: outY, outX: outX,
                                                      geometry: g, bias: channelBias, hasBias: bias != nil, clamp: clamp)
                        outX += 1
                    }
                }
            }
        }
    }

    /// Interior outputs `[from, to)` of one row (`to - from >= 8`; every filterX tap in bounds),
    /// 8 at a time in a SIMD8 accumulator. The last chunk overlaps the previous one instead of falling
    /// back to scalar code (outputs are stored, not accumulated, so recomputing them is harmless).
    @inline(__always)
    static func depthwiseInterior(plane: UnsafePointer<Float>, filter: UnsafePointer<Float>, outRow: UnsafeMutablePointer<Float>,
                                  outY: Int, from: Int, to: Int, stride: Int,
                                  geometry g: Conv2DGeometry, bias: Float, hasBias: Bool, clamp: FloatClamp) {
        let inYOrigin = outY * g.strideHeight - g.padTop
        // Valid filter rows for this output row.
        let firstFilterY = Swift.max(0, ceilDivide(-inYOrigin, g.dilationHeight))
        let lastFilterY = Swift.min(g.kernelHeight - 1, floorDivide(g.inHeight - 1 - inYOrigin, g.dilationHeight))
        var outX = from
        if g.kernelHeight == 3 && g.kernelWidth == 3 && g.dilationHeight == 1 && g.dilationWidth == 1
            && firstFilterY == 0 && lastFilterY == 2 {
            // 3x3 specialisation (MobileNet depthwise): nine weights in registers, taps fully unrolled.
            let w0 = SIMD8<Float>(repeating: filter[0]), w1 = SIMD8<Float>(repeating: filter[1])
            let w2 = SIMD8<Float>(repeating: filter[2]), w3 = SIMD8<Float>(repeating: filter[3])
            let w4 = SIMD8<Float>(repeating: filter[4]), w5 = SIMD8<Float>(repeating: filter[5])
            let w6 = SIMD8<Float>(repeating: filter[6]), w7 = SIMD8<Float>(repeating: filter[7])
            let w8 = SIMD8<Float>(repeating: filter[8])
            let row0 = plane + inYOrigin * g.inWidth - g.padLeft
            let row1 = row0 + g.inWidth
            let row2 = row1 + g.inWidth
            while true {
                if outX + 8 > to { outX = to - 8 }
                let x = outX * stride
                var sum = SIMD8<Float>()
                sum = multiplyAdd(sum, w0, taps8(row0 + x, stride))
                sum = multiplyAdd(sum, w1, taps8(row0 + x + 1, stride))
                sum = multiplyAdd(sum, w2, taps8(row0 + x + 2, stride))
                sum = multiplyAdd(sum, w3, taps8(row1 + x, stride))
                sum = multiplyAdd(sum, w4, taps8(row1 + x + 1, stride))
                sum = multiplyAdd(sum, w5, taps8(row1 + x + 2, stride))
                sum = multiplyAdd(sum, w6, taps8(row2 + x, stride))
                sum = multiplyAdd(sum, w7, taps8(row2 + x + 1, stride))
                sum = multiplyAdd(sum, w8, taps8(row2 + x + 2, stride))
                if hasBias { sum += bias }
                storeVector8(clamp.apply(sum), outRow + outX)
                outX += 8
                if outX >= to { return }
            }
        }
        while true {
            if outX + 8 > to { outX = to - 8 }
            var sum = SIMD8<Float>()
            var filterY = firstFilterY
            while filterY <= lastFilterY {
                let inY = inYOrigin + filterY * g.dilationHeight
                let rowStart = plane + inY * g.inWidth + outX * stride - g.padLeft
                let filterRow = filter + filterY * g.kernelWidth
                for filterX in 0..<g.kernelWidth {
                    let values = taps8(rowStart + filterX * g.dilationWidth, stride)
                    sum = multiplyAdd(sum, SIMD8(repeating: filterRow[filterX]), values)
                }
                filterY += 1
            }
            if hasBias { sum += bias }
            storeVector8(clamp.apply(sum), outRow + outX)
            outX += 8
            if outX >= to { break }
        }
    }

    /// Eight input values `source[0], source[stride], …, source[7*stride]`. Stride 2 loads 16
    /// contiguous floats (one past the last tap must be readable) and keeps the even lanes.
    @inline(__always)
    static func taps8(_ source: UnsafePointer<Float>, _ stride: Int) -> SIMD8<Float> {
        switch stride {
        case 1: return loadVector8(source)
        case 2: return loadVector16(source).evenHalf
        default:
            return SIMD8(source[0], source[stride], source[2 * stride], source[3 * stride],
                         source[4 * stride], source[5 * stride], source[6 * stride], source[7 * stride])
        }
    }

    /// One depthwise output with full bounds checks (border pixels).
    @inline(__always)
    static func depthwisePoint(plane: UnsafePointer<Float>, filter: UnsafePointer<Float>, outY: Int, outX: Int,
                               geometry g: Conv2DGeometry, bias: Float, hasBias: Bool, clamp: FloatClamp) -> Float {
        let inYOrigin = outY * g.strideHeight - g.padTop
        let inXOrigin = outX * g.strideWidth - g.padLeft
        var sum: Float = 0
        for filterY in 0..<g.kernelHeight {
            let inY = inYOrigin + filterY * g.dilationHeight
            if inY < 0 || inY >= g.inHeight { continue }
            for filterX in 0..<g.kernelWidth {
                let inX = inXOrigin + filterX * g.dilationWidth
                if inX < 0 || inX >= g.inWidth { continue }
                sum += plane[inY * g.inWidth + inX] * filter[filterY * g.kernelWidth + filterX]
            }
        }
        if hasBias { sum += bias }
        return clamp.apply(sum)
    }
}
