// 2-D convolution on quantized data (QLinearConv / ConvInteger), NCHW: reference loops, then fast
// paths — depthwise direct SIMD rows, and im2col packed straight into the int8 GEMM's right panels
// (1x1 stride-1 convolutions skip the gather and just interleave channel rows).
//
// Exactness and overflow: as in Gemm+Int8.swift, zero points are subtracted while packing
// (weights at load, inputs per call) so the inner loops multiply Int16 values of magnitude ≤ 255;
// a reduction of depth K = (inC/groups)·kH·kW ≤ 32768 cannot overflow Int32 (checked at load).
// Padding taps read xZero, i.e. contribute 0 after the subtraction.

#if canImport(QuantKernelsVNNI)
import QuantKernelsVNNI
#endif

/// QLinearConv: input `[N, inC, inH, inW]` UInt8/Int8 with `inputZero`; weights `[outC, inC/groups,
/// kH, kW]` Int8/UInt8 with per-output-channel zero points (count 1 or outC); bias Int32 `[outC]`
/// or nil; output `[N, outC, outH, outW]` requantized per output channel (multipliers count 1 or outC).
/// `acc = Σ (x − inputZero)(w − wZero[oc]) + bias[oc]`, then the rule in Requantize.swift.
public enum Conv2DInt8 {
    /// Weights packed at load for `geometry`.
    ///
    /// General/1x1: per group, left panels of 4 output channels, `[pair][4][2]` Int16 `w − wZero` over
    /// the reduction index `(inChannel, filterY, filterX)`. Depthwise (`groups == inC > 1`): per output
    /// channel the taps as Int16 pairs, plus each tap's offset into the padded, phase-split input plane.
    public struct PackedWeights: Sendable {
        public let geometry: Conv2DGeometry
        public let zeroPoints: [Int32]
        @usableFromInline let isDepthwise: Bool
        @usableFromInline let isPointwise: Bool
        @usableFromInline let depth: Int           // (inC/groups)·kH·kW
        @usableFromInline let pairs: Int
        @usableFromInline let blocksPerGroup: Int   // ceil((outC/groups) / 4)
        @usableFromInline let leftPanels: [Int16]
        // Depthwise plan.
        @usableFromInline let tapPairs: Int
        @usableFromInline let depthwiseTaps: [Int16]     // [outC][tapPairs·2]
        @usableFromInline let tapOffsets: [Int]          // [tapPairs·2] offsets into the plane
        @usableFromInline let planeRows: Int, planeRowLength: Int
        // VNNI plan (x86-64; groups == 1 or depthwise; every w − wZero in Int8): see `Int8Acceleration`.
        /// The QW_VNNI_* variant `run` uses, or 0 for the portable kernels.
        public let vnniVariant: Int32
        @usableFromInline let depthQuads: Int
        @usableFromInline let vnniPanels: [Int8]      // [ceil(outC/4)][depthQuads][4 rows][4]
        @usableFromInline let weightSums: [Int32]     // [outC] Σ_k (w − wZero)

        public init<W: QuantizedScalar>(weights: UnsafePointer<W>, zeroPoints: [Int32], geometry g: Conv2DGeometry,
                                        acceleration: Int8Acceleration = .automatic) {
            g.validate()
            precondition(W.bitWidth == 8, "Conv2DInt8: fast path takes 8-bit weights")
            precondition(zeroPoints.count == 1 || zeroPoints.count == g.outChannels,
                         "Conv2DInt8: weight zero points count must be 1 or outChannels")
            geometry = g
            self.zeroPoints = zeroPoints
            let inPerGroup = g.inChannels / g.groups, outPerGroup = g.outChannels / g.groups
            let taps = g.kernelHeight * g.kernelWidth
            depth = inPerGroup * taps
            precondition(depth <= int8MaximumDepth, "Conv2DInt8: reduction depth > 32768 could overflow Int32")
            pairs = (depth + 1) / 2
            isDepthwise = g.groups == g.inChannels && g.groups > 1
            isPointwise = !isDepthwise && g.kernelHeight == 1 && g.kernelWidth == 1 && g.strideHeight == 1
                && g.strideWidth == 1 && g.padTop == 0 && g.padLeft == 0
                && g.outHeight == g.inHeight && g.outWidth == g.inWidth
            blocksPerGroup = (outPerGroup + int8TileRows - 1) / int8TileRows
            func zero(_ oc: Int) -> Int32 { zeroPoints.count == 1 ? zeroPoints[0] : zeroPoints[oc] }

            if isDepthwise {
                tapPairs = (taps + 1) / 2
                var packedTaps = [Int16](repeating: 0, count: g.outChannels * tapPairs * 2)
                for oc in 0..<g.outChannels {
                    for tap in 0..<taps {
                        packedTaps[oc * tapPairs * 2 + tap] = Int16(truncatingIfNeeded: Int32(weights[oc * taps + tap]) - zero(oc))
                    }
                }
                depthwiseTaps = packedTaps
                // Plane: padded rows starting at input row −padTop; each row split into strideWidth
                // phases (column c → phase c % sW, position c / sW) so every tap reads 8 outputs contiguously.
                planeRows = (g.outHeight - 1) * g.strideHeight + (g.kernelHeight - 1) * g.dilationHeight + 1
                let outWidthRounded = (g.outWidth + int8ConvTileColumns - 1) / int8ConvTileColumns * int8ConvTileColumns
                planeRowLength = outWidthRounded + ((g.kernelWidth - 1) * g.dilationWidth) / g.strideWidth
                var offsets = [Int](repeating: 0, count: tapPairs * 2)
                for tap in 0..<(tapPairs * 2) {
                    // The padding tap of an odd count repeats tap 0's offset (its weight is 0).
                    let t = tap < taps ? tap : 0
                    let fy = t / g.kernelWidth, fx = t % g.kernelWidth
                    let column = fx * g.dilationWidth
                    offsets[tap] = ((fy * g.dilationHeight) * g.strideWidth + column % g.strideWidth) * planeRowLength
                        + column / g.strideWidth
                }
                tapOffsets = offsets
                leftPanels = []
            } else {
                tapPairs = 0
                depthwiseTaps = []
                tapOffsets = []
                planeRows = 0
                planeRowLength = 0
                var panels = [Int16](repeating: 0, count: g.groups * blocksPerGroup * pairs * 2 * int8TileRows)
                for group in 0..<g.groups {
                    for local in 0..<outPerGroup {
                        let oc = group * outPerGroup + local
                        let block = local / int8TileRows, row = local % int8TileRows
                        let base = (group * blocksPerGroup + block) * pairs * 2 * int8TileRows
                        for kk in 0..<depth {
                            panels[base + (kk / 2) * 2 * int8TileRows + row * 2 + kk % 2] =
                                Int16(truncatingIfNeeded: Int32(weights[oc * depth + kk]) - zero(oc))
                        }
                    }
                }
                leftPanels = panels
            }

            // VNNI: s8 weights in blocks of 4 output channels x 4 reduction indices (the u8 x s8
            // vpdpbusd operand), when every w − wZero fits Int8; the input zero point is folded into
            // the bias per call through Σ_k (w − wZero).
            let depthwiseEligible = isDepthwise && g.kernelWidth <= 32 && Conv2DInt8.vnniDepthwiseSupported(g)
            var variant = acceleration.variant(isEligible: (!isDepthwise && g.groups == 1) || depthwiseEligible)
            let quads = (depth + 3) / 4
            let quadsPerRow = (g.kernelWidth + 3) / 4
            var vnni: [Int8] = []
            var sums: [Int32] = []
            if variant != 0 {
                sums = [Int32](repeating: 0, count: g.outChannels)
                if isDepthwise {
                    // [oc][filterY][quad][4]: tap (fy, fx) at quad fx / 4, byte fx % 4 (zero past kW).
                    vnni = [Int8](repeating: 0, count: g.outChannels * g.kernelHeight * quadsPerRow * 4)
                    outer: for oc in 0..<g.outChannels {
                        for tap in 0..<taps {
                            let value = Int32(weights[oc * taps + tap]) - zero(oc)
                            guard value >= -128 && value <= 127 else { variant = 0; break outer }
                            let fy = tap / g.kernelWidth, fx = tap % g.kernelWidth
                            vnni[((oc * g.kernelHeight + fy) * quadsPerRow + fx / 4) * 4 + fx % 4] = Int8(value)
                            sums[oc] &+= value
                        }
                    }
                } else {
                    let blocks = (g.outChannels + 3) / 4
                    vnni = [Int8](repeating: 0, count: blocks * quads * 16)
                    outer: for oc in 0..<g.outChannels {
                        for kk in 0..<depth {
                            let value = Int32(weights[oc * depth + kk]) - zero(oc)
                            guard value >= -128 && value <= 127 else { variant = 0; break outer }
                            vnni[((oc / 4) * quads + kk / 4) * 16 + (oc % 4) * 4 + kk % 4] = Int8(value)
                            sums[oc] &+= value
                        }
                    }
                }
                if variant == 0 { vnni = []; sums = [] }
            }
            vnniVariant = variant
            depthQuads = quads
            vnniPanels = vnni
            weightSums = sums
        }
    }

    /// Whether the int8 convolution may use an x86-64 VNNI kernel (bit-identical to the portable ones).
    public enum Int8Acceleration: Sendable, Equatable {
        /// The fastest kernel this CPU runs (VNNI when available and the weights allow it).
        case automatic
        /// The portable Swift kernels only.
        case portable
        /// This QW_VNNI_* variant if the CPU runs it and the weights allow it (for tests), else portable.
        case vnni(Int32)

        func variant(isEligible: Bool) -> Int32 {
            guard isEligible else { return 0 }
            let support = Conv2DInt8.vnniSupport
            switch self {
            case .portable: return 0
            case .automatic: return support & 2 != 0 ? 2 : support & 1
            case let .vnni(v): return support & v != 0 && (v == 1 || v == 2) ? v : 0
            }
        }
    }

    /// Whether the VNNI depthwise kernel takes this geometry's horizontal stride and dilation.
    static func vnniDepthwiseSupported(_ g: Conv2DGeometry) -> Bool {
        #if canImport(QuantKernelsVNNI)
        return qw_vnni_depthwise_supported(Int32(truncatingIfNeeded: g.strideWidth), Int32(truncatingIfNeeded: g.dilationWidth)) != 0
        #else
        return false
        #endif
    }

    /// QW_VNNI_* flags of the variants this CPU runs (0 off x86-64, or without VNNI).
    public static var vnniSupport: Int32 {
        #if canImport(QuantKernelsVNNI)
        return qw_vnni_support()
        #else
        return 0
        #endif
    }

    /// Readable reference (TFLite-Micro shape): one dot product per output element.
    /// `weightZeros` has `weightZeroCount` (1 or outC) elements.
    public static func reference<X: QuantizedScalar, W: QuantizedScalar, Y: QuantizedScalar>(
        input: UnsafePointer<X>, inputZero: Int32, weights: UnsafePointer<W>,
        weightZeros: UnsafePointer<Int32>, weightZeroCount: Int, bias: UnsafePointer<Int32>?,
        output: UnsafeMutablePointer<Y>, geometry: Conv2DGeometry, requantization: Requantization,
        counts: UnsafeMutablePointer<SaturationCounts>
    ) {
        let g = geometry
        g.validate()
        for batchIndex in 0..<g.batch {
            for outChannel in 0..<g.outChannels {
                for outY in 0..<g.outHeight {
                    for outX in 0..<g.outWidth {
                        var sum = referenceSum(input: input, inputZero: inputZero, weights: weights, weightZeros: weightZeros,
                                               weightZeroCount: weightZeroCount, g: g, batchIndex: batchIndex,
                                               outChannel: outChannel, outY: outY, outX: outX)
                        if let bias { sum &+= bias[outChannel] }
                        let index = ((batchIndex * g.outChannels + outChannel) * g.outHeight + outY) * g.outWidth + outX
                        output[index] = Y(truncatingIfNeeded: requantization.apply(sum, channel: outChannel, counts: &counts.pointee))
                    }
                }
            }
        }
    }

    /// Reference for ConvInteger: the raw accumulators `Σ (x − inputZero)(w − wZero[oc])`.
    public static func referenceInt32<X: QuantizedScalar, W: QuantizedScalar>(
        input: UnsafePointer<X>, inputZero: Int32, weights: UnsafePointer<W>,
        weightZeros: UnsafePointer<Int32>, weightZeroCount: Int,
        output: UnsafeMutablePointer<Int32>, geometry: Conv2DGeometry
    ) {
        let g = geometry
        g.validate()
        for batchIndex in 0..<g.batch {
            for outChannel in 0..<g.outChannels {
                for outY in 0..<g.outHeight {
                    for outX in 0..<g.outWidth {
                        let index = ((batchIndex * g.outChannels + outChannel) * g.outHeight + outY) * g.outWidth + outX
                        output[index] = referenceSum(input: input, inputZero: inputZero, weights: weights, weightZeros: weightZeros,
                                                     weightZeroCount: weightZeroCount, g: g, batchIndex: batchIndex,
                                                     outChannel: outChannel, outY: outY, outX: outX)
                    }
                }
            }
        }
    }

    static func referenceSum<X: QuantizedScalar, W: QuantizedScalar>(
        input: UnsafePointer<X>, inputZero: Int32, weights: UnsafePointer<W>, weightZeros: UnsafePointer<Int32>,
        weightZeroCount: Int, g: Conv2DGeometry, batchIndex: Int, outChannel: Int, outY: Int, outX: Int
    ) -> Int32 {
        let inPerGroup = g.inChannels / g.groups, outPerGroup = g.outChannels / g.groups
        let group = outChannel / outPerGroup
        let weightZero = weightZeroCount == 1 ? weightZeros[0] : weightZeros[outChannel]
        var sum: Int32 = 0
        for filterY in 0..<g.kernelHeight {
            for filterX in 0..<g.kernelWidth {
                for inChannel in 0..<inPerGroup {
                    let inY = outY * g.strideHeight - g.padTop + filterY * g.dilationHeight
                    let inX = outX * g.strideWidth - g.padLeft + filterX * g.dilationWidth
                    let channel = group * inPerGroup + inChannel
                    // Padding reads the input zero point: real value 0.
                    var x = inputZero
                    if inY >= 0 && inY < g.inHeight && inX >= 0 && inX < g.inWidth {
                        x = Int32(input[((batchIndex * g.inChannels + channel) * g.inHeight + inY) * g.inWidth + inX])
                    }
                    let w = Int32(weights[((outChannel * inPerGroup + inChannel) * g.kernelHeight + filterY) * g.kernelWidth + filterX])
                    sum &+= (x - inputZero) &* (w - weightZero)
                }
            }
        }
        return sum
    }

    /// Scratch bytes `run`/`runInt32` need for this geometry (im2col block or depthwise plane).
    public static func scratchByteCount(geometry: Conv2DGeometry) -> Int {
        let g = geometry
        let inPerGroup = g.inChannels / max(1, g.groups)
        let pairs = (inPerGroup * g.kernelHeight * g.kernelWidth + 1) / 2
        let isDepthwise = g.groups == g.inChannels && g.groups > 1
        if isDepthwise {
            let rows = (g.outHeight - 1) * g.strideHeight + (g.kernelHeight - 1) * g.dilationHeight + 1
            let rounded = (g.outWidth + int8ConvTileColumns - 1) / int8ConvTileColumns * int8ConvTileColumns
            let length = rounded + ((g.kernelWidth - 1) * g.dilationWidth) / g.strideWidth
            let portable = max(0, rows) * g.strideWidth * length * MemoryLayout<Int16>.stride + 64
            #if canImport(QuantKernelsVNNI)
            if vnniSupport != 0 && vnniDepthwiseSupported(g) {
                var c = vnniCall(g)
                return max(portable, qw_vnni_conv_scratch_bytes(&c))
            }
            #endif
            return portable
        }
        // One 16-pixel im2col panel (and the VNNI kernel's scratch, when it may run).
        let portable = int8ConvTileColumns * pairs * 2 * MemoryLayout<Int16>.stride + 64
        #if canImport(QuantKernelsVNNI)
        if g.groups == 1 && vnniSupport != 0 {
            var c = vnniCall(g)
            return max(portable, qw_vnni_conv_scratch_bytes(&c))
        }
        #endif
        return portable
    }

    #if canImport(QuantKernelsVNNI)
    /// The geometry part of a VNNI call.
    static func vnniCall(_ g: Conv2DGeometry) -> qw_vnni_conv {
        var c = qw_vnni_conv()
        c.batch = Int32(g.batch); c.inChannels = Int32(g.inChannels); c.inHeight = Int32(g.inHeight); c.inWidth = Int32(g.inWidth)
        c.outChannels = Int32(g.outChannels); c.outHeight = Int32(g.outHeight); c.outWidth = Int32(g.outWidth)
        c.kernelHeight = Int32(g.kernelHeight); c.kernelWidth = Int32(g.kernelWidth)
        c.strideHeight = Int32(g.strideHeight); c.strideWidth = Int32(g.strideWidth)
        c.dilationHeight = Int32(g.dilationHeight); c.dilationWidth = Int32(g.dilationWidth)
        c.padTop = Int32(g.padTop); c.padLeft = Int32(g.padLeft)
        c.pointwise = g.kernelHeight == 1 && g.kernelWidth == 1 && g.strideHeight == 1 && g.strideWidth == 1
            && g.padTop == 0 && g.padLeft == 0 && g.outHeight == g.inHeight && g.outWidth == g.inWidth ? 1 : 0
        if g.groups == g.inChannels && g.groups > 1 {
            c.pointwise = 0
            c.depthwise = 1
            c.channelMultiplier = Int32(g.outChannels / g.inChannels)
            c.quadsPerRow = Int32((g.kernelWidth + 3) / 4)
        }
        return c
    }

    /// The VNNI kernel (`packed.vnniVariant != 0`, 8-bit X and Y).
    static func runVNNI<X: QuantizedScalar, Y: QuantizedScalar>(
        input: UnsafePointer<X>, inputZero: Int32, packed: PackedWeights, bias: UnsafePointer<Int32>?,
        output: UnsafeMutablePointer<Y>, requantization r: Requantization,
        counts: UnsafeMutablePointer<SaturationCounts>, scratch: UnsafeMutableRawPointer,
        countingState: UnsafeMutablePointer<Int32>?
    ) {
        let g = packed.geometry
        var c = vnniCall(g)
        c.input = UnsafeRawPointer(input)
        c.inputSigned = X.isSigned ? 1 : 0
        c.inputZero = inputZero
        c.depthQuads = Int32(packed.depthQuads)
        c.bias = bias
        c.perTensor = r.multipliers.count == 1 ? 1 : 0
        c.zeroPoint = r.zeroPoint; c.qmin = r.qmin; c.qmax = r.qmax; c.lower = r.lower; c.upper = r.upper
        c.countLow = r.countLow ? 1 : 0
        c.countHigh = r.countHigh ? 1 : 0
        c.twoPass = r.countLow || r.countHigh ? (TwoPassCounting.begin(countingState) ? 1 : 0) : 0
        c.output = UnsafeMutableRawPointer(output)
        c.outputSigned = Y.isSigned ? 1 : 0
        c.scratch = scratch
        packed.vnniPanels.withUnsafeBufferPointer { panels in
            packed.weightSums.withUnsafeBufferPointer { sums in
                r.multipliers.withUnsafeBufferPointer { multipliers in
                    c.panels = panels.baseAddress
                    c.weightSums = sums.baseAddress
                    c.multipliers = multipliers.baseAddress
                    qw_vnni_conv_run(packed.vnniVariant, &c)
                }
            }
        }
        if c.recounted != 0 { TwoPassCounting.crossed(countingState) }
        counts.pointee.low += Int(c.lowCount)
        counts.pointee.high += Int(c.highCount)
        counts.pointee.total += g.batch * g.outChannels * g.outHeight * g.outWidth
    }
    #endif

    /// Fast path, bit-identical to `reference` (outputs and counts). `packed` was built for `geometry`.
    /// `countingState`: the step's `TwoPassCounting` memory (the VNNI kernels count in two passes).
    @_specialize(where X == UInt8, Y == UInt8)
    @_specialize(where X == Int8, Y == Int8)
    @_specialize(where X == UInt8, Y == Int8)
    @_specialize(where X == Int8, Y == UInt8)
    public static func run<X: QuantizedScalar, Y: QuantizedScalar>(
        input: UnsafePointer<X>, inputZero: Int32, packed: PackedWeights, bias: UnsafePointer<Int32>?,
        output: UnsafeMutablePointer<Y>, geometry: Conv2DGeometry, requantization: Requantization,
        counts: UnsafeMutablePointer<SaturationCounts>, scratch: UnsafeMutableRawPointer,
        countingState: UnsafeMutablePointer<Int32>? = nil
    ) {
        precondition(packed.geometry == geometry, "Conv2DInt8: weights were packed for another geometry")
        precondition(X.bitWidth == 8, "Conv2DInt8: fast path takes 8-bit inputs")
        precondition(requantization.multipliers.count == 1 || requantization.multipliers.count == geometry.outChannels,
                     "Conv2DInt8: multipliers count must be 1 or outChannels")
        #if canImport(QuantKernelsVNNI)
        if packed.vnniVariant != 0 && Y.bitWidth == 8 {
            runVNNI(input: input, inputZero: inputZero, packed: packed, bias: bias, output: output,
                    requantization: requantization, counts: counts, scratch: scratch, countingState: countingState)
            return
        }
        #endif
        requantization.multipliers.withUnsafeBufferPointer { multipliers in
            var sink = RequantizingSink(output: output, bias: bias, multipliers: multipliers.baseAddress!,
                                        perTensor: multipliers.count == 1, requantizer: Int8Requantizer(requantization),
                                        requantizer8: Int8Requantizer8(requantization))
            drive(input: input, inputZero: inputZero, packed: packed, sink: &sink, scratch: scratch)
            let g = geometry
            sink.requantizer.flush(into: &counts.pointee, total: g.batch * g.outChannels * g.outHeight * g.outWidth)
            sink.requantizer8.flush(into: &counts.pointee, total: 0)
        }
    }

    /// ConvInteger: the raw Int32 accumulators (no bias), bit-identical to `referenceInt32`.
    @_specialize(where X == UInt8)
    @_specialize(where X == Int8)
    public static func runInt32<X: QuantizedScalar>(
        input: UnsafePointer<X>, inputZero: Int32, packed: PackedWeights,
        output: UnsafeMutablePointer<Int32>, geometry: Conv2DGeometry, scratch: UnsafeMutableRawPointer
    ) {
        precondition(packed.geometry == geometry, "Conv2DInt8: weights were packed for another geometry")
        precondition(X.bitWidth == 8, "Conv2DInt8: fast path takes 8-bit inputs")
        var sink = Int32Sink(output: output)
        drive(input: input, inputZero: inputZero, packed: packed, sink: &sink, scratch: scratch)
    }

    // MARK: - Drivers

    @inline(__always)
    static func drive<X: QuantizedScalar, Sink: Int8RowSink>(
        input: UnsafePointer<X>, inputZero: Int32, packed: PackedWeights, sink: inout Sink,
        scratch: UnsafeMutableRawPointer
    ) {
        if packed.isDepthwise {
            depthwise(input: input, inputZero: inputZero, packed: packed, sink: &sink, scratch: scratch)
        } else {
            im2colGemm(input: input, inputZero: inputZero, packed: packed, sink: &sink, scratch: scratch)
        }
    }

    /// General and 1x1 convolutions: per (batch, group) and 16-pixel panel, pack the input panel
    /// `[pair][16 pixels][2]` (L1-resident, `pairs`·64 bytes), then run every 4-channel weight panel
    /// over it with the 4x16 register tile and requantize each 16-pixel row as it leaves the registers.
    @inline(__always)
    static func im2colGemm<X: QuantizedScalar, Sink: Int8RowSink>(
        input: UnsafePointer<X>, inputZero: Int32, packed: PackedWeights, sink: inout Sink,
        scratch: UnsafeMutableRawPointer
    ) {
        let g = packed.geometry
        let pixels = g.outHeight * g.outWidth
        let inPerGroup = g.inChannels / g.groups, outPerGroup = g.outChannels / g.groups
        let pairs = packed.pairs
        let right = scratch.bindMemory(to: Int16.self, capacity: pairs * 2 * int8ConvTileColumns)
        packed.leftPanels.withUnsafeBufferPointer { leftPanels in
            for batchIndex in 0..<g.batch {
                for group in 0..<g.groups {
                    let groupInput = input + (batchIndex * g.inChannels + group * inPerGroup) * g.inHeight * g.inWidth
                    let groupLeft = leftPanels.baseAddress! + group * packed.blocksPerGroup * pairs * 2 * int8TileRows
                    var panelStart = 0
                    while panelStart < pixels {
                        let count = min(int8ConvTileColumns, pixels - panelStart)
                        if packed.isPointwise {
                            packPointwise16(groupInput, plane: pixels, channels: inPerGroup, start: panelStart,
                                            count: count, zero: inputZero, pairs: pairs, into: right)
                        } else {
                            packIm2col16(groupInput, geometry: g, channels: inPerGroup, start: panelStart,
                                         count: count, zero: inputZero, pairs: pairs, into: right)
                        }
                        var left = groupLeft
                        for block in 0..<packed.blocksPerGroup {
                            let rows = min(int8TileRows, outPerGroup - block * int8TileRows)
                            let firstChannel = group * outPerGroup + block * int8TileRows
                            let tile = int8MicroKernel16(left: left, right: right, pairs: pairs)
                            for row in 0..<rows {
                                let (acc0, acc1) = tile.row(row)
                                let oc = firstChannel + row
                                sink.store16(acc0, acc1, channel: oc, count: count,
                                             at: (batchIndex * g.outChannels + oc) * pixels + panelStart)
                            }
                            left += pairs * 2 * int8TileRows
                        }
                        panelStart += int8ConvTileColumns
                    }
                }
            }
        }
    }

    /// Depthwise (groups == inC): pad one input channel into a phase-split Int16 plane (`x − xZero`,
    /// zeros outside), then each output row is 8-pixel SIMD blocks summing tap pairs with pairProduct.
    @inline(__always)
    static func depthwise<X: QuantizedScalar, Sink: Int8RowSink>(
        input: UnsafePointer<X>, inputZero: Int32, packed: PackedWeights, sink: inout Sink,
        scratch: UnsafeMutableRawPointer
    ) {
        let g = packed.geometry
        let multiplier = g.outChannels / g.inChannels
        let length = packed.planeRowLength
        let plane = scratch.bindMemory(to: Int16.self, capacity: packed.planeRows * g.strideWidth * length)
        let zero16 = Int16(truncatingIfNeeded: inputZero)
        let pixels = g.outHeight * g.outWidth
        // Padding rows and columns are zero for every channel: clear the plane once per call; each
        // channel then rewrites only the positions that read the input (rows rowStart..<rowEnd).
        plane.update(repeating: 0, count: packed.planeRows * g.strideWidth * length)
        let rowStart = min(packed.planeRows, max(0, g.padTop))
        let rowEnd = max(rowStart, min(packed.planeRows, g.inHeight + g.padTop))
        packed.depthwiseTaps.withUnsafeBufferPointer { taps in
            packed.tapOffsets.withUnsafeBufferPointer { offsets in
                for batchIndex in 0..<g.batch {
                    for channel in 0..<g.inChannels {
                        let source = input + (batchIndex * g.inChannels + channel) * g.inHeight * g.inWidth
                        // Fill the plane: row r is input row r − padTop; phase s position p is column p·sW + s − padLeft.
                        // Only positions inside the input are written; the padding stays zero from above.
                        for phase in 0..<g.strideWidth {
                            // Positions whose column lies inside the input: p·sW + phase − padLeft ∈ [0, inW).
                            let first = min(length, max(0, ceilDivide(g.padLeft - phase, g.strideWidth)))
                            let end = max(first, min(length, ceilDivide(g.inWidth + g.padLeft - phase, g.strideWidth)))
                            if first == end { continue }
                            for planeRow in rowStart..<rowEnd {
                                let destination = plane + (planeRow * g.strideWidth + phase) * length
                                let row = source + (planeRow - g.padTop) * g.inWidth
                                var column = first * g.strideWidth + phase - g.padLeft
                                var p = first
                                if g.strideWidth == 1 {
                                    // Contiguous: 16 (or 8) columns per step, widened and offset in registers.
                                    p = fillStride1(row, into: destination, first: first, end: end,
                                                    offset: phase - g.padLeft, zero: zero16)
                                    column = p + phase - g.padLeft
                                } else if g.strideWidth == 2 {
                                    // Phase split: 16 (or 8) positions from 32 (16) bytes, even/odd bytes in registers.
                                    p = fillStride2(row, inWidth: g.inWidth, into: destination, first: first, end: end,
                                                    offset: phase - g.padLeft, zero: zero16)
                                    column = p * 2 + phase - g.padLeft
                                }
                                while p < end {
                                    destination[p] = Int16(truncatingIfNeeded: row[column]) &- zero16
                                    column += g.strideWidth
                                    p += 1
                                }
                            }
                        }
                        for m in 0..<multiplier {
                            let oc = channel * multiplier + m
                            let weightPairs = UnsafeRawPointer(taps.baseAddress! + oc * packed.tapPairs * 2)
                            for outY in 0..<g.outHeight {
                                let rowBase = UnsafePointer(plane) + outY * g.strideHeight * g.strideWidth * length
                                var x = 0
                                while x < g.outWidth {
                                    if g.outWidth - x <= int8ConvTileColumns / 2 {
                                        // A last block of ≤ 8 pixels: half the loads and products.
                                        var acc = SIMD8<Int32>()
                                        let base = rowBase + x
                                        for pair in 0..<packed.tapPairs {
                                            let w = unsafeBitCast(SIMD8<Int32>(repeating: weightPairs.loadUnaligned(
                                                fromByteOffset: pair * 4, as: Int32.self)), to: SIMD16<Int16>.self)
                                            let v0 = UnsafeRawPointer(base + offsets[2 * pair]).loadUnaligned(as: SIMD8<Int16>.self)
                                            let v1 = UnsafeRawPointer(base + offsets[2 * pair + 1]).loadUnaligned(as: SIMD8<Int16>.self)
                                            let (p0, p1) = interleave(v0, v1)
                                            acc &+= pairProduct16(SIMD16(lowHalf: p0, highHalf: p1), w)
                                        }
                                        sink.store16(acc, SIMD8<Int32>(), channel: oc, count: g.outWidth - x,
                                                     at: (batchIndex * g.outChannels + oc) * pixels + outY * g.outWidth + x)
                                        break
                                    }
                                    // 16 output pixels, accumulated in-lane (no cross-128-bit shuffle per tap):
                                    // acc0 holds pixels 0–3, 8–11 and acc1 pixels 4–7, 12–15; reordered once below.
                                    var acc0 = SIMD8<Int32>(), acc1 = SIMD8<Int32>()
                                    let base = rowBase + x
                                    for pair in 0..<packed.tapPairs {
                                        let w = unsafeBitCast(SIMD8<Int32>(repeating: weightPairs.loadUnaligned(
                                            fromByteOffset: pair * 4, as: Int32.self)), to: SIMD16<Int16>.self)
                                        let v0 = UnsafeRawPointer(base + offsets[2 * pair]).loadUnaligned(as: SIMD16<Int16>.self)
                                        let v1 = UnsafeRawPointer(base + offsets[2 * pair + 1]).loadUnaligned(as: SIMD16<Int16>.self)
                                        let (p0, p1) = interleave(v0.lowHalf, v1.lowHalf)
                                        let (p2, p3) = interleave(v0.highHalf, v1.highHalf)
                                        acc0 &+= pairProduct16(SIMD16(lowHalf: p0, highHalf: p2), w)
                                        acc1 &+= pairProduct16(SIMD16(lowHalf: p1, highHalf: p3), w)
                                    }
                                    let columns = min(int8ConvTileColumns, g.outWidth - x)
                                    sink.store16(SIMD8(lowHalf: acc0.lowHalf, highHalf: acc1.lowHalf),
                                                 SIMD8(lowHalf: acc0.highHalf, highHalf: acc1.highHalf), channel: oc, count: columns,
                                                 at: (batchIndex * g.outChannels + oc) * pixels + outY * g.outWidth + x)
                                    x += int8ConvTileColumns
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    /// 1x1 stride 1: one 16-pixel right panel straight from channel rows, interleaving channel pairs.
    @inline(__always)
    static func packPointwise16<X: QuantizedScalar>(
        _ source: UnsafePointer<X>, plane: Int, channels: Int, start: Int, count: Int, zero: Int32,
        pairs: Int, into right: UnsafeMutablePointer<Int16>
    ) {
        let zero16 = Int16(truncatingIfNeeded: zero)
        if count == int8ConvTileColumns {
            let zeroVector = SIMD16<Int16>(repeating: zero16)
            var destination = UnsafeMutableRawPointer(right)
            var row0 = source + start
            for pair in 0..<pairs {
                let v0 = widen16(row0) &- zeroVector
                let v1 = 2 * pair + 1 < channels ? widen16(row0 + plane) &- zeroVector : SIMD16<Int16>()
                let (p0, p1) = interleave(v0.lowHalf, v1.lowHalf)
                let (p2, p3) = interleave(v0.highHalf, v1.highHalf)
                destination.storeBytes(of: p0, as: SIMD8<Int16>.self)
                destination.storeBytes(of: p1, toByteOffset: 16, as: SIMD8<Int16>.self)
                destination.storeBytes(of: p2, toByteOffset: 32, as: SIMD8<Int16>.self)
                destination.storeBytes(of: p3, toByteOffset: 48, as: SIMD8<Int16>.self)
                destination += 64
                row0 += 2 * plane
            }
            return
        }
        for pair in 0..<pairs {
            let c0 = 2 * pair, c1 = 2 * pair + 1
            let row0 = source + c0 * plane + start
            let row1 = source + c1 * plane + start
            let destination = right + pair * 2 * int8ConvTileColumns
            for lane in 0..<int8ConvTileColumns {
                let inside = lane < count
                destination[2 * lane] = inside ? Int16(truncatingIfNeeded: row0[lane]) &- zero16 : 0
                destination[2 * lane + 1] = inside && c1 < channels ? Int16(truncatingIfNeeded: row1[lane]) &- zero16 : 0
            }
        }
    }

    /// General im2col of one 16-pixel panel: element (pixel lane i, reduction kk) goes to
    /// `[kk / 2][i][kk % 2]`; padding taps and lanes past `count` are 0 (= xZero − xZero).
    @inline(__always)
    static func packIm2col16<X: QuantizedScalar>(
        _ source: UnsafePointer<X>, geometry g: Conv2DGeometry, channels: Int, start: Int, count: Int,
        zero: Int32, pairs: Int, into right: UnsafeMutablePointer<Int16>
    ) {
        let zero16 = Int16(truncatingIfNeeded: zero)
        let depth = channels * g.kernelHeight * g.kernelWidth
        let firstY = start / g.outWidth, firstX = start % g.outWidth
        // All lanes on one output row: one input row per tap, a contiguous (strided) column run.
        let oneRow = count == int8ConvTileColumns && firstX + int8ConvTileColumns <= g.outWidth
        var originY = SIMD16<Int32>(), originX = SIMD16<Int32>()
        for lane in 0..<int8ConvTileColumns {
            let pixel = start + Swift.min(lane, Swift.max(0, count - 1))
            originY[lane] = Int32(truncatingIfNeeded: (pixel / g.outWidth) * g.strideHeight - g.padTop)
            originX[lane] = Int32(truncatingIfNeeded: (pixel % g.outWidth) * g.strideWidth - g.padLeft)
        }
        var kk = 0
        for channel in 0..<channels {
            let channelInput = source + channel * g.inHeight * g.inWidth
            for filterY in 0..<g.kernelHeight {
                for filterX in 0..<g.kernelWidth {
                    let destination = right + (kk / 2) * 2 * int8ConvTileColumns + kk % 2
                    let dy = filterY * g.dilationHeight, dx = filterX * g.dilationWidth
                    if oneRow {
                        let inY = firstY * g.strideHeight - g.padTop + dy
                        let x0 = firstX * g.strideWidth - g.padLeft + dx
                        let x15 = x0 + (int8ConvTileColumns - 1) * g.strideWidth
                        if inY < 0 || inY >= g.inHeight {
                            for lane in 0..<int8ConvTileColumns { destination[2 * lane] = 0 }
                        } else if x0 >= 0 && x15 < g.inWidth {
                            let row = channelInput + inY * g.inWidth + x0
                            for lane in 0..<int8ConvTileColumns {
                                destination[2 * lane] = Int16(truncatingIfNeeded: row[lane * g.strideWidth]) &- zero16
                            }
                        } else {
                            let row = channelInput + inY * g.inWidth
                            for lane in 0..<int8ConvTileColumns {
                                let inX = x0 + lane * g.strideWidth
                                destination[2 * lane] = inX >= 0 && inX < g.inWidth
                                    ? Int16(truncatingIfNeeded: row[inX]) &- zero16 : 0
                            }
                        }
                    } else {
                        for lane in 0..<int8ConvTileColumns {
                            let inY = Int(originY[lane]) + dy, inX = Int(originX[lane]) + dx
                            var value: Int16 = 0
                            if lane < count && inY >= 0 && inY < g.inHeight && inX >= 0 && inX < g.inWidth {
                                value = Int16(truncatingIfNeeded: channelInput[inY * g.inWidth + inX]) &- zero16
                            }
                            destination[2 * lane] = value
                        }
                    }
                    kk += 1
                }
            }
        }
        // Odd depth: the second half of the last pair is zero for every pixel.
        if depth % 2 == 1 {
            let destination = right + (depth / 2) * 2 * int8ConvTileColumns + 1
            for lane in 0..<int8ConvTileColumns { destination[2 * lane] = 0 }
        }
    }
}

// MARK: - Row sinks: where an 8-wide row of accumulators goes

/// Receives one row of 8 accumulators (first `count` valid) for output channel `channel`, to be
/// written at element `index` of the output.
protocol Int8RowSink {
    mutating func store(_ acc0: SIMD4<Int32>, _ acc1: SIMD4<Int32>, channel: Int, count: Int, at index: Int)
    /// As `store`, for a row of 16 accumulators (pixels 0–7 in `acc0`, 8–15 in `acc1`).
    mutating func store16(_ acc0: SIMD8<Int32>, _ acc1: SIMD8<Int32>, channel: Int, count: Int, at index: Int)
}

/// Adds the channel's bias, requantizes with the channel's multiplier, counts and stores as Y.
struct RequantizingSink<Y: QuantizedScalar>: Int8RowSink {
    let output: UnsafeMutablePointer<Y>
    let bias: UnsafePointer<Int32>?
    let multipliers: UnsafePointer<Float>
    let perTensor: Bool
    var requantizer: Int8Requantizer
    var requantizer8: Int8Requantizer8

    @inline(__always)
    mutating func store16(_ acc0: SIMD8<Int32>, _ acc1: SIMD8<Int32>, channel: Int, count: Int, at index: Int) {
        let biasVector = SIMD8<Int32>(repeating: bias?[channel] ?? 0)
        let scale = SIMD8<Float>(repeating: multipliers[perTensor ? 0 : channel])
        let t0 = requantizer8.shifted(acc0 &+ biasVector, scale)
        let t1 = requantizer8.shifted(acc1 &+ biasVector, scale)
        requantizer8.count(t0, t1, count: count)
        storeInt8Row16(requantizer8.quantize(t0), requantizer8.quantize(t1), count: count, to: output + index)
    }

    @inline(__always)
    mutating func store(_ acc0: SIMD4<Int32>, _ acc1: SIMD4<Int32>, channel: Int, count: Int, at index: Int) {
        let biasVector = SIMD4<Int32>(repeating: bias?[channel] ?? 0)
        let scale = SIMD4<Float>(repeating: multipliers[perTensor ? 0 : channel])
        if count == int8TileColumns {
            let v0 = requantizer.apply(acc0 &+ biasVector, scale)
            let v1 = requantizer.apply(acc1 &+ biasVector, scale)
            storeInt8Row(v0, v1, to: output + index)
        } else {
            let v0 = requantizer.apply(acc0 &+ biasVector, scale, validLanes: count)
            let v1 = requantizer.apply(acc1 &+ biasVector, scale, validLanes: count - 4)
            storeInt8Row(v0, v1, count: count, to: output + index)
        }
    }
}

/// Stores the raw accumulators (ConvInteger).
struct Int32Sink: Int8RowSink {
    let output: UnsafeMutablePointer<Int32>

    @inline(__always)
    mutating func store(_ acc0: SIMD4<Int32>, _ acc1: SIMD4<Int32>, channel: Int, count: Int, at index: Int) {
        storeInt32Row(acc0, acc1, count: count, to: output + index)
    }

    @inline(__always)
    mutating func store16(_ acc0: SIMD8<Int32>, _ acc1: SIMD8<Int32>, channel: Int, count: Int, at index: Int) {
        storeInt32Row16(acc0, acc1, count: count, to: output + index)
    }
}

/// Loads 8 bytes of 8-bit data and widens them to Int16 (sign- or zero-extending per X).
@inline(__always)
func widen8<X: QuantizedScalar>(_ pointer: UnsafePointer<X>) -> SIMD8<Int16> {
    if X.isSigned {
        return SIMD8<Int16>(truncatingIfNeeded: UnsafeRawPointer(pointer).loadUnaligned(as: SIMD8<Int8>.self))
    } else {
        return SIMD8<Int16>(truncatingIfNeeded: UnsafeRawPointer(pointer).loadUnaligned(as: SIMD8<UInt8>.self))
    }
}

/// Loads 16 bytes of 8-bit data and widens them to Int16 (sign- or zero-extending per X).
@inline(__always)
func widen16<X: QuantizedScalar>(_ pointer: UnsafePointer<X>) -> SIMD16<Int16> {
    var v = SIMD16<Int16>()
    if X.isSigned {
        let bytes = UnsafeRawPointer(pointer).loadUnaligned(as: SIMD16<Int8>.self)
        for lane in 0..<16 { v[lane] = Int16(bytes[lane]) }
    } else {
        let bytes = UnsafeRawPointer(pointer).loadUnaligned(as: SIMD16<UInt8>.self)
        for lane in 0..<16 { v[lane] = Int16(bytes[lane]) }
    }
    return v
}

/// Stride-1 plane fill: positions `first..<end` of `destination` get `row[p + offset] − zero` (columns
/// inside the row). Chunks of 16 (or 8 when fewer than 16 positions), the last overlapping its
/// predecessor (same values). Returns the first position not written (`end`, or `first`).
@inline(__always)
func fillStride1<X: QuantizedScalar>(
    _ row: UnsafePointer<X>, into destination: UnsafeMutablePointer<Int16>, first: Int, end: Int,
    offset: Int, zero: Int16
) -> Int {
    let count = end - first
    if count >= 16 {
        let zeroVector = SIMD16<Int16>(repeating: zero)
        var p = first
        while p < end {
            let q = Swift.min(p, end - 16)
            UnsafeMutableRawPointer(destination + q).storeBytes(of: widen16(row + (q + offset)) &- zeroVector,
                                                                as: SIMD16<Int16>.self)
            p = q + 16
        }
        return end
    }
    if count >= 8 {
        let zeroVector = SIMD8<Int16>(repeating: zero)
        var p = first
        while p < end {
            let q = Swift.min(p, end - 8)
            UnsafeMutableRawPointer(destination + q).storeBytes(of: widen8(row + (q + offset)) &- zeroVector,
                                                                as: SIMD8<Int16>.self)
            p = q + 8
        }
        return end
    }
    return first
}

/// Stride-2 plane fill: positions `first..<end` of `destination` get `row[2p + offset] − zero`, where
/// every such column lies in `[0, inWidth)`. Vector chunks of 16 (inWidth ≥ 32) or 8 (inWidth ≥ 16)
/// positions, the last chunk overlapping its predecessor (same values); each chunk is one load of
/// 2·chunk bytes whose even (or, shifted back one byte at the row's end, odd) bytes are the columns.
/// Returns the first position not written (`end`, or `first` when no vector chunk applies).
@inline(__always)
func fillStride2<X: QuantizedScalar>(
    _ row: UnsafePointer<X>, inWidth: Int, into destination: UnsafeMutablePointer<Int16>, first: Int, end: Int,
    offset: Int, zero: Int16
) -> Int {
    let count = end - first
    if count >= 16 && inWidth >= 32 {
        let zeroVector = SIMD16<Int16>(repeating: zero)
        var p = first
        while p < end {
            let q = Swift.min(p, end - 16)
            let column = 2 * q + offset
            // Columns column…column+30 are inside; the 32-byte load needs column+31 too, else start one earlier.
            let odd = column + 32 > inWidth
            let words = UnsafeRawPointer(row + (odd ? column - 1 : column))
            var v: SIMD16<Int16>
            if X.isSigned {
                let w = words.loadUnaligned(as: SIMD16<Int16>.self)
                v = odd ? w &>> 8 : (w &<< 8) &>> 8
            } else {
                let w = words.loadUnaligned(as: SIMD16<UInt16>.self)
                v = SIMD16<Int16>(truncatingIfNeeded: odd ? w &>> 8 : w & 0xFF)
            }
            UnsafeMutableRawPointer(destination + q).storeBytes(of: v &- zeroVector, as: SIMD16<Int16>.self)
            p = q + 16
        }
        return end
    }
    if count >= 8 && inWidth >= 16 {
        let zeroVector = SIMD8<Int16>(repeating: zero)
        var p = first
        while p < end {
            let q = Swift.min(p, end - 8)
            let column = 2 * q + offset
            let odd = column + 16 > inWidth
            let words = UnsafeRawPointer(row + (odd ? column - 1 : column))
            var v: SIMD8<Int16>
            if X.isSigned {
                let w = words.loadUnaligned(as: SIMD8<Int16>.self)
                v = odd ? w &>> 8 : (w &<< 8) &>> 8
            } else {
                let w = words.loadUnaligned(as: SIMD8<UInt16>.self)
                v = SIMD8<Int16>(truncatingIfNeeded: odd ? w &>> 8 : w & 0xFF)
            }
            UnsafeMutableRawPointer(destination + q).storeBytes(of: v &- zeroVector, as: SIMD8<Int16>.self)
            p = q + 8
        }
        return end
    }
    return first
}

/// Interleaves two vectors: (a0, b0, a1, b1, a2, b2, a3, b3) and (a4, b4, …, a7, b7) (punpckl/hwd, zip1/zip2).
@inline(__always)
func interleave(_ a: SIMD8<Int16>, _ b: SIMD8<Int16>) -> (SIMD8<Int16>, SIMD8<Int16>) {
    var low = SIMD8<Int16>(), high = SIMD8<Int16>()
    for i in 0..<4 {
        low[2 * i] = a[i]
        low[2 * i + 1] = b[i]
        high[2 * i] = a[i + 4]
        high[2 * i + 1] = b[i + 4]
    }
    return (low, high)
}
