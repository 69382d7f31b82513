#if canImport(QuantKernelsVNNI)
import QuantKernelsVNNI
#endif
// General matrix multiply, float32: reference loops, then a cache-blocked, packed-panel GEMM with a
// SIMD8<Float> register-tile microkernel (GotoBLAS/BLIS structure).

/// `out[i][j] = alpha * Σ_p A[i][p] * B[p][j] (+ bias[j])`, then clamp.
///
/// Layout: `A[i][p]` is at `a[i*aRowStride + p*aColStride]` (m x k), `B[p][j]` at
/// `b[p*bRowStride + j*bColStride]` (k x n), so transposed operands are expressed with strides.
/// `output` is m x n, row-major, contiguous (row stride n). `bias` has n elements (one per column)
/// or is nil. `beta * C` is handled by the caller with a Binary add.
public enum GemmFloat {
    /// Readable reference: triple loop, one dot product per output element.
    ///
    /// Layout: see `GemmFloat`; output row stride is `n`.
    public static func reference(
        m: Int, n: Int, k: Int,
        a: UnsafePointer<Float>, aRowStride: Int, aColStride: Int,
        b: UnsafePointer<Float>, bRowStride: Int, bColStride: Int,
        output: UnsafeMutablePointer<Float>, alpha: Float, bias: UnsafePointer<Float>?, clamp: FloatClamp
    ) {
        precondition(m >= 0 && n >= 0 && k >= 0, "GemmFloat: negative dimension")
        for row in 0..<m {
            for column in 0..<n {
                var sum: Float = 0
                for depth in 0..<k {
                    sum += a[row * aRowStride + depth * aColStride] * b[depth * bRowStride + column * bColStride]
                }
                var value = alpha * sum
                if let bias { value += bias[column] }
                output[row * n + column] = clamp.apply(value)
            }
        }
    }

    /// Scratch (in Floats) that `run` needs for packing the A and B panels of an m x n x k product.
    public static func scratchCount(m: Int, n: Int, k: Int) -> Int {
        GemmKernel.scratchCount(m: m, n: n, k: k)
    }

    /// Fast path, same result as `reference` within float rounding. Any strides (packing absorbs them).
    ///
    /// Layout: see `GemmFloat`; output row stride is `n`. `scratch` holds at least
    /// `scratchCount(m:n:k:)` Floats and must not alias the operands.
    public static func run(
        m: Int, n: Int, k: Int,
        a: UnsafePointer<Float>, aRowStride: Int, aColStride: Int,
        b: UnsafePointer<Float>, bRowStride: Int, bColStride: Int,
        output: UnsafeMutablePointer<Float>, alpha: Float, bias: UnsafePointer<Float>?, clamp: FloatClamp,
        scratch: UnsafeMutablePointer<Float>
    ) {
        precondition(m >= 0 && n >= 0 && k >= 0, "GemmFloat: negative dimension")
        GemmKernel.run(
            m: m, n: n, k: k,
            a: a, aRowStride: aRowStride, aColStride: aColStride,
            b: b, bRowStride: bRowStride, bColStride: bColStride, prepackedB: nil,
            output: output, outputRowStride: n,
            epilogue: GemmEpilogue(alpha: alpha, rowBias: nil, columnBias: bias, clamp: clamp),
            scratch: scratch)
    }
}

/// What happens to a finished accumulator: `clamp(alpha * acc + rowBias[i] + columnBias[j])`.
internal struct GemmEpilogue {
    var alpha: Float
    var rowBias: UnsafePointer<Float>?
    var columnBias: UnsafePointer<Float>?
    var clamp: FloatClamp
}

/// Blocked GEMM engine shared by GemmFloat and Conv2DFloat.
///
/// Loop nest (BLIS): columns in blocks of `nc` → depth in blocks of `kc` (pack B: kc x nc, panels of
/// `nr` columns, depth-major) → rows in blocks of `mc` (pack A: mc x kc, panels of `mr` rows,
/// depth-major) → `mr x nr` register tile. Partial sums over depth blocks live in the output; the
/// epilogue runs on the last depth block. Packed panels are zero padded, so the microkernel always
/// computes a full tile and only the store is clipped.
internal enum GemmKernel {
    static let mr = 6
    static let nr = 16
    static let kc = 256
    static let mc = 120   // multiple of mr; mc x kc A block (120 KB) stays in L2
    static let nc = 2048  // kc x nc B block

    @inline(__always)
    static func roundUp(_ x: Int, _ multiple: Int) -> Int { (x + multiple - 1) / multiple * multiple }

    /// Floats needed for a packed B panel set covering all of n x k (the layout `packB` writes and
    /// `prepackedB` expects): `roundUp(n, nr) * k`.
    static func prepackedBCount(n: Int, k: Int) -> Int { roundUp(n, nr) * k }

    static func scratchCount(m: Int, n: Int, k: Int, bIsPrepacked: Bool = false) -> Int {
        if m <= 0 || n <= 0 || k <= 0 { return 0 }
        let depth = Swift.min(k, kc)
        let packA = Swift.min(roundUp(m, mr), mc) * depth
        let packB = bIsPrepacked ? 0 : Swift.min(roundUp(n, nr), nc) * depth
        return packA + packB
    }

    /// `prepackedB`, when given, holds all of B as `ceil(n/nr)` panels of `k x nr` (depth-major,
    /// zero-padded columns); the B operand pointer and strides are then ignored.
    static func run(
        m: Int, n: Int, k: Int,
        a: UnsafePointer<Float>, aRowStride: Int, aColStride: Int,
        b: UnsafePointer<Float>, bRowStride: Int, bColStride: Int, prepackedB: UnsafePointer<Float>?,
        output: UnsafeMutablePointer<Float>, outputRowStride: Int,
        epilogue: GemmEpilogue, scratch: UnsafeMutablePointer<Float>, allowAVX512: Bool = true
    ) {
        if m == 0 || n == 0 { return }
        #if canImport(QuantKernelsVNNI)
        // One depth block with unit-stride B rows: the AVX-512F kernel (same operations in the same
        // order, so the same bits) where the CPU has it.
        if allowAVX512 && k >= 1 && k <= kc && prepackedB == nil && bColStride == 1 && qw_sgemm_avx512_supported() != 0 {
            var g = qw_sgemm()
            g.m = Int32(m); g.n = Int32(n); g.k = Int32(k)
            g.a = a; g.aRowStride = aRowStride; g.aColStride = aColStride
            g.b = b; g.bRowStride = bRowStride
            g.c = output; g.ldc = outputRowStride
            g.alpha = epilogue.alpha
            g.rowBias = epilogue.rowBias
            g.columnBias = epilogue.columnBias
            g.clamp = epilogue.clamp.isNone ? 0 : 1
            g.lower = epilogue.clamp.lower
            g.upper = epilogue.clamp.upper
            g.scratch = scratch
            qw_sgemm_avx512(&g)
            return
        }
        #endif
        if k == 0 {
            // Empty sum: only the epilogue contributes.
            for row in 0..<m {
                for column in 0..<n {
                    var value: Float = 0
                    if let rowBias = epilogue.rowBias { value += rowBias[row] }
                    if let columnBias = epilogue.columnBias { value += columnBias[column] }
                    output[row * outputRowStride + column] = epilogue.clamp.apply(value)
                }
            }
            return
        }
        let depthBlock = Swift.min(k, kc)
        let packedA = scratch
        let packedB = scratch + Swift.min(roundUp(m, mr), mc) * depthBlock

        var columnStart = 0
        while columnStart < n {
            let columnCount = Swift.min(nc, n - columnStart)
            var depthStart = 0
            while depthStart < k {
                let depthCount = Swift.min(kc, k - depthStart)
                let isFirst = depthStart == 0
                let isLast = depthStart + depthCount == k
                if prepackedB == nil {
                    packB(b + depthStart * bRowStride + columnStart * bColStride,
                          rowStride: bRowStride, colStride: bColStride,
                          depth: depthCount, columns: columnCount, into: packedB)
                }
                var rowStart = 0
                while rowStart < m {
                    let rowCount = Swift.min(mc, m - rowStart)
                    packA(a + rowStart * aRowStride + depthStart * aColStride,
                          rowStride: aRowStride, colStride: aColStride,
                          rows: rowCount, depth: depthCount, into: packedA)
                    var tileColumn = 0
                    while tileColumn < columnCount {
                        let columnsInTile = Swift.min(nr, columnCount - tileColumn)
                        let bPanel: UnsafePointer<Float>
                        if let prepackedB {
                            bPanel = prepackedB + ((columnStart + tileColumn) / nr) * (k * nr) + depthStart * nr
                        } else {
                            bPanel = UnsafePointer(packedB + tileColumn * depthCount)
                        }
                        var tileRow = 0
                        while tileRow < rowCount {
                            let rowsInTile = Swift.min(mr, rowCount - tileRow)
                            let row = rowStart + tileRow
                            let column = columnStart + tileColumn
                            microKernel(
                                depth: depthCount,
                                a: packedA + tileRow * depthCount, b: bPanel,
                                c: output + row * outputRowStride + column, ldc: outputRowStride,
                                rows: rowsInTile, columns: columnsInTile,
                                accumulate: !isFirst, finalize: isLast,
                                firstRow: row, firstColumn: column, epilogue: epilogue)
                            tileRow += mr
                        }
                        tileColumn += nr
                    }
                    rowStart += mc
                }
                depthStart += depthCount
            }
            columnStart += columnCount
        }
    }

    /// Packs `rows x depth` of A into panels of `mr` rows: panel[p*mr + r] = A[r][p], zero padded.
    @inline(__always)
    static func packA(_ a: UnsafePointer<Float>, rowStride: Int, colStride: Int,
                      rows: Int, depth: Int, into packed: UnsafeMutablePointer<Float>) {
        var panelRow = 0
        var destination = packed
        while panelRow < rows {
            let validRows = Swift.min(mr, rows - panelRow)
            for r in 0..<mr {
                var out = destination + r
                if r < validRows {
                    var source = a + (panelRow + r) * rowStride
                    for _ in 0..<depth {
                        out.pointee = source.pointee
                        out += mr
                        source += colStride
                    }
                } else {
                    for _ in 0..<depth {
                        out.pointee = 0
                        out += mr
                    }
                }
            }
            destination += mr * depth
            panelRow += mr
        }
    }

    /// Packs `depth x columns` of B into panels of `nr` columns: panel[p*nr + c] = B[p][c], zero padded.
    @inline(__always)
    static func packB(_ b: UnsafePointer<Float>, rowStride: Int, colStride: Int,
                      depth: Int, columns: Int, into packed: UnsafeMutablePointer<Float>) {
        var panelColumn = 0
        var destination = packed
        while panelColumn < columns {
            let validColumns = Swift.min(nr, columns - panelColumn)
            let source = b + panelColumn * colStride
            if validColumns == nr && colStride == 1 {
                for p in 0..<depth {
                    let row = source + p * rowStride
                    storeVector8(loadVector8(row), destination + p * nr)
                    storeVector8(loadVector8(row + 8), destination + p * nr + 8)
                }
            } else {
                for p in 0..<depth {
                    let row = source + p * rowStride
                    let out = destination + p * nr
                    for c in 0..<nr {
                        out[c] = c < validColumns ? row[c * colStride] : 0
                    }
                }
            }
            destination += nr * depth
            panelColumn += nr
        }
    }

    /// 6 x 16 register tile: 12 SIMD8<Float> accumulators (AVX: 12 ymm; NEON: 24 q registers).
    @inline(__always)
    static func microKernel(
        depth: Int, a: UnsafePointer<Float>, b: UnsafePointer<Float>,
        c: UnsafeMutablePointer<Float>, ldc: Int, rows: Int, columns: Int,
        accumulate: Bool, finalize: Bool, firstRow: Int, firstColumn: Int, epilogue: GemmEpilogue
    ) {
        var c00 = SIMD8<Float>(), c01 = SIMD8<Float>()
        var c10 = SIMD8<Float>(), c11 = SIMD8<Float>()
        var c20 = SIMD8<Float>(), c21 = SIMD8<Float>()
        var c30 = SIMD8<Float>(), c31 = SIMD8<Float>()
        var c40 = SIMD8<Float>(), c41 = SIMD8<Float>()
        var c50 = SIMD8<Float>(), c51 = SIMD8<Float>()
        var pa = a
        var pb = b
        for _ in 0..<depth {
            let b0 = loadVector8(pb)
            let b1 = loadVector8(pb + 8)
            var av = SIMD8<Float>(repeating: pa[0])
            c00 = multiplyAdd(c00, av, b0); c01 = multiplyAdd(c01, av, b1)
            av = SIMD8<Float>(repeating: pa[1])
            c10 = multiplyAdd(c10, av, b0); c11 = multiplyAdd(c11, av, b1)
            av = SIMD8<Float>(repeating: pa[2])
            c20 = multiplyAdd(c20, av, b0); c21 = multiplyAdd(c21, av, b1)
            av = SIMD8<Float>(repeating: pa[3])
            c30 = multiplyAdd(c30, av, b0); c31 = multiplyAdd(c31, av, b1)
            av = SIMD8<Float>(repeating: pa[4])
            c40 = multiplyAdd(c40, av, b0); c41 = multiplyAdd(c41, av, b1)
            av = SIMD8<Float>(repeating: pa[5])
            c50 = multiplyAdd(c50, av, b0); c51 = multiplyAdd(c51, av, b1)
            pa += 6
            pb += 16
        }
        storeRow(c00, c01, c, row: firstRow, columns: columns, accumulate: accumulate, finalize: finalize,
                 firstColumn: firstColumn, epilogue: epilogue)
        if rows > 1 { storeRow(c10, c11, c + ldc, row: firstRow + 1, columns: columns, accumulate: accumulate,
                               finalize: finalize, firstColumn: firstColumn, epilogue: epilogue) }
        if rows > 2 { storeRow(c20, c21, c + 2 * ldc, row: firstRow + 2, columns: columns, accumulate: accumulate,
                               finalize: finalize, firstColumn: firstColumn, epilogue: epilogue) }
        if rows > 3 { storeRow(c30, c31, c + 3 * ldc, row: firstRow + 3, columns: columns, accumulate: accumulate,
                               finalize: finalize, firstColumn: firstColumn, epilogue: epilogue) }
        if rows > 4 { storeRow(c40, c41, c + 4 * ldc, row: firstRow + 4, columns: columns, accumulate: accumulate,
                               finalize: finalize, firstColumn: firstColumn, epilogue: epilogue) }
        if rows > 5 { storeRow(c50, c51, c + 5 * ldc, row: firstRow + 5, columns: columns, accumulate: accumulate,
                               finalize: finalize, firstColumn: firstColumn, epilogue: epilogue) }
    }

    /// Writes one tile row (16 lanes in two vectors), adding the previous partial sum and/or applying
    /// the epilogue; `columns < 16` clips the store.
    @inline(__always)
    static func storeRow(
        _ low: SIMD8<Float>, _ high: SIMD8<Float>, _ c: UnsafeMutablePointer<Float>,
        row: Int, columns: Int, accumulate: Bool, finalize: Bool, firstColumn: Int, epilogue: GemmEpilogue
    ) {
        if columns == nr {
            var v0 = low, v1 = high
            if accumulate {
                v0 += loadVector8(c)
                v1 += loadVector8(c + 8)
            }
            if finalize {
                if epilogue.alpha != 1 {
                    v0 *= epilogue.alpha
                    v1 *= epilogue.alpha
                }
                if let rowBias = epilogue.rowBias {
                    v0 += rowBias[row]
                    v1 += rowBias[row]
                }
                if let columnBias = epilogue.columnBias {
                    v0 += loadVector8(columnBias + firstColumn)
                    v1 += loadVector8(columnBias + firstColumn + 8)
                }
                if !epilogue.clamp.isNone {
                    v0 = epilogue.clamp.apply(v0)
                    v1 = epilogue.clamp.apply(v1)
                }
            }
            storeVector8(v0, c)
            storeVector8(v1, c + 8)
        } else {
            for column in 0..<columns {
                var value = column < 8 ? low[column] : high[column - 8]
                if accumulate { value += c[column] }
                if finalize {
                    value *= epilogue.alpha
                    if let rowBias = epilogue.rowBias { value += rowBias[row] }
                    if let columnBias = epilogue.columnBias { value += columnBias[firstColumn + column] }
                    value = epilogue.clamp.apply(value)
                }
                c[column] = value
            }
        }
    }
}
