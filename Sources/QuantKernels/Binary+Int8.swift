// QLinearAdd / QLinearMul (com.microsoft) on 8/16-bit quantized tensors with numpy broadcasting,
// reproducing onnxruntime's x86-64 MLAS arithmetic bit for bit.
//
// onnxruntime (contrib_ops/cpu/quantization/qlinear_binary_op.cc) walks the broadcast output in
// spans: inside a span each operand is either a vector or one repeated ("scalar") value, and when
// A is the scalar it calls the MLAS kernel with the operands swapped (B's span as MLAS "A").
//
// QLinearAdd — MLAS `MlasQLinearAddKernelAvx2Helper` (core/mlas/lib/intrinsics/avx2/qladd_avx2.cpp),
// the kernel onnxruntime dispatches to on AVX2 machines, with MLAS "A" = the vector operand V and
// "B" = the other operand S (both vectors when neither is scalar):
//   ratioV = scaleV / scaleC, ratioS = scaleS / scaleC                       (Float division)
//   fixed  = Float(zeroC) − fma(ratioV, Float(zeroV), ratioS · Float(zeroS))  (the compiler contracts
//            `ratioA * zpA + ratioB * zpB` into an FMA; verified against onnxruntime 1.32)
//   c      = nearbyint(fma(Float(v), ratioV, fma(Float(s), ratioS, fixed)))   then saturate.
// For a scalar S MLAS folds `fma(Float(s), ratioS, fixed)` once per span — the same value.
// So with V = lhs (vector/vector, or rhs scalar in the span) and V = rhs (lhs scalar in the span)
// there are two formulas, picked per span exactly as onnxruntime picks them.
// (The SSE2-only and NEON kernels round differently; NEON even uses fixed point. We match x86 AVX2.)
//
// QLinearMul — MLAS `MlasQLinearMulKernel` SSE2 path (core/mlas/lib/qlmul.cpp):
//   ratio = (scaleA · scaleB) / scaleC                                      (Float, that order)
//   c     = nearbyint(Float((a − zeroA)·(b − zeroB)) · ratio + Float(zeroC))  (separate mul, add)
//
// Then the result is clamped to [lower, upper] (qmin/qmax unless a fused activation narrows it) and
// values beyond qmin/qmax are counted as saturation (see Requantize.swift).

/// Which QLinear binary operator a `QLinearBinaryParameters` describes.
public enum QLinearBinaryOperator: Sendable, Equatable {
    case add, mul
}

/// Load-time constants of one QLinearAdd/QLinearMul node (scales, zero points, output clamp).
public struct QLinearBinaryParameters: Sendable {
    public let op: QLinearBinaryOperator
    public let aZero: Int32, bZero: Int32, cZero: Int32
    /// Add: scaleA / scaleC and scaleB / scaleC. Mul: `ratioA` = (scaleA·scaleB)/scaleC, `ratioB` unused.
    public let ratioA: Float, ratioB: Float
    /// Add: the constant term when lhs is the MLAS vector operand / when rhs is. Mul: Float(zeroC) in both.
    let fixedLhsVector: Float, fixedRhsVector: Float
    public let clamp: QuantizedOutputClamp

    /// `T` is the element type of A, B and C (onnxruntime requires one type). Zero points are given
    /// as Int32 in T's range. `activation` is an optional fused real-valued clamp on C.
    public init<T: QuantizedScalar>(_ op: QLinearBinaryOperator, _: T.Type,
                                    aScale: Float, aZero: Int32, bScale: Float, bZero: Int32,
                                    outputScale: Float, outputZero: Int32, activation: FloatClamp = .none) {
        precondition(T.bitWidth <= 16, "QLinearBinary: 8/16-bit types only")
        for z in [aZero, bZero, outputZero] {
            precondition(z >= T.quantizedMin && z <= T.quantizedMax, "QLinearBinary: zero point out of range")
        }
        self.op = op
        self.aZero = aZero
        self.bZero = bZero
        self.cZero = outputZero
        clamp = QuantizedOutputClamp(T.self, outputScale: outputScale, outputZero: outputZero, activation: activation)
        switch op {
        case .add:
            let rA = aScale / outputScale, rB = bScale / outputScale
            ratioA = rA
            ratioB = rB
            fixedLhsVector = Float(outputZero) - fusedMultiplyAdd(rA, Float(aZero), rB * Float(bZero))
            fixedRhsVector = Float(outputZero) - fusedMultiplyAdd(rB, Float(bZero), rA * Float(aZero))
        case .mul:
            ratioA = aScale * bScale / outputScale
            ratioB = 0
            fixedLhsVector = Float(outputZero)
            fixedRhsVector = Float(outputZero)
        }
    }
}

/// QLinearAdd / QLinearMul with numpy broadcasting (`BroadcastPlan` from Binary+Float.swift).
public enum BinaryInt8 {
    // MARK: Scalar formulas (shared by the reference and the tails of the fast path)

    /// Add, MLAS vector operand = lhs (both vectors, or rhs repeated in the span).
    @inline(__always)
    static func addLhsVector(_ a: Int32, _ b: Int32, _ p: QLinearBinaryParameters) -> Int32 {
        let inner = fusedMultiplyAdd(Float(b), p.ratioB, p.fixedLhsVector)
        return roundHalfEvenToInt32(fusedMultiplyAdd(Float(a), p.ratioA, inner))
    }

    /// Add, MLAS vector operand = rhs (lhs repeated in the span: onnxruntime swaps the operands).
    @inline(__always)
    static func addRhsVector(_ a: Int32, _ b: Int32, _ p: QLinearBinaryParameters) -> Int32 {
        let inner = fusedMultiplyAdd(Float(a), p.ratioA, p.fixedRhsVector)
        return roundHalfEvenToInt32(fusedMultiplyAdd(Float(b), p.ratioB, inner))
    }

    @inline(__always)
    static func mulValue(_ a: Int32, _ b: Int32, _ p: QLinearBinaryParameters) -> Int32 {
        let product = Float((a &- p.aZero) &* (b &- p.bZero))
        return roundHalfEvenToInt32(product * p.ratioA + p.fixedLhsVector)
    }

    /// Whether onnxruntime treats lhs as the repeated ("scalar") operand of the innermost span.
    @inline(__always)
    static func lhsIsSpanScalar(_ plan: BroadcastPlan) -> Bool {
        plan.rank == 0 || plan.lhsStrides[plan.rank - 1] == 0
    }

    // MARK: Reference

    /// Reference: per output element, decompose its index over the plan's collapsed dims, read both
    /// operands, apply the scalar formula of the span kind, clamp and count.
    public static func reference<T: QuantizedScalar>(lhs: UnsafePointer<T>, rhs: UnsafePointer<T>,
                                                     output: UnsafeMutablePointer<T>, plan: BroadcastPlan,
                                                     parameters p: QLinearBinaryParameters,
                                                     counts: UnsafeMutablePointer<SaturationCounts>?) {
        var local = SaturationCounts()
        let lhsScalar = lhsIsSpanScalar(plan)
        for outIndex in 0..<plan.outputCount {
            var rest = outIndex
            var l = 0, r = 0
            var d = plan.rank - 1
            while d >= 0 {
                let i = rest % plan.dims[d]
                rest /= plan.dims[d]
                l += i * plan.lhsStrides[d]
                r += i * plan.rhsStrides[d]
                d -= 1
            }
            let a = Int32(truncatingIfNeeded: lhs[l]), b = Int32(truncatingIfNeeded: rhs[r])
            let v: Int32
            switch p.op {
            case .add: v = lhsScalar ? addRhsVector(a, b, p) : addLhsVector(a, b, p)
            case .mul: v = mulValue(a, b, p)
            }
            output[outIndex] = T(truncatingIfNeeded: p.clamp.apply(v, &local))
        }
        if let counts { counts.pointee.add(local) }
    }

    // MARK: Fast path

    /// QLinearAdd: `output = clamp(c)`, same bits and counts as `reference`. `counts` nil: no counting.
    /// `output` may alias an operand that has the output's shape.
    @_specialize(where T == UInt8)
    @_specialize(where T == Int8)
    public static func add<T: QuantizedScalar>(lhs: UnsafePointer<T>, rhs: UnsafePointer<T>,
                                               output: UnsafeMutablePointer<T>, plan: BroadcastPlan,
                                               parameters: QLinearBinaryParameters,
                                               counts: UnsafeMutablePointer<SaturationCounts>?,
                                               countingState: UnsafeMutablePointer<Int32>? = nil) {
        precondition(parameters.op == .add, "BinaryInt8.add: parameters are for mul")
        run(lhs: lhs, rhs: rhs, output: output, plan: plan, parameters: parameters, counts: counts, countingState: countingState)
    }

    /// QLinearMul: see `add`.
    @_specialize(where T == UInt8)
    @_specialize(where T == Int8)
    public static func mul<T: QuantizedScalar>(lhs: UnsafePointer<T>, rhs: UnsafePointer<T>,
                                               output: UnsafeMutablePointer<T>, plan: BroadcastPlan,
                                               parameters: QLinearBinaryParameters,
                                               counts: UnsafeMutablePointer<SaturationCounts>?,
                                               countingState: UnsafeMutablePointer<Int32>? = nil) {
        precondition(parameters.op == .mul, "BinaryInt8.mul: parameters are for add")
        run(lhs: lhs, rhs: rhs, output: output, plan: plan, parameters: parameters, counts: counts, countingState: countingState)
    }

    /// The operator given by `parameters.op`; SIMD over the innermost span of the broadcast plan.
    /// `countingState`: the step's `TwoPassCounting` memory.
    @_specialize(where T == UInt8)
    @_specialize(where T == Int8)
    public static func run<T: QuantizedScalar>(lhs: UnsafePointer<T>, rhs: UnsafePointer<T>,
                                               output: UnsafeMutablePointer<T>, plan: BroadcastPlan,
                                               parameters p: QLinearBinaryParameters,
                                               counts: UnsafeMutablePointer<SaturationCounts>?,
                                               countingState: UnsafeMutablePointer<Int32>? = nil) {
        var tally = SaturationTally(p.clamp, counting: counts != nil)
        tally.twoPass = (tally.countLow || tally.countHigh) && TwoPassCounting.begin(countingState)
        defer { if tally.recounted { TwoPassCounting.crossed(countingState) } }
        if plan.rank == 0 {
            // One element (all shapes are 1s): onnxruntime takes the "input 0 is scalar" branch.
            if plan.outputCount == 1 { span(lhs, 0, rhs, 0, output, 1, p, &tally) }
            tally.flush(into: counts, written: plan.outputCount)
            return
        }
        switch plan.kind {
        case .equal:
            span(lhs, 1, rhs, 1, output, plan.outputCount, p, &tally)
        case .scalarLhs:
            span(lhs, 0, rhs, 1, output, plan.outputCount, p, &tally)
        case .scalarRhs:
            span(lhs, 1, rhs, 0, output, plan.outputCount, p, &tally)
        case .channelRhs(let outer, let channels, let inner):
            for o in 0..<outer {
                let base = o * channels * inner
                if inner == 1 {
                    span(lhs + base, 1, rhs, 1, output + base, channels, p, &tally)
                } else {
                    for ch in 0..<channels {
                        let at = base + ch * inner
                        span(lhs + at, 1, rhs + ch, 0, output + at, inner, p, &tally)
                    }
                }
            }
        case .channelLhs(let outer, let channels, let inner):
            for o in 0..<outer {
                let base = o * channels * inner
                if inner == 1 {
                    span(lhs, 1, rhs + base, 1, output + base, channels, p, &tally)
                } else {
                    for ch in 0..<channels {
                        let at = base + ch * inner
                        span(lhs + ch, 0, rhs + at, 1, output + at, inner, p, &tally)
                    }
                }
            }
        case .general:
            let last = plan.rank - 1
            let inner = plan.dims[last]
            let ls = plan.lhsStrides[last] != 0 ? 1 : 0, rs = plan.rhsStrides[last] != 0 ? 1 : 0
            forEachOuterRow(outerRank: last, dims: plan.dims, stridesA: plan.lhsStrides,
                            stridesB: plan.rhsStrides) { row, l, r in
                span(lhs + l, ls, rhs + r, rs, output + row * inner, inner, p, &tally)
            }
        }
        tally.flush(into: counts, written: plan.outputCount)
    }

    /// QLinearAdd's 8 unclamped values at an offset of the span (see `addRhsVector` / `addLhsVector`
    /// for the order).
    struct AddValues<T: QuantizedScalar>: SpanValues {
        let a: UnsafePointer<T>, aVector: Bool, aFixed: Int32
        let b: UnsafePointer<T>, bVector: Bool, bFixed: Int32
        let rhsIsVectorOperand: Bool
        let ratioA: SIMD8<Float>, ratioB: SIMD8<Float>, fixed: SIMD8<Float>

        @inline(__always)
        func callAsFunction(_ i: Int) -> SIMD8<Int32> {
            let va = aVector ? floatLanes(loadWidened8(a + i)) : SIMD8<Float>(repeating: Float(aFixed))
            let vb = bVector ? floatLanes(loadWidened8(b + i)) : SIMD8<Float>(repeating: Float(bFixed))
            let r: SIMD8<Float>
            if rhsIsVectorOperand {
                r = fusedMultiplyAdd8(vb, ratioB, fusedMultiplyAdd8(va, ratioA, fixed))
            } else {
                r = fusedMultiplyAdd8(va, ratioA, fusedMultiplyAdd8(vb, ratioB, fixed))
            }
            return roundHalfEven8(r)
        }
    }

    /// QLinearMul's 8 unclamped values at an offset of the span.
    struct MulValues<T: QuantizedScalar>: SpanValues {
        let a: UnsafePointer<T>, aVector: Bool, aFixed: Int32
        let b: UnsafePointer<T>, bVector: Bool, bFixed: Int32
        let za: SIMD8<Int32>, zb: SIMD8<Int32>, ratio: SIMD8<Float>, zc: SIMD8<Float>

        @inline(__always)
        func callAsFunction(_ i: Int) -> SIMD8<Int32> {
            // |(a − za)(b − zb)| ≤ 65535² < 2^32 overflows Int32 only for 16-bit types with extreme
            // zero points; &* wraps like MLAS's Int32 product (8-bit types: ≤ 255² — exact).
            let da = (aVector ? loadWidened8(a + i) : SIMD8<Int32>(repeating: aFixed)) &- za
            let db = (bVector ? loadWidened8(b + i) : SIMD8<Int32>(repeating: bFixed)) &- zb
            return roundHalfEven8(floatLanes(da &* db) * ratio + zc)
        }
    }

    /// The vector part of a span: counted in two passes (`SaturationTally.clamp`, `SpanExtremes`)
    /// when `twoPass` — the values stored clamped while their extremes are kept, then counted again
    /// only if an extreme crossed a bound — else counted as they are stored. Its own function, so
    /// that the span functions stay small enough for their callees to be inlined. Returns the
    /// elements done (a multiple of 8).
    @inline(never)
    private static func vectors<V: SpanValues, T: QuantizedScalar>(_ values: V, _ o: UnsafeMutablePointer<T>, _ n: Int,
                                                                   twoPass: Bool, _ tally: inout SaturationTally) -> Int {
        var local = tally
        defer { tally = local }
        var i = 0
        if twoPass {
            var extremes = SpanExtremes()
            let low = local.countLow, high = local.countHigh
            while i + 8 <= n {
                let v = values(i)
                extremes.add(v, low: low, high: high)
                storeNarrowed8(local.clamp(v), o + i)
                i += 8
            }
            if extremes.crossed(local) {
                local.recounted = true
                var j = 0
                while j < i {
                    local.count(values(j))
                    j += 8
                }
            }
        } else {
            while i + 8 <= n {
                storeNarrowed8(local.apply(values(i)), o + i)
                i += 8
            }
        }
        return i
    }

    /// Whether a span counts in two passes (`vectors`): when the call does (`SaturationTally.twoPass`)
    /// and its output does not overwrite an operand it would read again.
    @inline(__always)
    private static func twoPass<T>(_ a: UnsafePointer<T>, _ aVector: Bool, _ b: UnsafePointer<T>, _ bVector: Bool,
                                   _ o: UnsafeMutablePointer<T>, _ tally: SaturationTally) -> Bool {
        tally.twoPass && !(aVector && a == UnsafePointer(o)) && !(bVector && b == UnsafePointer(o))
    }

    /// One span of `n` outputs; each operand advances by its step (1: vector, 0: repeated value).
    @inline(__always)
    private static func span<T: QuantizedScalar>(_ a: UnsafePointer<T>, _ aStep: Int, _ b: UnsafePointer<T>, _ bStep: Int,
                                                 _ o: UnsafeMutablePointer<T>, _ n: Int,
                                                 _ p: QLinearBinaryParameters, _ tally: inout SaturationTally) {
        switch (p.op, aStep, bStep) {
        case (.add, 1, 1): addSpan(a, true, b, true, o, n, p, &tally)
        case (.add, 1, _): addSpan(a, true, b, false, o, n, p, &tally)
        case (.add, _, 1): addSpan(a, false, b, true, o, n, p, &tally)
        case (.add, _, _): addSpan(a, false, b, false, o, n, p, &tally)
        case (_, 1, 1): mulSpan(a, true, b, true, o, n, p, &tally)
        case (_, 1, _): mulSpan(a, true, b, false, o, n, p, &tally)
        case (_, _, 1): mulSpan(a, false, b, true, o, n, p, &tally)
        case (_, _, _): mulSpan(a, false, b, false, o, n, p, &tally)
        }
    }

    @inline(__always)
    private static func addSpan<T: QuantizedScalar>(_ a: UnsafePointer<T>, _ aVector: Bool, _ b: UnsafePointer<T>, _ bVector: Bool,
                                                    _ o: UnsafeMutablePointer<T>, _ n: Int,
                                                    _ p: QLinearBinaryParameters, _ tally: inout SaturationTally) {
        // lhs repeated in the span (the span-kind rule of `lhsIsSpanScalar`): rhs is MLAS "A".
        let rhsIsVectorOperand = !aVector
        let aFixed = Int32(truncatingIfNeeded: a.pointee), bFixed = Int32(truncatingIfNeeded: b.pointee)
        let ratioA = SIMD8<Float>(repeating: p.ratioA), ratioB = SIMD8<Float>(repeating: p.ratioB)
        // The operand that is not the MLAS vector operand is folded in first: its fma with the
        // constant is the same for every lane when it is repeated.
        let fixed = SIMD8<Float>(repeating: rhsIsVectorOperand ? p.fixedRhsVector : p.fixedLhsVector)
        // A local copy keeps the tally's vectors in registers (the output stores could alias `tally`).
        var local = tally
        defer { tally = local }
        let values = AddValues(a: a, aVector: aVector, aFixed: aFixed, b: b, bVector: bVector, bFixed: bFixed,
                               rhsIsVectorOperand: rhsIsVectorOperand, ratioA: ratioA, ratioB: ratioB, fixed: fixed)
        var i = vectors(values, o, n, twoPass: twoPass(a, aVector, b, bVector, o, local), &local)
        while i < n {
            let x = aVector ? Int32(truncatingIfNeeded: a[i]) : aFixed
            let y = bVector ? Int32(truncatingIfNeeded: b[i]) : bFixed
            let v = rhsIsVectorOperand ? addRhsVector(x, y, p) : addLhsVector(x, y, p)
            o[i] = T(truncatingIfNeeded: local.apply(v))
            i += 1
        }
    }

    @inline(__always)
    private static func mulSpan<T: QuantizedScalar>(_ a: UnsafePointer<T>, _ aVector: Bool, _ b: UnsafePointer<T>, _ bVector: Bool,
                                                    _ o: UnsafeMutablePointer<T>, _ n: Int,
                                                    _ p: QLinearBinaryParameters, _ tally: inout SaturationTally) {
        let aFixed = Int32(truncatingIfNeeded: a.pointee), bFixed = Int32(truncatingIfNeeded: b.pointee)
        let za = SIMD8<Int32>(repeating: p.aZero), zb = SIMD8<Int32>(repeating: p.bZero)
        let ratio = SIMD8<Float>(repeating: p.ratioA), zc = SIMD8<Float>(repeating: p.fixedLhsVector)
        // A local copy keeps the tally's vectors in registers (the output stores could alias `tally`).
        var local = tally
        defer { tally = local }
        let values = MulValues(a: a, aVector: aVector, aFixed: aFixed, b: b, bVector: bVector, bFixed: bFixed,
                               za: za, zb: zb, ratio: ratio, zc: zc)
        var i = vectors(values, o, n, twoPass: twoPass(a, aVector, b, bVector, o, local), &local)
        while i < n {
            let x = aVector ? Int32(truncatingIfNeeded: a[i]) : aFixed
            let y = bVector ? Int32(truncatingIfNeeded: b[i]) : bFixed
            o[i] = T(truncatingIfNeeded: local.apply(mulValue(x, y, p)))
            i += 1
        }
    }
}
