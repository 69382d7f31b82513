// Int8 general matrix multiply (QLinearMatMul / MatMulInteger / Gemm on quantized data): reference
// loops, then a packed-panel GEMM with a 4x8 Int32 register tile, shared with Conv2D+Int8.swift.
//
// Arithmetic (exact): operands are widened to Int16 with their zero points subtracted while packing
// (weights at load, activations per call), so the inner loop is a pure Int16·Int16→Int32 multiply
// of k-pairs summed into Int32 lanes (`pairProduct`: SSE2 `pmaddwd`; NEON `smull`/`smlal`+pairwise add).
// Overflow bound: |a − aZero| ≤ 255 and |b − bZero| ≤ 255 for 8-bit data, so every product is
// ≤ 65025 in magnitude and a sum over k ≤ 32768 terms is ≤ 2_130_739_200 < 2^31 (checked by
// `precondition` when packing). The bias is added with wrapping arithmetic (as onnxruntime does);
// requantization follows the rule in Requantize.swift.

/// Int8 GEMM: `acc[i][j] = Σ_p (A[i][p] − aZero) · (B[p][j] − bZero[j]) + bias[j]`, then requantized
/// per column j (multipliers count 1 or n), or (`runInt32`) the raw Int32 accumulators (MatMulInteger).
///
/// Layout: A row-major m x k with row stride `lda` (activations, UInt8 or Int8); B (weights, Int8 or
/// UInt8) is `[k, n]` row-major, or `[n, k]` row-major when `transposedB`; per-column zero points
/// (count 1 or n). Output m x n row-major with row stride `ldc`. The fast path takes 8-bit A and B.
public enum GemmInt8 {
    /// B packed at load: Int16 panels of 8 columns with the column zero points already subtracted,
    /// k-pairs interleaved (`[panel][k/2][column 0..7][2]`), zero-padded to a multiple of 8 columns
    /// and an even k. Because the zero points are folded in, no Σ B correction is needed.
    public struct PackedB: Sendable {
        public let k: Int
        public let n: Int
        /// Column zero points as given (count 1 or n).
        public let zeroPoints: [Int32]
        @usableFromInline let pairs: Int
        @usableFromInline let panels: [Int16]

        public init<W: QuantizedScalar>(b: UnsafePointer<W>, k: Int, n: Int, transposed: Bool, zeroPoints: [Int32]) {
            precondition(k >= 0 && n >= 0, "GemmInt8: negative dimension")
            precondition(k <= int8MaximumDepth, "GemmInt8: k > 32768 could overflow the Int32 accumulators")
            precondition(W.bitWidth == 8, "GemmInt8: fast path takes 8-bit weights")
            precondition(zeroPoints.count == 1 || zeroPoints.count == n, "GemmInt8: zero points count must be 1 or n")
            self.k = k
            self.n = n
            self.zeroPoints = zeroPoints
            let pairs = (k + 1) / 2
            self.pairs = pairs
            let panelCount = (n + int8TileColumns - 1) / int8TileColumns
            var panels = [Int16](repeating: 0, count: panelCount * pairs * 2 * int8TileColumns)
            for column in 0..<n {
                let zero = zeroPoints.count == 1 ? zeroPoints[0] : zeroPoints[column]
                let panel = column / int8TileColumns, lane = column % int8TileColumns
                for depth in 0..<k {
                    let value = transposed ? b[column * k + depth] : b[depth * n + column]
                    let index = ((panel * pairs + depth / 2) * int8TileColumns + lane) * 2 + depth % 2
                    panels[index] = Int16(truncatingIfNeeded: Int32(value) - zero)
                }
            }
            self.panels = panels
        }
    }

    /// Readable reference: one dot product per output element, requantized with `Requantization.apply`.
    public static func reference<A: QuantizedScalar, W: QuantizedScalar, Y: QuantizedScalar>(
        m: Int, n: Int, k: Int, a: UnsafePointer<A>, lda: Int, aZero: Int32,
        b: UnsafePointer<W>, transposedB: Bool, bZeros: UnsafePointer<Int32>, bZeroCount: Int,
        bias: UnsafePointer<Int32>?, output: UnsafeMutablePointer<Y>, ldc: Int,
        requantization: Requantization, counts: UnsafeMutablePointer<SaturationCounts>
    ) {
        precondition(m >= 0 && n >= 0 && k >= 0, "GemmInt8: negative dimension")
        for row in 0..<m {
            for column in 0..<n {
                let bZero = bZeroCount == 1 ? bZeros[0] : bZeros[column]
                var sum: Int32 = 0
                for depth in 0..<k {
                    let bValue = transposedB ? b[column * k + depth] : b[depth * n + column]
                    sum &+= (Int32(a[row * lda + depth]) - aZero) &* (Int32(bValue) - bZero)
                }
                if let bias { sum &+= bias[column] }
                output[row * ldc + column] = Y(truncatingIfNeeded: requantization.apply(sum, channel: column, counts: &counts.pointee))
            }
        }
    }

    /// Reference for MatMulInteger: raw `Σ (a − aZero)(b − bZero[j])` accumulators.
    public static func referenceInt32<A: QuantizedScalar, W: QuantizedScalar>(
        m: Int, n: Int, k: Int, a: UnsafePointer<A>, lda: Int, aZero: Int32,
        b: UnsafePointer<W>, transposedB: Bool, bZeros: UnsafePointer<Int32>, bZeroCount: Int,
        output: UnsafeMutablePointer<Int32>, ldc: Int
    ) {
        for row in 0..<m {
            for column in 0..<n {
                let bZero = bZeroCount == 1 ? bZeros[0] : bZeros[column]
                var sum: Int32 = 0
                for depth in 0..<k {
                    let bValue = transposedB ? b[column * k + depth] : b[depth * n + column]
                    sum &+= (Int32(a[row * lda + depth]) - aZero) &* (Int32(bValue) - bZero)
                }
                output[row * ldc + column] = sum
            }
        }
    }

    /// Scratch bytes `run`/`runInt32` need (one packed 4-row panel of A).
    public static func scratchByteCount(m: Int, n: Int, k: Int) -> Int {
        ((k + 1) / 2) * 2 * int8TileRows * MemoryLayout<Int16>.stride + 64
    }

    /// Fast path: bit-identical to `reference` (outputs and counts). `bias` has n elements or is nil;
    /// `requantization.multipliers` has 1 or n elements; `scratch` holds `scratchByteCount` bytes.
    @_specialize(where A == UInt8, Y == UInt8)
    @_specialize(where A == Int8, Y == Int8)
    @_specialize(where A == UInt8, Y == Int8)
    @_specialize(where A == Int8, Y == UInt8)
    public static func run<A: QuantizedScalar, Y: QuantizedScalar>(
        m: Int, n: Int, k: Int, a: UnsafePointer<A>, lda: Int, aZero: Int32, packed: PackedB,
        bias: UnsafePointer<Int32>?, output: UnsafeMutablePointer<Y>, ldc: Int,
        requantization: Requantization, counts: UnsafeMutablePointer<SaturationCounts>,
        scratch: UnsafeMutableRawPointer
    ) {
        precondition(packed.k == k && packed.n == n, "GemmInt8: packed B has another shape")
        precondition(A.bitWidth == 8, "GemmInt8: fast path takes 8-bit activations")
        precondition(requantization.multipliers.count == 1 || requantization.multipliers.count == n,
                     "GemmInt8: multipliers count must be 1 or n")
        var requantizer = Int8Requantizer(requantization)
        let perTensor = requantization.multipliers.count == 1
        let pairs = packed.pairs
        let left = scratch.bindMemory(to: Int16.self, capacity: pairs * 2 * int8TileRows)
        requantization.multipliers.withUnsafeBufferPointer { multipliers in
            packed.panels.withUnsafeBufferPointer { panels in
                var rowBlock = 0
                while rowBlock < m {
                    let rows = min(int8TileRows, m - rowBlock)
                    packRowsPairwise(a + rowBlock * lda, rowStride: lda, rows: rows, k: k, zero: aZero, into: left)
                    var column = 0
                    while column < n {
                        let columns = min(int8TileColumns, n - column)
                        let right = panels.baseAddress! + (column / int8TileColumns) * pairs * 2 * int8TileColumns
                        let tile = int8MicroKernel(left: left, right: right, pairs: pairs)
                        // Per-column bias and multipliers for this panel (lane-wise only on the edge).
                        var bias0 = SIMD4<Int32>(), bias1 = SIMD4<Int32>()
                        var scale0 = SIMD4<Float>(repeating: multipliers[0]), scale1 = scale0
                        if columns == int8TileColumns {
                            if let bias {
                                bias0 = UnsafeRawPointer(bias + column).loadUnaligned(as: SIMD4<Int32>.self)
                                bias1 = UnsafeRawPointer(bias + column + 4).loadUnaligned(as: SIMD4<Int32>.self)
                            }
                            if !perTensor {
                                scale0 = UnsafeRawPointer(multipliers.baseAddress! + column).loadUnaligned(as: SIMD4<Float>.self)
                                scale1 = UnsafeRawPointer(multipliers.baseAddress! + column + 4).loadUnaligned(as: SIMD4<Float>.self)
                            }
                        } else {
                            for lane in 0..<columns {
                                let b = bias?[column + lane] ?? 0
                                let s = perTensor ? multipliers[0] : multipliers[column + lane]
                                if lane < 4 { bias0[lane] = b; scale0[lane] = s } else { bias1[lane - 4] = b; scale1[lane - 4] = s }
                            }
                        }
                        for row in 0..<rows {
                            let (acc0, acc1) = tile.row(row)
                            let destination = output + (rowBlock + row) * ldc + column
                            if columns == int8TileColumns {
                                let v0 = requantizer.apply(acc0 &+ bias0, scale0)
                                let v1 = requantizer.apply(acc1 &+ bias1, scale1)
                                storeInt8Row(v0, v1, to: destination)
                            } else {
                                let v0 = requantizer.apply(acc0 &+ bias0, scale0, validLanes: columns)
                                let v1 = requantizer.apply(acc1 &+ bias1, scale1, validLanes: columns - 4)
                                storeInt8Row(v0, v1, count: columns, to: destination)
                            }
                        }
                        column += int8TileColumns
                    }
                    rowBlock += int8TileRows
                }
            }
        }
        requantizer.flush(into: &counts.pointee, total: m * n)
    }

    /// MatMulInteger: the raw Int32 accumulators `Σ (a − aZero)(b − bZero[j])` (no bias), bit-identical
    /// to `referenceInt32`.
    @_specialize(where A == UInt8)
    @_specialize(where A == Int8)
    public static func runInt32<A: QuantizedScalar>(
        m: Int, n: Int, k: Int, a: UnsafePointer<A>, lda: Int, aZero: Int32, packed: PackedB,
        output: UnsafeMutablePointer<Int32>, ldc: Int, scratch: UnsafeMutableRawPointer
    ) {
        precondition(packed.k == k && packed.n == n, "GemmInt8: packed B has another shape")
        precondition(A.bitWidth == 8, "GemmInt8: fast path takes 8-bit activations")
        let pairs = packed.pairs
        let left = scratch.bindMemory(to: Int16.self, capacity: pairs * 2 * int8TileRows)
        packed.panels.withUnsafeBufferPointer { panels in
            var rowBlock = 0
            while rowBlock < m {
                let rows = min(int8TileRows, m - rowBlock)
                packRowsPairwise(a + rowBlock * lda, rowStride: lda, rows: rows, k: k, zero: aZero, into: left)
                var column = 0
                while column < n {
                    let columns = min(int8TileColumns, n - column)
                    let right = panels.baseAddress! + (column / int8TileColumns) * pairs * 2 * int8TileColumns
                    let tile = int8MicroKernel(left: left, right: right, pairs: pairs)
                    for row in 0..<rows {
                        let (acc0, acc1) = tile.row(row)
                        storeInt32Row(acc0, acc1, count: columns, to: output + (rowBlock + row) * ldc + column)
                    }
                    column += int8TileColumns
                }
                rowBlock += int8TileRows
            }
        }
    }
}

// MARK: - Shared int8 machinery (GEMM and convolution)

/// Rows of the register tile (left operand panel height).
@usableFromInline let int8TileRows = 4
/// Columns of the register tile (right operand panel width).
@usableFromInline let int8TileColumns = 8
/// Largest reduction depth whose Int32 accumulators cannot overflow (see the file header).
@usableFromInline let int8MaximumDepth = 32768

/// Σ over a k-pair: lanes `(a[2i]·b[2i] + a[2i+1]·b[2i+1])`. Exact for |values| ≤ 255 (SSE2 pmaddwd).
@inline(__always)
func pairProduct(_ a: SIMD8<Int16>, _ b: SIMD8<Int16>) -> SIMD4<Int32> {
    let product = SIMD8<Int32>(truncatingIfNeeded: a) &* SIMD8<Int32>(truncatingIfNeeded: b)
    return product.evenHalf &+ product.oddHalf
}

/// A 4x8 tile of Int32 accumulators (row r: columns 0–3 in `rNa`, 4–7 in `rNb`).
struct Int8Tile {
    var r0a = SIMD4<Int32>(), r0b = SIMD4<Int32>()
    var r1a = SIMD4<Int32>(), r1b = SIMD4<Int32>()
    var r2a = SIMD4<Int32>(), r2b = SIMD4<Int32>()
    var r3a = SIMD4<Int32>(), r3b = SIMD4<Int32>()

    @inline(__always)
    func row(_ index: Int) -> (SIMD4<Int32>, SIMD4<Int32>) {
        switch index {
        case 0: return (r0a, r0b)
        case 1: return (r1a, r1b)
        case 2: return (r2a, r2b)
        default: return (r3a, r3b)
        }
    }
}

/// The register-tile kernel: `tile[r][c] = Σ_p left[r][p] · right[p][c]` over `pairs` k-pairs.
///
/// `left`: `[pairs][4 rows][2]` Int16 (16 bytes per pair); `right`: `[pairs][8 columns][2]` Int16
/// (32 bytes per pair). Each row's pair is broadcast as one Int32 and multiplied pairwise.
@inline(__always)
func int8MicroKernel(left: UnsafePointer<Int16>, right: UnsafePointer<Int16>, pairs: Int) -> Int8Tile {
    var tile = Int8Tile()
    var l = UnsafeRawPointer(left), r = UnsafeRawPointer(right)
    for _ in 0..<pairs {
        let rows = l.loadUnaligned(as: SIMD4<Int32>.self)
        let b0 = r.loadUnaligned(as: SIMD8<Int16>.self)
        let b1 = r.loadUnaligned(fromByteOffset: 16, as: SIMD8<Int16>.self)
        let a0 = unsafeBitCast(SIMD4<Int32>(repeating: rows[0]), to: SIMD8<Int16>.self)
        tile.r0a &+= pairProduct(a0, b0)
        tile.r0b &+= pairProduct(a0, b1)
        let a1 = unsafeBitCast(SIMD4<Int32>(repeating: rows[1]), to: SIMD8<Int16>.self)
        tile.r1a &+= pairProduct(a1, b0)
        tile.r1b &+= pairProduct(a1, b1)
        let a2 = unsafeBitCast(SIMD4<Int32>(repeating: rows[2]), to: SIMD8<Int16>.self)
        tile.r2a &+= pairProduct(a2, b0)
        tile.r2b &+= pairProduct(a2, b1)
        let a3 = unsafeBitCast(SIMD4<Int32>(repeating: rows[3]), to: SIMD8<Int16>.self)
        tile.r3a &+= pairProduct(a3, b0)
        tile.r3b &+= pairProduct(a3, b1)
        l += 16
        r += 32
    }
    return tile
}

/// Packs up to 4 rows of an 8-bit row-major matrix into the left-panel layout
/// `[k/2][4 rows][2]` as `Int16(x) − zero`, zero-filling missing rows and the odd-k tail.
@inline(__always)
func packRowsPairwise<T: QuantizedScalar>(_ source: UnsafePointer<T>, rowStride: Int, rows: Int, k: Int,
                                          zero: Int32, into left: UnsafeMutablePointer<Int16>) {
    let pairs = (k + 1) / 2
    let zero16 = Int16(truncatingIfNeeded: zero)
    for row in 0..<int8TileRows {
        if row < rows {
            let base = source + row * rowStride
            var depth = 0
            while depth + 1 < k {
                let index = (depth / 2) * 8 + row * 2
                left[index] = Int16(truncatingIfNeeded: base[depth]) &- zero16
                left[index + 1] = Int16(truncatingIfNeeded: base[depth + 1]) &- zero16
                depth += 2
            }
            if depth < k {
                let index = (depth / 2) * 8 + row * 2
                left[index] = Int16(truncatingIfNeeded: base[depth]) &- zero16
                left[index + 1] = 0
            }
        } else {
            for pair in 0..<pairs {
                left[pair * 8 + row * 2] = 0
                left[pair * 8 + row * 2 + 1] = 0
            }
        }
    }
}

/// SIMD form of `Requantization.apply` (same outputs and counts), for 4 lanes at a time.
///
/// With `t = Float(acc)·m + 1.5·2^23`: for |Float(acc)·m| ≤ 2^22, t − 1.5·2^23 = nearbyint(Float(acc)·m)
/// exactly (ties to even, by the addition's own rounding); for larger magnitudes t stays beyond every
/// threshold (float addition is monotone), so comparing t against `q − zp + 1.5·2^23` (exact
/// integers in [2^23, 2^24]) decides saturation, and clamping t to those thresholds then subtracting the
/// bit patterns gives the integer. No float→int conversion, so nothing can overflow or trap.
struct Int8Requantizer {
    let magic: SIMD4<Float>
    let lowThreshold: SIMD4<Float>, highThreshold: SIMD4<Float>   // qmin/qmax − zp + magic
    let lowerBound: SIMD4<Float>, upperBound: SIMD4<Float>          // lower/upper − zp + magic
    let offset: SIMD4<Int32>                                        // bits(magic) − zp
    let countLow: Bool, countHigh: Bool
    var lowCount = SIMD4<Int32>(), highCount = SIMD4<Int32>()      // −(number of lanes counted)

    init(_ r: Requantization) {
        magic = SIMD4(repeating: roundingMagic)
        lowThreshold = SIMD4(repeating: Float(r.qmin - r.zeroPoint) + roundingMagic)
        highThreshold = SIMD4(repeating: Float(r.qmax - r.zeroPoint) + roundingMagic)
        lowerBound = SIMD4(repeating: Float(r.lower - r.zeroPoint) + roundingMagic)
        upperBound = SIMD4(repeating: Float(r.upper - r.zeroPoint) + roundingMagic)
        offset = SIMD4(repeating: roundingMagicBits - r.zeroPoint)
        countLow = r.countLow
        countHigh = r.countHigh
    }

    /// Requantizes 4 accumulators (bias already added) with per-lane multipliers `m`.
    @inline(__always)
    mutating func apply(_ acc: SIMD4<Int32>, _ m: SIMD4<Float>) -> SIMD4<Int32> {
        var t = SIMD4<Float>(acc) * m + magic
        if countLow { lowCount &+= unsafeBitCast(t .< lowThreshold, to: SIMD4<Int32>.self) }
        if countHigh { highCount &+= unsafeBitCast(t .> highThreshold, to: SIMD4<Int32>.self) }
        t.replace(with: upperBound, where: t .> upperBound)  // maxps/minps (t is never NaN)
        t.replace(with: lowerBound, where: t .< lowerBound)
        return unsafeBitCast(t, to: SIMD4<Int32>.self) &- offset
    }

    /// As `apply`, counting only the first `validLanes` lanes (edge tiles; may be ≤ 0 or ≥ 4).
    @inline(__always)
    mutating func apply(_ acc: SIMD4<Int32>, _ m: SIMD4<Float>, validLanes: Int) -> SIMD4<Int32> {
        let valid = SIMD4<Int32>(0, 1, 2, 3) .< SIMD4<Int32>(repeating: Int32(truncatingIfNeeded: max(0, min(4, validLanes))))
        let validBits = unsafeBitCast(valid, to: SIMD4<Int32>.self)
        var t = SIMD4<Float>(acc) * m + magic
        if countLow { lowCount &+= unsafeBitCast(t .< lowThreshold, to: SIMD4<Int32>.self) & validBits }
        if countHigh { highCount &+= unsafeBitCast(t .> highThreshold, to: SIMD4<Int32>.self) & validBits }
        t.replace(with: upperBound, where: t .> upperBound)  // maxps/minps (t is never NaN)
        t.replace(with: lowerBound, where: t .< lowerBound)
        return unsafeBitCast(t, to: SIMD4<Int32>.self) &- offset
    }

    /// Adds the lane counters into `counts` (and `total` written elements).
    func flush(into counts: inout SaturationCounts, total: Int) {
        counts.low -= Int(lowCount.wrappedSum())
        counts.high -= Int(highCount.wrappedSum())
        counts.total += total
    }
}

/// Stores 8 requantized values (already within Y's range) to `destination`.
@inline(__always)
func storeInt8Row<Y: QuantizedScalar>(_ v0: SIMD4<Int32>, _ v1: SIMD4<Int32>, to destination: UnsafeMutablePointer<Y>) {
    // Truncation gives the same bits for signed and unsigned types of one width.
    let wide = SIMD8<Int32>(lowHalf: v0, highHalf: v1)
    if Y.bitWidth == 8 {
        UnsafeMutableRawPointer(destination).storeBytes(of: SIMD8<UInt8>(truncatingIfNeeded: wide), as: SIMD8<UInt8>.self)
    } else if Y.bitWidth == 16 {
        UnsafeMutableRawPointer(destination).storeBytes(of: SIMD8<UInt16>(truncatingIfNeeded: wide), as: SIMD8<UInt16>.self)
    } else {
        for lane in 0..<8 { destination[lane] = Y(truncatingIfNeeded: wide[lane]) }
    }
}

/// Stores the first `count` (≤ 8) of 8 requantized values.
@inline(__always)
func storeInt8Row<Y: QuantizedScalar>(_ v0: SIMD4<Int32>, _ v1: SIMD4<Int32>, count: Int, to destination: UnsafeMutablePointer<Y>) {
    if count == 8 { storeInt8Row(v0, v1, to: destination); return }
    for lane in 0..<count {
        destination[lane] = Y(truncatingIfNeeded: lane < 4 ? v0[lane] : v1[lane - 4])
    }
}

/// Stores the first `count` (≤ 8) of 8 Int32 accumulators.
@inline(__always)
func storeInt32Row(_ v0: SIMD4<Int32>, _ v1: SIMD4<Int32>, count: Int, to destination: UnsafeMutablePointer<Int32>) {
    if count == 8 {
        UnsafeMutableRawPointer(destination).storeBytes(of: v0, as: SIMD4<Int32>.self)
        UnsafeMutableRawPointer(destination + 4).storeBytes(of: v1, as: SIMD4<Int32>.self)
        return
    }
    for lane in 0..<count { destination[lane] = lane < 4 ? v0[lane] : v1[lane - 4] }
}

// MARK: - 256-bit register tile (convolution): 4 output channels x 16 pixels

/// Pixels per right panel of the convolution tile.
@usableFromInline let int8ConvTileColumns = 16

/// Σ over a k-pair, 8 lanes: `a[2i]·b[2i] + a[2i+1]·b[2i+1]` (AVX2 `vpmaddwd ymm`; NEON smull/smull2 + addp).
@inline(__always)
func pairProduct16(_ a: SIMD16<Int16>, _ b: SIMD16<Int16>) -> SIMD8<Int32> {
    // Widened with lane loops (the generic SIMD16 conversion is not always inlined, and then LLVM
    // sees a call); LLVM matches this exact shape to vpmaddwd ymm (checked with -emit-assembly).
    let product = widenedLanes(a) &* widenedLanes(b)
    return product.evenHalf &+ product.oddHalf
}

@inline(__always)
func widenedLanes(_ a: SIMD16<Int16>) -> SIMD16<Int32> {
    var r = SIMD16<Int32>()
    for i in 0..<16 { r[i] = Int32(a[i]) }
    return r
}

/// A 4x16 tile of Int32 accumulators (row r: pixels 0–7 in `rNa`, 8–15 in `rNb`).
struct Int8Tile16 {
    var r0a: SIMD8<Int32>, r0b: SIMD8<Int32>
    var r1a: SIMD8<Int32>, r1b: SIMD8<Int32>
    var r2a: SIMD8<Int32>, r2b: SIMD8<Int32>
    var r3a: SIMD8<Int32>, r3b: SIMD8<Int32>

    @inline(__always)
    init() {
        r0a = SIMD8(); r0b = SIMD8(); r1a = SIMD8(); r1b = SIMD8()
        r2a = SIMD8(); r2b = SIMD8(); r3a = SIMD8(); r3b = SIMD8()
    }

    @inline(__always)
    func row(_ index: Int) -> (SIMD8<Int32>, SIMD8<Int32>) {
        switch index {
        case 0: return (r0a, r0b)
        case 1: return (r1a, r1b)
        case 2: return (r2a, r2b)
        default: return (r3a, r3b)
        }
    }
}

/// `tile[r][c] = Σ_p left[r][p] · right[p][c]`: `left` `[pairs][4 rows][2]` Int16 (16 bytes per pair),
/// `right` `[pairs][16 pixels][2]` Int16 (64 bytes per pair). Each row's pair is broadcast as one Int32.
@inline(__always)
func int8MicroKernel16(left: UnsafePointer<Int16>, right: UnsafePointer<Int16>, pairs: Int) -> Int8Tile16 {
    var tile = Int8Tile16()
    var l = UnsafeRawPointer(left), r = UnsafeRawPointer(right)
    for _ in 0..<pairs {
        // The row pairs are loaded as one vector and splatted lane by lane: this form keeps the
        // multiply-add pattern visible to LLVM (vpbroadcastd + vpmaddwd).
        let rows = l.loadUnaligned(as: SIMD4<Int32>.self)
        let b0 = r.loadUnaligned(as: SIMD16<Int16>.self)
        let b1 = r.loadUnaligned(fromByteOffset: 32, as: SIMD16<Int16>.self)
        let a0 = unsafeBitCast(SIMD8<Int32>(repeating: rows[0]), to: SIMD16<Int16>.self)
        tile.r0a &+= pairProduct16(a0, b0)
        tile.r0b &+= pairProduct16(a0, b1)
        let a1 = unsafeBitCast(SIMD8<Int32>(repeating: rows[1]), to: SIMD16<Int16>.self)
        tile.r1a &+= pairProduct16(a1, b0)
        tile.r1b &+= pairProduct16(a1, b1)
        let a2 = unsafeBitCast(SIMD8<Int32>(repeating: rows[2]), to: SIMD16<Int16>.self)
        tile.r2a &+= pairProduct16(a2, b0)
        tile.r2b &+= pairProduct16(a2, b1)
        let a3 = unsafeBitCast(SIMD8<Int32>(repeating: rows[3]), to: SIMD16<Int16>.self)
        tile.r3a &+= pairProduct16(a3, b0)
        tile.r3b &+= pairProduct16(a3, b1)
        l += 16
        r += 64
    }
    return tile
}

/// 8-lane form of `Int8Requantizer` (same arithmetic, so the same outputs and counts as
/// `Requantization.apply`), used 16 lanes (one row of a convolution tile) at a time.
///
/// Counting is per lane: a compare mask (−1 per lane beyond the threshold) is added to an Int32
/// tally that stays in a vector register for the whole call and is reduced once by `flush`.
/// Saturation is common on some layers (a uint8 output with zero point 0 after an unfused ReLU
/// saturates low on every negative value), so there is no "rare" slow path. Rows shorter than 16
/// (edge panels) mask their lanes on a separate, rarely taken branch.
struct Int8Requantizer8 {
    let magic: SIMD8<Float>
    let lowThreshold: SIMD8<Float>, highThreshold: SIMD8<Float>   // qmin/qmax − zp + magic
    let lowerBound: SIMD8<Float>, upperBound: SIMD8<Float>          // lower/upper − zp + magic
    let offset: SIMD8<Int32>                                        // bits(magic) − zp
    let countLow: Bool, countHigh: Bool
    var lowCount = SIMD8<Int32>(), highCount = SIMD8<Int32>()      // −(number of lanes counted)

    @inline(__always)
    init(_ r: Requantization) {
        magic = SIMD8(repeating: roundingMagic)
        lowThreshold = SIMD8(repeating: Float(r.qmin - r.zeroPoint) + roundingMagic)
        highThreshold = SIMD8(repeating: Float(r.qmax - r.zeroPoint) + roundingMagic)
        lowerBound = SIMD8(repeating: Float(r.lower - r.zeroPoint) + roundingMagic)
        upperBound = SIMD8(repeating: Float(r.upper - r.zeroPoint) + roundingMagic)
        offset = SIMD8(repeating: roundingMagicBits - r.zeroPoint)
        countLow = r.countLow
        countHigh = r.countHigh
    }

    /// `Float(acc)·m + 1.5·2^23`: separate multiply and add (no contraction), as the scalar rule
    /// rounds `Float(acc)·m` first. Never NaN (|Float(acc)·m| is finite).
    @inline(__always)
    func shifted(_ acc: SIMD8<Int32>, _ m: SIMD8<Float>) -> SIMD8<Float> {
        var product = SIMD8<Float>()
        for lane in 0..<8 { product[lane] = Float(acc[lane]) }   // lane loop: vcvtdq2ps (generic init is a call)
        product *= m
        return product + magic
    }

    /// The clamped output values of `shifted` lanes (vminps/vmaxps, then an integer subtract).
    @inline(__always)
    func quantize(_ t: SIMD8<Float>) -> SIMD8<Int32> {
        var x = t
        x.replace(with: upperBound, where: x .> upperBound)
        x.replace(with: lowerBound, where: x .< lowerBound)
        return unsafeBitCast(x, to: SIMD8<Int32>.self) &- offset
    }

    /// Counts saturation in a row of 16 `shifted` lanes (`t0`: lanes 0–7, `t1`: 8–15), of which
    /// the first `count` are outputs.
    @inline(__always)
    mutating func count(_ t0: SIMD8<Float>, _ t1: SIMD8<Float>, count: Int) {
        if !countLow && !countHigh { return }
        if count >= 16 {
            if countLow {
                lowCount &+= unsafeBitCast(t0 .< lowThreshold, to: SIMD8<Int32>.self)
                    &+ unsafeBitCast(t1 .< lowThreshold, to: SIMD8<Int32>.self)
            }
            if countHigh {
                highCount &+= unsafeBitCast(t0 .> highThreshold, to: SIMD8<Int32>.self)
                    &+ unsafeBitCast(t1 .> highThreshold, to: SIMD8<Int32>.self)
            }
        } else {
            countPartial(t0, t1, count: count)
        }
    }

    /// As `count`, for a row with fewer than 16 outputs (edge panels).
    @inline(__always)
    mutating func countPartial(_ t0: SIMD8<Float>, _ t1: SIMD8<Float>, count: Int) {
        let lanes = SIMD8<Int32>(0, 1, 2, 3, 4, 5, 6, 7)
        let limit = SIMD8<Int32>(repeating: Int32(truncatingIfNeeded: Swift.max(0, count)))
        let valid0 = unsafeBitCast(lanes .< limit, to: SIMD8<Int32>.self)
        let valid1 = unsafeBitCast(lanes &+ 8 .< limit, to: SIMD8<Int32>.self)
        if countLow {
            lowCount &+= (unsafeBitCast(t0 .< lowThreshold, to: SIMD8<Int32>.self) & valid0)
                &+ (unsafeBitCast(t1 .< lowThreshold, to: SIMD8<Int32>.self) & valid1)
        }
        if countHigh {
            highCount &+= (unsafeBitCast(t0 .> highThreshold, to: SIMD8<Int32>.self) & valid0)
                &+ (unsafeBitCast(t1 .> highThreshold, to: SIMD8<Int32>.self) & valid1)
        }
    }

    /// Adds the counts into `counts` (and `total` written elements).
    @inline(__always)
    func flush(into counts: inout SaturationCounts, total: Int) {
        counts.low -= Int(lowCount.wrappedSum())
        counts.high -= Int(highCount.wrappedSum())
        counts.total += total
    }
}

/// Stores the first `count` (≤ 16) of 16 requantized values (already within Y's range).
@inline(__always)
func storeInt8Row16<Y: QuantizedScalar>(_ v0: SIMD8<Int32>, _ v1: SIMD8<Int32>, count: Int, to destination: UnsafeMutablePointer<Y>) {
    if Y.bitWidth == 8 {
        // Truncation gives the same bits for signed and unsigned types of one width. The whole-vector
        // conversion is one LLVM `trunc` (AVX2: vpshufb + unpck; NEON: xtn/uzp), not per-byte inserts.
        let bytes = SIMD16<UInt8>(truncatingIfNeeded: SIMD16<Int32>(lowHalf: v0, highHalf: v1))
        if count == 16 {
            UnsafeMutableRawPointer(destination).storeBytes(of: bytes, as: SIMD16<UInt8>.self)
            return
        }
        let raw = UnsafeMutableRawPointer(destination)
        for lane in 0..<count { raw.storeBytes(of: bytes[lane], toByteOffset: lane, as: UInt8.self) }
        return
    }
    for lane in 0..<count { destination[lane] = Y(truncatingIfNeeded: lane < 8 ? v0[lane] : v1[lane - 8]) }
}

/// Stores the first `count` (≤ 16) of 16 Int32 accumulators.
@inline(__always)
func storeInt32Row16(_ v0: SIMD8<Int32>, _ v1: SIMD8<Int32>, count: Int, to destination: UnsafeMutablePointer<Int32>) {
    if count == 16 {
        UnsafeMutableRawPointer(destination).storeBytes(of: v0, as: SIMD8<Int32>.self)
        UnsafeMutableRawPointer(destination + 8).storeBytes(of: v1, as: SIMD8<Int32>.self)
        return
    }
    for lane in 0..<count { destination[lane] = lane < 8 ? v0[lane] : v1[lane - 8] }
}
