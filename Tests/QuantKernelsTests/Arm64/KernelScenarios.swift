// The aarch64 cross-check's scenarios: deterministic inputs → every kernel → one byte log.
//
// This file is compiled twice from the same source:
// - on the host, into QuantKernelsTests (Arm64GoldenTests writes the log to .build/arm64-golden.bin);
// - by scripts/test-arm64.sh, under Embedded Swift for aarch64 (cortex-a72 and cortex-a76), into the
//   driver that runs under qemu-user and compares its own log with the host's (Tests/Arm64/main.c).
// So it must stay Embedded-compatible: no Foundation, no existentials (`any`), no String
// interpolation or Float printing — only QuantKernels, TestSupport's SplitMix64 and the stdlib core.
//
// Log format (little-endian): per record
//   kind u8 (0 = integers, compared exactly; 1 = Float32 bit patterns, compared within 1e-6 relative)
//   elementSize u8, tag u32 (scenario case number), nameLength u32, name bytes, count u32, payload.

import QuantKernels
import TestSupport

/// The results of one run of every scenario, serialized.
public struct KernelResultLog {
    public private(set) var bytes: [UInt8] = []
    public private(set) var recordCount = 0
    /// Case number attached to the following records (set by the scenarios).
    var tag = 0

    public init() {}

    private mutating func append32(_ v: UInt32) {
        for shift in stride(from: 0, to: 32, by: 8) { bytes.append(UInt8(truncatingIfNeeded: v >> UInt32(shift))) }
    }

    private mutating func header(_ name: StaticString, kind: UInt8, elementSize: Int, count: Int) {
        bytes.append(kind)
        bytes.append(UInt8(elementSize))
        append32(UInt32(truncatingIfNeeded: tag))
        append32(UInt32(name.utf8CodeUnitCount))
        name.withUTF8Buffer { bytes.append(contentsOf: $0) }
        append32(UInt32(truncatingIfNeeded: count))
        recordCount += 1
    }

    /// Integer results, compared exactly.
    mutating func exact<T: FixedWidthInteger>(_ name: StaticString, _ values: [T]) {
        header(name, kind: 0, elementSize: MemoryLayout<T>.size, count: values.count)
        for value in values {
            let bits = UInt64(truncatingIfNeeded: value)
            for byte in 0..<MemoryLayout<T>.size { bytes.append(UInt8(truncatingIfNeeded: bits >> UInt64(8 * byte))) }
        }
    }

    /// Saturation counters, compared exactly.
    mutating func counts(_ name: StaticString, _ c: SaturationCounts) {
        exact(name, [Int64(c.low), Int64(c.high), Int64(c.total)])
    }

    /// Float results, compared within 1e-6 relative.
    mutating func floats(_ name: StaticString, _ values: [Float]) {
        header(name, kind: 1, elementSize: 4, count: values.count)
        for value in values {
            let bits = value.bitPattern
            for byte in 0..<4 { bytes.append(UInt8(truncatingIfNeeded: bits >> UInt32(8 * byte))) }
        }
    }
}

/// Every scenario, in a fixed order, from one seed.
public enum KernelScenarios {
    public static func run() -> KernelResultLog {
        var log = KernelResultLog()
        var rng = SplitMix64(seed: 0xA64_C0DE)
        requantizationEdges(&log)
        requantizingGemmTies(&log, &rng)
        gemmCases(&log, &rng)
        convCases(&log, &rng)
        poolInt8Cases(&log, &rng)
        binaryInt8Cases(&log, &rng)
        elementwiseInt8Cases(&log, &rng)
        floatCases(&log, &rng)
        return log
    }

    // MARK: - Inputs

    static func quantized<T: QuantizedScalar>(_: T.Type, _ count: Int, _ rng: inout SplitMix64) -> [T] {
        var values = [T]()
        values.reserveCapacity(count)
        for _ in 0..<count { values.append(T(truncatingIfNeeded: rng.int(Int(T.quantizedMin), Int(T.quantizedMax)))) }
        return values
    }

    static func zeroPoint<T: QuantizedScalar>(_: T.Type, _ rng: inout SplitMix64) -> Int32 {
        Int32(rng.int(Int(T.quantizedMin), Int(T.quantizedMax)))
    }

    /// A requantization with multipliers from tiny to saturating, per tensor or per channel, and
    /// no activation / ReLU / ReLU6 / a Clip (`variant` picks, so every case set covers all four).
    static func requantization<Y: QuantizedScalar>(_: Y.Type, channels: Int, typicalSum: Float, perChannel: Bool,
                                                   variant: Int, _ rng: inout SplitMix64) -> Requantization {
        let base = 1 / Swift.max(1, typicalSum) * rng.float(0.5, 40)
        var multipliers = [Float]()
        for _ in 0..<(perChannel ? channels : 1) {
            switch rng.int(0, 9) {
            case 0: multipliers.append(base * 1000)
            case 1: multipliers.append(rng.float(1, 3))
            case 2: multipliers.append(1e-7)
            default: multipliers.append(base * rng.float(0.5, 2))
            }
        }
        let activation: FloatClamp
        switch variant % 4 {
        case 0: activation = .none
        case 1: activation = FloatClamp(lower: 0)
        case 2: activation = FloatClamp(lower: 0, upper: 6)
        default: activation = FloatClamp(lower: -1000, upper: rng.float(-1, 3))
        }
        return Requantization.make(Y.self, multipliers: multipliers, zeroPoint: zeroPoint(Y.self, &rng),
                                   outputScale: rng.float(0.01, 0.2), activation: activation)
    }

    static func outputSize(_ input: Int, kernel: Int, stride: Int, dilation: Int, padBefore: Int, padAfter: Int) -> Int {
        let span = (kernel - 1) * dilation + 1
        let padded = input + padBefore + padAfter
        return padded < span ? 0 : (padded - span) / stride + 1
    }

    // MARK: - Requantization at the rounding edges

    /// The scalar rule on exact ties, the ±2^22/2^23 boundaries, Int32 overflow, NaN and infinities.
    static func requantizationEdges(_ log: inout KernelResultLog) {
        log.tag = 0
        var probes: [Float] = [0, -0.0, 0.5, -0.5, 1.5, -1.5, 2.5, -2.5, 3.5, -3.5, 0.49999997, -0.49999997,
                               0.50000006, -0.50000006, 126.5, 127.5, -127.5, -128.5, 254.5, 255.5,
                               4_194_303.5, -4_194_303.5, 4_194_304.5, 8_388_607.5, -8_388_607.5, 8_388_608, 16_777_218,
                               2_147_483_520, 2_147_483_648, -2_147_483_648, -2_147_483_904, 1e20, -1e20,
                               Float.infinity, -Float.infinity, Float.nan,
                               Float.leastNonzeroMagnitude, -Float.leastNonzeroMagnitude, Float.greatestFiniteMagnitude]
        for i in -40...40 { probes.append(Float(i) * 0.25) }
        var rounded = [Int32]()
        for p in probes { rounded.append(roundHalfEvenToInt32(p)) }
        log.exact("roundHalfEvenToInt32", rounded)

        // Requantization.apply: accumulators whose product with the multiplier is an exact tie.
        let accumulators: [Int32] = [0, 1, -1, 3, -3, 5, -5, 255, -255, 257, -257, 511, -511, 1023, -1025,
                                     65_535, -65_537, 16_777_215, 16_777_217, -16_777_217, 1 << 30,
                                     Int32.max, Int32.min, Int32.min + 1]
        let multipliers: [Float] = [0.5, 0.25, 0.125, 1.5, 0.75, 1, 3, 0, 1e-7, 0.0078125, 2.5]
        var tag = 1
        for y in 0..<2 {
            for (zp, act) in [(Int32(0), 0), (Int32(-3), 1), (Int32(7), 2), (Int32(127), 3)] {
                let activation: FloatClamp = act == 0 ? .none
                    : act == 1 ? FloatClamp(lower: 0) : act == 2 ? FloatClamp(lower: 0, upper: 6) : FloatClamp(lower: -1, upper: 0.5)
                let r = y == 0
                    ? Requantization.make(Int8.self, multipliers: multipliers, zeroPoint: zp, outputScale: 0.05, activation: activation)
                    : Requantization.make(UInt8.self, multipliers: multipliers, zeroPoint: zp + 128, outputScale: 0.05, activation: activation)
                log.tag = tag
                log.exact("Requantization.make bounds", [r.lower, r.upper, r.qmin, r.qmax, r.countLow ? 1 : 0, r.countHigh ? 1 : 0])
                var counts = SaturationCounts()
                var out = [Int32]()
                for channel in 0..<multipliers.count {
                    for acc in accumulators { out.append(r.apply(acc, channel: channel, counts: &counts)) }
                }
                log.exact("Requantization.apply", out)
                log.counts("Requantization.apply counts", counts)
                tag += 1
            }
        }
    }

    /// The fast GEMM epilogue on the same ties: k = 1, B = 1, so acc = A[i] − aZero + bias[j] and
    /// multipliers like 0.5 make half of the products exact ties; large biases saturate.
    static func requantizingGemmTies(_ log: inout KernelResultLog, _ rng: inout SplitMix64) {
        let tieMultipliers: [Float] = [0.5, 0.25, 0.125, 1.5, 0.75, 2.5, 0.375, 1]
        for (caseIndex, n) in [24, 21, 8, 3].enumerated() {
            log.tag = 100 + caseIndex
            let m = 13, k = 1
            var a = [Int8]()
            for i in 0..<m { a.append(Int8(truncatingIfNeeded: i * 19 - 120)) }
            let b = [Int8](repeating: 1, count: n)
            var bias = [Int32]()
            var multipliers = [Float]()
            for j in 0..<n {
                bias.append(Int32(j % 5 == 0 ? rng.int(-2000, 2000) : rng.int(-300, 300)) | 1)
                multipliers.append(tieMultipliers[j % tieMultipliers.count])
            }
            for y in 0..<2 {
                let zp: Int32 = y == 0 ? Int32(rng.int(-5, 5)) : Int32(rng.int(120, 136))
                let activation = caseIndex % 2 == 0 ? FloatClamp.none : FloatClamp(lower: 0, upper: 6)
                let r = y == 0
                    ? Requantization.make(Int8.self, multipliers: multipliers, zeroPoint: zp, outputScale: 0.1, activation: activation)
                    : Requantization.make(UInt8.self, multipliers: multipliers, zeroPoint: zp, outputScale: 0.1, activation: activation)
                if y == 0 {
                    gemmRun(&log, a: a, b: b, m: m, n: n, k: k, aZero: 0, bZeros: [0], transposed: false,
                            bias: bias, r: r, Int8.self)
                } else {
                    gemmRun(&log, a: a, b: b, m: m, n: n, k: k, aZero: 0, bZeros: [0], transposed: false,
                            bias: bias, r: r, UInt8.self)
                }
            }
        }
    }

    // MARK: - Int8 GEMM / MatMul

    static func gemmRun<A: QuantizedScalar, W: QuantizedScalar, Y: QuantizedScalar>(
        _ log: inout KernelResultLog, a: [A], b: [W], m: Int, n: Int, k: Int, aZero: Int32, bZeros: [Int32],
        transposed: Bool, bias: [Int32]?, r: Requantization, _: Y.Type
    ) {
        let packed = GemmInt8.PackedB(b: b, k: k, n: n, transposed: transposed, zeroPoints: bZeros)
        var fast = [Y](repeating: 0x5A, count: m * n), reference = [Y](repeating: 0x33, count: m * n)
        var fast32 = [Int32](repeating: 0x5A5A, count: m * n), reference32 = [Int32](repeating: 0x3333, count: m * n)
        var fastCounts = SaturationCounts(), referenceCounts = SaturationCounts()
        var scratch = [UInt8](repeating: 0xA7, count: GemmInt8.scratchByteCount(m: m, n: n, k: k))
        bZeros.withUnsafeBufferPointer { zeros in
            scratch.withUnsafeMutableBytes { scratch in
                if let bias {
                    bias.withUnsafeBufferPointer { bias in
                        GemmInt8.run(m: m, n: n, k: k, a: a, lda: k, aZero: aZero, packed: packed, bias: bias.baseAddress,
                                     output: &fast, ldc: n, requantization: r, counts: &fastCounts, scratch: scratch.baseAddress!)
                        GemmInt8.reference(m: m, n: n, k: k, a: a, lda: k, aZero: aZero, b: b, transposedB: transposed,
                                           bZeros: zeros.baseAddress!, bZeroCount: zeros.count, bias: bias.baseAddress,
                                           output: &reference, ldc: n, requantization: r, counts: &referenceCounts)
                    }
                } else {
                    GemmInt8.run(m: m, n: n, k: k, a: a, lda: k, aZero: aZero, packed: packed, bias: nil,
                                 output: &fast, ldc: n, requantization: r, counts: &fastCounts, scratch: scratch.baseAddress!)
                    GemmInt8.reference(m: m, n: n, k: k, a: a, lda: k, aZero: aZero, b: b, transposedB: transposed,
                                       bZeros: zeros.baseAddress!, bZeroCount: zeros.count, bias: nil,
                                       output: &reference, ldc: n, requantization: r, counts: &referenceCounts)
                }
                GemmInt8.runInt32(m: m, n: n, k: k, a: a, lda: k, aZero: aZero, packed: packed, output: &fast32, ldc: n,
                                  scratch: scratch.baseAddress!)
                GemmInt8.referenceInt32(m: m, n: n, k: k, a: a, lda: k, aZero: aZero, b: b, transposedB: transposed,
                                        bZeros: zeros.baseAddress!, bZeroCount: zeros.count, output: &reference32, ldc: n)
            }
        }
        log.exact("GemmInt8.run", fast)
        log.counts("GemmInt8.run counts", fastCounts)
        log.exact("GemmInt8.reference", reference)
        log.counts("GemmInt8.reference counts", referenceCounts)
        log.exact("GemmInt8.runInt32", fast32)
        log.exact("GemmInt8.referenceInt32", reference32)
    }

    static func gemmCase<A: QuantizedScalar, W: QuantizedScalar, Y: QuantizedScalar>(
        _ log: inout KernelResultLog, _ rng: inout SplitMix64, m: Int, n: Int, k: Int, transposed: Bool,
        perChannel: Bool, hasBias: Bool, variant: Int, _: A.Type, _: W.Type, _: Y.Type
    ) {
        let a = quantized(A.self, m * k, &rng)
        let b = quantized(W.self, k * n, &rng)
        let aZero = zeroPoint(A.self, &rng)
        var bZeros = [Int32]()
        for _ in 0..<(perChannel ? n : 1) { bZeros.append(rng.bool() ? (W.isSigned ? 0 : 128) : zeroPoint(W.self, &rng)) }
        var bias = [Int32]()
        for _ in 0..<n { bias.append(Int32(rng.int(-20000, 20000))) }
        let r = requantization(Y.self, channels: n, typicalSum: Float(k) * 4000, perChannel: perChannel, variant: variant, &rng)
        gemmRun(&log, a: a, b: b, m: m, n: n, k: k, aZero: aZero, bZeros: bZeros, transposed: transposed,
                bias: hasBias ? bias : nil, r: r, Y.self)
    }

    static func gemmCases(_ log: inout KernelResultLog, _ rng: inout SplitMix64) {
        let shapes: [(Int, Int, Int)] = [(1, 1, 1), (4, 8, 2), (5, 13, 37), (16, 64, 64), (7, 33, 128), (3, 10, 255), (33, 17, 9)]
        var tag = 200
        for (index, shape) in shapes.enumerated() {
            let (m, n, k) = shape
            let transposed = index % 2 == 1, perChannel = index % 3 != 0, hasBias = index != 2
            log.tag = tag; tag += 1
            gemmCase(&log, &rng, m: m, n: n, k: k, transposed: transposed, perChannel: perChannel, hasBias: hasBias,
                     variant: index, UInt8.self, Int8.self, UInt8.self)
            log.tag = tag; tag += 1
            gemmCase(&log, &rng, m: m, n: n, k: k, transposed: !transposed, perChannel: !perChannel, hasBias: hasBias,
                     variant: index + 1, Int8.self, Int8.self, Int8.self)
            log.tag = tag; tag += 1
            gemmCase(&log, &rng, m: m, n: n, k: k, transposed: transposed, perChannel: perChannel, hasBias: !hasBias,
                     variant: index + 2, UInt8.self, UInt8.self, Int8.self)
            log.tag = tag; tag += 1
            gemmCase(&log, &rng, m: m, n: n, k: k, transposed: !transposed, perChannel: perChannel, hasBias: hasBias,
                     variant: index + 3, Int8.self, UInt8.self, UInt8.self)
        }
    }

    // MARK: - Int8 convolution

    static func convCase<X: QuantizedScalar, W: QuantizedScalar, Y: QuantizedScalar>(
        _ log: inout KernelResultLog, _ rng: inout SplitMix64, _ g: Conv2DGeometry, perChannel: Bool, hasBias: Bool,
        variant: Int, _: X.Type, _: W.Type, _: Y.Type
    ) {
        let input = quantized(X.self, g.batch * g.inChannels * g.inHeight * g.inWidth, &rng)
        let depth = (g.inChannels / g.groups) * g.kernelHeight * g.kernelWidth
        let weights = quantized(W.self, g.outChannels * depth, &rng)
        let inputZero = zeroPoint(X.self, &rng)
        var weightZeros = [Int32]()
        for _ in 0..<(perChannel ? g.outChannels : 1) {
            weightZeros.append(rng.bool() ? (W.isSigned ? 0 : 128) : zeroPoint(W.self, &rng))
        }
        var bias = [Int32]()
        for _ in 0..<g.outChannels { bias.append(Int32(rng.int(-20000, 20000))) }
        let r = requantization(Y.self, channels: g.outChannels, typicalSum: Float(depth) * 4000, perChannel: perChannel,
                               variant: variant, &rng)
        let count = g.batch * g.outChannels * g.outHeight * g.outWidth
        var fast = [Y](repeating: 0x5A, count: count), reference = [Y](repeating: 0x33, count: count)
        var fast32 = [Int32](repeating: 0x5A5A, count: count), reference32 = [Int32](repeating: 0x3333, count: count)
        var fastCounts = SaturationCounts(), referenceCounts = SaturationCounts()
        let packed = Conv2DInt8.PackedWeights(weights: weights, zeroPoints: weightZeros, geometry: g)
        var scratch = [UInt8](repeating: 0xA7, count: Conv2DInt8.scratchByteCount(geometry: g))
        weightZeros.withUnsafeBufferPointer { zeros in
            bias.withUnsafeBufferPointer { biasBuffer in
                scratch.withUnsafeMutableBytes { scratch in
                    let biasPointer = hasBias ? biasBuffer.baseAddress : nil
                    Conv2DInt8.run(input: input, inputZero: inputZero, packed: packed, bias: biasPointer, output: &fast,
                                   geometry: g, requantization: r, counts: &fastCounts, scratch: scratch.baseAddress!)
                    Conv2DInt8.reference(input: input, inputZero: inputZero, weights: weights, weightZeros: zeros.baseAddress!,
                                         weightZeroCount: zeros.count, bias: biasPointer, output: &reference, geometry: g,
                                         requantization: r, counts: &referenceCounts)
                    Conv2DInt8.runInt32(input: input, inputZero: inputZero, packed: packed, output: &fast32, geometry: g,
                                        scratch: scratch.baseAddress!)
                    Conv2DInt8.referenceInt32(input: input, inputZero: inputZero, weights: weights, weightZeros: zeros.baseAddress!,
                                              weightZeroCount: zeros.count, output: &reference32, geometry: g)
                }
            }
        }
        log.exact("Conv2DInt8.run", fast)
        log.counts("Conv2DInt8.run counts", fastCounts)
        log.exact("Conv2DInt8.reference", reference)
        log.counts("Conv2DInt8.reference counts", referenceCounts)
        log.exact("Conv2DInt8.runInt32", fast32)
        log.exact("Conv2DInt8.referenceInt32", reference32)
    }

    /// (inC, outC, H, W, k, stride, pad, dilation, groups): pointwise, 3x3 padded, strided, grouped,
    /// dilated, depthwise (multiplier 1 and 2, stride 1 and 2), a 7x7 stem.
    static let convGeometries: [(Int, Int, Int, Int, Int, Int, Int, Int, Int)] = [
        (16, 24, 9, 11, 1, 1, 0, 1, 1),
        (8, 12, 10, 10, 3, 1, 1, 1, 1),
        (6, 10, 13, 17, 3, 2, 1, 1, 1),
        (3, 16, 19, 23, 7, 2, 3, 1, 1),
        (8, 8, 12, 12, 3, 1, 2, 2, 2),
        (16, 16, 12, 20, 3, 1, 1, 1, 16),
        (12, 12, 15, 33, 3, 2, 1, 1, 12),
        (8, 16, 9, 9, 5, 1, 2, 1, 8),
        (4, 4, 7, 5, 3, 3, 0, 1, 4),
        (5, 7, 6, 6, 2, 1, 0, 1, 1),
    ]

    static func convCases(_ log: inout KernelResultLog, _ rng: inout SplitMix64) {
        var tag = 300
        for (index, c) in convGeometries.enumerated() {
            let (inC, outC, h, w, k, s, p, d, groups) = c
            let oh = outputSize(h, kernel: k, stride: s, dilation: d, padBefore: p, padAfter: p)
            let ow = outputSize(w, kernel: k, stride: s, dilation: d, padBefore: p, padAfter: p)
            let g = Conv2DGeometry(batch: index == 1 ? 2 : 1, inChannels: inC, inHeight: h, inWidth: w,
                                   outChannels: outC, outHeight: oh, outWidth: ow, kernelHeight: k, kernelWidth: k,
                                   strideHeight: s, strideWidth: s, dilationHeight: d, dilationWidth: d,
                                   padTop: p, padLeft: p, groups: groups)
            let perChannel = index % 4 != 3
            log.tag = tag; tag += 1
            convCase(&log, &rng, g, perChannel: perChannel, hasBias: true, variant: index, UInt8.self, Int8.self, UInt8.self)
            log.tag = tag; tag += 1
            convCase(&log, &rng, g, perChannel: !perChannel, hasBias: index % 3 != 0, variant: index + 1,
                     Int8.self, Int8.self, Int8.self)
            log.tag = tag; tag += 1
            convCase(&log, &rng, g, perChannel: perChannel, hasBias: true, variant: index + 2, UInt8.self, UInt8.self, Int8.self)
        }
    }

    // MARK: - Int8 pooling

    static func poolCase<T: QuantizedScalar>(_ log: inout KernelResultLog, _ rng: inout SplitMix64, _ g: Pool2DGeometry,
                                             variant: Int, _: T.Type) {
        let input = quantized(T.self, g.batch * g.channels * g.inHeight * g.inWidth, &rng)
        let count = g.batch * g.channels * g.outHeight * g.outWidth
        var fast = [T](repeating: 0, count: count), reference = [T](repeating: 0, count: count)
        PoolInt8.max(input: input, output: &fast, geometry: g)
        PoolInt8.maxReference(input: input, output: &reference, geometry: g)
        log.exact("PoolInt8.max", fast)
        log.exact("PoolInt8.maxReference", reference)
        let activation: FloatClamp = variant % 3 == 0 ? .none : variant % 3 == 1 ? FloatClamp(lower: 0) : FloatClamp(lower: 0, upper: 6)
        let p = AveragePoolInt8Parameters(T.self, xScale: rng.float(0.01, 0.1), xZero: zeroPoint(T.self, &rng),
                                          yScale: rng.float(0.005, 0.1), yZero: zeroPoint(T.self, &rng), activation: activation)
        for includePad in [false, true] {
            var fastCounts = SaturationCounts(), referenceCounts = SaturationCounts()
            PoolInt8.average(input: input, output: &fast, geometry: g, countIncludePad: includePad, parameters: p, counts: &fastCounts)
            PoolInt8.averageReference(input: input, output: &reference, geometry: g, countIncludePad: includePad,
                                      parameters: p, counts: &referenceCounts)
            log.exact("PoolInt8.average", fast)
            log.counts("PoolInt8.average counts", fastCounts)
            log.exact("PoolInt8.averageReference", reference)
            log.counts("PoolInt8.averageReference counts", referenceCounts)
        }
        let planes = g.batch * g.channels, spatial = g.inHeight * g.inWidth
        var global = [T](repeating: 0, count: planes), globalReference = [T](repeating: 0, count: planes)
        var fastCounts = SaturationCounts(), referenceCounts = SaturationCounts()
        PoolInt8.globalAverage(input: input, output: &global, planes: planes, spatial: spatial, parameters: p, counts: &fastCounts)
        PoolInt8.globalAverageReference(input: input, output: &globalReference, planes: planes, spatial: spatial,
                                        parameters: p, counts: &referenceCounts)
        log.exact("PoolInt8.globalAverage", global)
        log.counts("PoolInt8.globalAverage counts", fastCounts)
        log.exact("PoolInt8.globalAverageReference", globalReference)
        log.counts("PoolInt8.globalAverageReference counts", referenceCounts)
    }

    /// (C, H, W, k, stride, pad)
    static let poolGeometries: [(Int, Int, Int, Int, Int, Int)] = [
        (3, 10, 12, 2, 2, 0), (4, 13, 29, 3, 2, 1), (5, 9, 40, 3, 1, 1), (2, 7, 7, 7, 1, 0), (6, 16, 17, 5, 3, 2),
    ]

    static func poolInt8Cases(_ log: inout KernelResultLog, _ rng: inout SplitMix64) {
        var tag = 400
        for (index, c) in poolGeometries.enumerated() {
            let (channels, h, w, k, s, p) = c
            let g = Pool2DGeometry(batch: 1, channels: channels, inHeight: h, inWidth: w,
                                   outHeight: outputSize(h, kernel: k, stride: s, dilation: 1, padBefore: p, padAfter: p),
                                   outWidth: outputSize(w, kernel: k, stride: s, dilation: 1, padBefore: p, padAfter: p),
                                   kernelHeight: k, kernelWidth: k, strideHeight: s, strideWidth: s,
                                   dilationHeight: 1, dilationWidth: 1, padTop: p, padLeft: p, padBottom: p, padRight: p)
            log.tag = tag; tag += 1
            poolCase(&log, &rng, g, variant: index, UInt8.self)
            log.tag = tag; tag += 1
            poolCase(&log, &rng, g, variant: index + 1, Int8.self)
        }
    }

    // MARK: - QLinearAdd / QLinearMul

    static func binaryCase<T: QuantizedScalar>(_ log: inout KernelResultLog, _ rng: inout SplitMix64, output: [Int], lhs: [Int],
                                               rhs: [Int], variant: Int, _: T.Type) {
        let plan = BroadcastPlan(output: output, lhs: lhs, rhs: rhs)
        var lhsCount = 1, rhsCount = 1
        for d in lhs { lhsCount *= d }
        for d in rhs { rhsCount *= d }
        let a = quantized(T.self, lhsCount, &rng), b = quantized(T.self, rhsCount, &rng)
        let activation: FloatClamp = variant % 3 == 0 ? .none : variant % 3 == 1 ? FloatClamp(lower: 0) : FloatClamp(lower: 0, upper: 6)
        for op in [QLinearBinaryOperator.add, .mul] {
            let p = QLinearBinaryParameters(op, T.self, aScale: rng.float(0.01, 0.2), aZero: zeroPoint(T.self, &rng),
                                            bScale: rng.float(0.01, 0.2), bZero: zeroPoint(T.self, &rng),
                                            outputScale: rng.float(0.01, op == .add ? 0.2 : 0.5), outputZero: zeroPoint(T.self, &rng),
                                            activation: activation)
            var fast = [T](repeating: 0, count: plan.outputCount), reference = [T](repeating: 0, count: plan.outputCount)
            var fastCounts = SaturationCounts(), referenceCounts = SaturationCounts()
            if op == .add {
                BinaryInt8.add(lhs: a, rhs: b, output: &fast, plan: plan, parameters: p, counts: &fastCounts)
            } else {
                BinaryInt8.mul(lhs: a, rhs: b, output: &fast, plan: plan, parameters: p, counts: &fastCounts)
            }
            BinaryInt8.reference(lhs: a, rhs: b, output: &reference, plan: plan, parameters: p, counts: &referenceCounts)
            log.exact("BinaryInt8.run", fast)
            log.counts("BinaryInt8.run counts", fastCounts)
            log.exact("BinaryInt8.reference", reference)
            log.counts("BinaryInt8.reference counts", referenceCounts)
        }
    }

    static let broadcastShapes: [([Int], [Int], [Int])] = [
        ([2, 8, 13, 11], [2, 8, 13, 11], [2, 8, 13, 11]),
        ([3, 37], [3, 37], []),
        ([3, 37], [1], [3, 37]),
        ([2, 6, 9, 10], [2, 6, 9, 10], [6, 1, 1]),
        ([2, 6, 9, 10], [1, 6, 1, 1], [2, 6, 9, 10]),
        ([4, 19], [4, 19], [19]),
        ([3, 5, 7], [3, 1, 7], [1, 5, 7]),
    ]

    static func binaryInt8Cases(_ log: inout KernelResultLog, _ rng: inout SplitMix64) {
        var tag = 500
        for (index, shapes) in broadcastShapes.enumerated() {
            log.tag = tag; tag += 1
            binaryCase(&log, &rng, output: shapes.0, lhs: shapes.1, rhs: shapes.2, variant: index, UInt8.self)
            log.tag = tag; tag += 1
            binaryCase(&log, &rng, output: shapes.0, lhs: shapes.1, rhs: shapes.2, variant: index + 1, Int8.self)
        }
    }

    // MARK: - Quantize / dequantize, lookup tables, softmax, concat, dynamic quantization

    static func quantizeCase<Y: QuantizedScalar>(_ log: inout KernelResultLog, _ rng: inout SplitMix64, _: Y.Type) {
        // Per axis [outer 3, channels 4, inner 37]; scales are powers of two so x/scale hits exact ties.
        let outer = 3, channels = 4, inner = 37
        let scales: [Float] = [0.5, 0.25, 0.03125, 0.1]
        var zeros = [Int32]()
        for _ in 0..<channels { zeros.append(zeroPoint(Y.self, &rng)) }
        var input = [Float]()
        for i in 0..<(outer * channels * inner) {
            let channel = (i / inner) % channels
            switch i % 5 {
            case 0: input.append((Float(rng.int(-300, 300)) + 0.5) * scales[channel])
            case 1: input.append(rng.float(-300, 300) * scales[channel])
            case 2: input.append(Float(rng.int(-200, 200)) * scales[channel])
            case 3: input.append(i % 7 == 0 ? Float.nan : (i % 2 == 0 ? Float.infinity : -Float.infinity))
            default: input.append(rng.float(-1e6, 1e6))
            }
        }
        let count = input.count
        var fast = [Y](repeating: 0, count: count), reference = [Y](repeating: 0, count: count)
        var fastCounts = SaturationCounts(), referenceCounts = SaturationCounts()
        QuantizeLinear.run(input: input, output: &fast, scales: scales, zeroPoints: zeros, outer: outer, channels: channels,
                           inner: inner, counts: &fastCounts)
        QuantizeLinear.reference(input: input, output: &reference, scales: scales, zeroPoints: zeros, outer: outer,
                                 channels: channels, inner: inner, counts: &referenceCounts)
        log.exact("QuantizeLinear.run", fast)
        log.counts("QuantizeLinear.run counts", fastCounts)
        log.exact("QuantizeLinear.reference", reference)
        log.counts("QuantizeLinear.reference counts", referenceCounts)
        var dequantized = [Float](repeating: 0, count: count)
        DequantizeLinear.run(input: fast, output: &dequantized, scales: scales, zeroPoints: zeros, outer: outer,
                             channels: channels, inner: inner)
        log.floats("DequantizeLinear.run", dequantized)
    }

    static func elementwiseInt8Cases(_ log: inout KernelResultLog, _ rng: inout SplitMix64) {
        log.tag = 600
        quantizeCase(&log, &rng, UInt8.self)
        log.tag = 601
        quantizeCase(&log, &rng, Int8.self)

        // Lookup tables (QLinearSigmoid / LeakyRelu) over every input byte.
        log.tag = 610
        var allBytes = [UInt8]()
        for i in 0..<259 { allBytes.append(UInt8(truncatingIfNeeded: i * 7)) }
        let sigmoid = LookupTable8.sigmoid(UInt8.self, inputScale: 0.06, inputZero: 120, outputScale: 1 / 256, outputZero: 0)
        let leaky = LookupTable8.leakyRelu(UInt8.self, alpha: 0.1, inputScale: 0.05, inputZero: 100, outputScale: 0.03, outputZero: 20)
        for table in [sigmoid, leaky] {
            var fast = [UInt8](repeating: 0, count: allBytes.count), reference = fast
            var fastCounts = SaturationCounts(), referenceCounts = SaturationCounts()
            table.run(input: allBytes, output: &fast, count: allBytes.count, counts: &fastCounts)
            table.reference(input: allBytes, output: &reference, count: allBytes.count, counts: &referenceCounts)
            log.exact("LookupTable8.run", fast)
            log.counts("LookupTable8.run counts", fastCounts)
            log.exact("LookupTable8.reference", reference)
            log.counts("LookupTable8.reference counts", referenceCounts)
        }
        var mlas = [Float]()
        for i in -200...200 { mlas.append(LookupTable8.mlasLogistic(Float(i) * 0.1)) }
        log.floats("LookupTable8.mlasLogistic", mlas)

        // QLinearSoftmax: [outer 3, axis 40, inner 5] and [6, 17, 1].
        var tag = 620
        for (outer, axis, inner) in [(3, 40, 5), (6, 17, 1)] {
            log.tag = tag; tag += 1
            let x = quantized(UInt8.self, outer * axis * inner, &rng)
            let p = SoftmaxInt8Parameters(UInt8.self, xScale: rng.float(0.02, 0.2), yScale: 1 / 256, yZero: 0, reduceLength: axis)
            var fast = [UInt8](repeating: 0, count: x.count), reference = fast
            var fastCounts = SaturationCounts(), referenceCounts = SaturationCounts()
            SoftmaxInt8.run(input: x, output: &fast, outer: outer, axisSize: axis, inner: inner, parameters: p, counts: &fastCounts)
            SoftmaxInt8.reference(input: x, output: &reference, outer: outer, axisSize: axis, inner: inner, parameters: p,
                                  counts: &referenceCounts)
            log.exact("SoftmaxInt8.run", fast)
            log.counts("SoftmaxInt8.run counts", fastCounts)
            log.exact("SoftmaxInt8.reference", reference)
            log.counts("SoftmaxInt8.reference counts", referenceCounts)
        }

        // QLinearConcat: one input requantized into a wider output block.
        log.tag = 630
        let concatInput = quantized(Int8.self, 4 * 45, &rng)
        let plan = QLinearConcatInput(Int8.self, inputScale: 0.07, inputZero: -3, outputScale: 0.05, outputZero: 4)
        var concatFast = [Int8](repeating: 0, count: 4 * 60), concatReference = concatFast
        var concatFastCounts = SaturationCounts(), concatReferenceCounts = SaturationCounts()
        ConcatInt8.run(input: concatInput, output: &concatFast, plan: plan, outer: 4, inputBlock: 45, outputBlock: 60, offset: 10,
                       counts: &concatFastCounts)
        ConcatInt8.reference(input: concatInput, output: &concatReference, plan: plan, outer: 4, inputBlock: 45, outputBlock: 60,
                             offset: 10, counts: &concatReferenceCounts)
        log.exact("ConcatInt8.run", concatFast)
        log.counts("ConcatInt8.run counts", concatFastCounts)
        log.exact("ConcatInt8.reference", concatReference)
        log.counts("ConcatInt8.reference counts", concatReferenceCounts)

        // DynamicQuantizeLinear.
        log.tag = 640
        let dynamicInput = rng.floats(203, -3, 5)
        var dynamicFast = [UInt8](repeating: 0, count: dynamicInput.count), dynamicReference = dynamicFast
        var dynamicFastCounts = SaturationCounts(), dynamicReferenceCounts = SaturationCounts()
        let fastParameters = DynamicQuantizeLinear.run(input: dynamicInput, output: &dynamicFast, count: dynamicInput.count,
                                                       counts: &dynamicFastCounts)
        let referenceParameters = DynamicQuantizeLinear.reference(input: dynamicInput, output: &dynamicReference,
                                                                  count: dynamicInput.count, counts: &dynamicReferenceCounts)
        log.exact("DynamicQuantizeLinear.run", dynamicFast)
        log.counts("DynamicQuantizeLinear.run counts", dynamicFastCounts)
        log.exact("DynamicQuantizeLinear.reference", dynamicReference)
        log.counts("DynamicQuantizeLinear.reference counts", dynamicReferenceCounts)
        log.floats("DynamicQuantizeLinear scales", [fastParameters.scale, referenceParameters.scale])
        log.exact("DynamicQuantizeLinear zero points", [fastParameters.zeroPoint, referenceParameters.zeroPoint])
    }

    // MARK: - Float kernels

    static func floatConvCase(_ log: inout KernelResultLog, _ rng: inout SplitMix64, _ g: Conv2DGeometry, clamp: FloatClamp) {
        let input = rng.floats(g.batch * g.inChannels * g.inHeight * g.inWidth)
        let weights = rng.floats(g.outChannels * (g.inChannels / g.groups) * g.kernelHeight * g.kernelWidth, -0.5, 0.5)
        let bias = rng.floats(g.outChannels)
        let count = g.batch * g.outChannels * g.outHeight * g.outWidth
        var fast = [Float](repeating: 0, count: count), reference = fast
        var scratch = [Float](repeating: 0, count: Conv2DFloat.scratchCount(geometry: g))
        Conv2DFloat.run(input: input, weights: weights, bias: bias, output: &fast, geometry: g, clamp: clamp, scratch: &scratch)
        Conv2DFloat.reference(input: input, weights: weights, bias: bias, output: &reference, geometry: g, clamp: clamp)
        log.floats("Conv2DFloat.run", fast)
        log.floats("Conv2DFloat.reference", reference)
    }

    static func floatCases(_ log: inout KernelResultLog, _ rng: inout SplitMix64) {
        // Convolution: the pointwise, im2col, depthwise and direct (RGB stem) paths.
        var tag = 700
        let relu6 = FloatClamp(lower: 0, upper: 6)
        for (index, c) in convGeometries.enumerated() {
            let (inC, outC, h, w, k, s, p, d, groups) = c
            let g = Conv2DGeometry(batch: 1, inChannels: inC, inHeight: h, inWidth: w, outChannels: outC,
                                   outHeight: outputSize(h, kernel: k, stride: s, dilation: d, padBefore: p, padAfter: p),
                                   outWidth: outputSize(w, kernel: k, stride: s, dilation: d, padBefore: p, padAfter: p),
                                   kernelHeight: k, kernelWidth: k, strideHeight: s, strideWidth: s,
                                   dilationHeight: d, dilationWidth: d, padTop: p, padLeft: p, groups: groups)
            log.tag = tag; tag += 1
            floatConvCase(&log, &rng, g, clamp: index % 2 == 0 ? .none : relu6)
        }

        // GEMM (row-major A, B transposed or not, alpha, bias, clamp).
        tag = 720
        for (index, shape) in [(1, 1, 1), (5, 13, 37), (16, 64, 64), (7, 33, 128), (33, 17, 9)].enumerated() {
            let (m, n, k) = shape
            log.tag = tag; tag += 1
            let a = rng.floats(m * k), b = rng.floats(k * n), bias = rng.floats(n)
            let transposed = index % 2 == 1
            let clamp = index % 3 == 2 ? FloatClamp(lower: 0) : FloatClamp.none
            var fast = [Float](repeating: 0, count: m * n), reference = fast
            var scratch = [Float](repeating: 0, count: GemmFloat.scratchCount(m: m, n: n, k: k))
            GemmFloat.run(m: m, n: n, k: k, a: a, aRowStride: k, aColStride: 1, b: b,
                          bRowStride: transposed ? 1 : n, bColStride: transposed ? k : 1,
                          output: &fast, alpha: 0.75, bias: index == 0 ? nil : bias, clamp: clamp, scratch: &scratch)
            bias.withUnsafeBufferPointer { biasBuffer in
                GemmFloat.reference(m: m, n: n, k: k, a: a, aRowStride: k, aColStride: 1, b: b,
                                    bRowStride: transposed ? 1 : n, bColStride: transposed ? k : 1,
                                    output: &reference, alpha: 0.75, bias: index == 0 ? nil : biasBuffer.baseAddress, clamp: clamp)
            }
            log.floats("GemmFloat.run", fast)
            log.floats("GemmFloat.reference", reference)
        }

        // Element-wise binary operators over the broadcast shapes.
        tag = 740
        for shapes in broadcastShapes {
            let plan = BroadcastPlan(output: shapes.0, lhs: shapes.1, rhs: shapes.2)
            var lhsCount = 1, rhsCount = 1
            for d in shapes.1 { lhsCount *= d }
            for d in shapes.2 { rhsCount *= d }
            let a = rng.floats(lhsCount, -4, 4), b = rng.floats(rhsCount, 0.25, 4)
            for op in [BinaryFloatOperator.add, .sub, .mul, .div, .max, .min, .prelu] {
                log.tag = tag; tag += 1
                var fast = [Float](repeating: 0, count: plan.outputCount), reference = fast
                BinaryFloat.run(op, lhs: a, rhs: b, output: &fast, plan: plan, clamp: relu6)
                BinaryFloat.reference(op, lhs: a, rhs: b, output: &reference, plan: plan, clamp: relu6)
                log.floats("BinaryFloat.run", fast)
                log.floats("BinaryFloat.reference", reference)
            }
        }

        // Unary activations (count 203: 25 vectors and a tail).
        tag = 800
        let unaryInput = rng.floats(203, -12, 12)
        let unaryOps: [UnaryFloatOperator] = [.relu, .leakyRelu(alpha: 0.1), .clip(lower: -1, upper: 2), .sigmoid,
                                              .hardSigmoid(alpha: 0.2, beta: 0.5), .hardSwish, .tanh, .identity]
        for op in unaryOps {
            log.tag = tag; tag += 1
            var fast = [Float](repeating: 0, count: unaryInput.count), reference = fast
            UnaryFloat.run(op, input: unaryInput, output: &fast, count: unaryInput.count)
            UnaryFloat.reference(op, input: unaryInput, output: &reference, count: unaryInput.count)
            log.floats("UnaryFloat.run", fast)
            log.floats("UnaryFloat.reference", reference)
        }
        log.tag = 820
        var exps = [Float]()
        for i in -1000...1000 { exps.append(kernelExp(Float(i) * 0.09)) }
        log.floats("kernelExp", exps)

        // Pooling.
        tag = 830
        for c in poolGeometries {
            let (channels, h, w, k, s, p) = c
            let g = Pool2DGeometry(batch: 1, channels: channels, inHeight: h, inWidth: w,
                                   outHeight: outputSize(h, kernel: k, stride: s, dilation: 1, padBefore: p, padAfter: p),
                                   outWidth: outputSize(w, kernel: k, stride: s, dilation: 1, padBefore: p, padAfter: p),
                                   kernelHeight: k, kernelWidth: k, strideHeight: s, strideWidth: s,
                                   dilationHeight: 1, dilationWidth: 1, padTop: p, padLeft: p, padBottom: p, padRight: p)
            log.tag = tag; tag += 1
            let input = rng.floats(channels * h * w)
            var out = [Float](repeating: 0, count: channels * g.outHeight * g.outWidth)
            Pool2DFloat.max(input: input, output: &out, geometry: g)
            log.floats("Pool2DFloat.max", out)
            Pool2DFloat.average(input: input, output: &out, geometry: g, countIncludePad: false)
            log.floats("Pool2DFloat.average", out)
            Pool2DFloat.average(input: input, output: &out, geometry: g, countIncludePad: true)
            log.floats("Pool2DFloat.average includePad", out)
            var global = [Float](repeating: 0, count: channels)
            Pool2DFloat.globalAverage(input: input, output: &global, planes: channels, spatial: h * w)
            log.floats("Pool2DFloat.globalAverage", global)
            Pool2DFloat.globalMax(input: input, output: &global, planes: channels, spatial: h * w)
            log.floats("Pool2DFloat.globalMax", global)
        }

        // Softmax, reductions, per-channel affine.
        log.tag = 850
        let softmaxInput = rng.floats(3 * 40 * 5, -8, 8)
        var softmax = [Float](repeating: 0, count: softmaxInput.count)
        SoftmaxFloat.run(input: softmaxInput, output: &softmax, outer: 3, axisSize: 40, inner: 5)
        log.floats("SoftmaxFloat.run", softmax)
        SoftmaxFloat.run(input: softmaxInput, output: &softmax, outer: 20, axisSize: 30, inner: 1)
        log.floats("SoftmaxFloat.run inner 1", softmax)

        tag = 860
        let reduceInput = rng.floats(2 * 6 * 9 * 11)
        for axes in [[2, 3], [1], [0, 2], [3]] {
            log.tag = tag; tag += 1
            let plan = ReducePlan(inputShape: [2, 6, 9, 11], axes: axes)
            var out = [Float](repeating: 0, count: plan.outputCount)
            ReduceFloat.sum(input: reduceInput, output: &out, plan: plan)
            log.floats("ReduceFloat.sum", out)
            ReduceFloat.mean(input: reduceInput, output: &out, plan: plan)
            log.floats("ReduceFloat.mean", out)
            ReduceFloat.max(input: reduceInput, output: &out, plan: plan)
            log.floats("ReduceFloat.max", out)
        }

        log.tag = 870
        let scale = rng.floats(7), shift = rng.floats(7)
        for spatial in [1, 29] {
            let input = rng.floats(2 * 7 * spatial)
            var fast = [Float](repeating: 0, count: input.count), reference = fast
            ChannelAffineFloat.run(input: input, output: &fast, scale: scale, shift: shift, batch: 2, channels: 7, spatial: spatial)
            ChannelAffineFloat.reference(input: input, output: &reference, scale: scale, shift: shift, batch: 2, channels: 7,
                                         spatial: spatial)
            log.floats("ChannelAffineFloat.run", fast)
            log.floats("ChannelAffineFloat.reference", reference)
        }
    }
}
