// Elementwise binary operators with numpy-style (ONNX multidirectional) broadcasting.

/// Numpy-style multidirectional broadcasting plan, computed at load time (rank ≤ 8 after
/// collapsing adjacent dims). Shapes are right-aligned; a dim of 1 broadcasts.
///
/// Collapsing: output dims of size 1 are dropped, and adjacent dims are merged when each operand
/// is either full in both or broadcast in both. The collapsed form then picks a loop shape:
/// equal shapes, scalar lhs/rhs, "channel" (one operand full, the other a vector along one
/// collapsed dim, e.g. [C,1,1] against [N,C,H,W] or a [C] row against [M,C]), or a general
/// odometer whose innermost dim is one of the first three.
public struct BroadcastPlan: Sendable {
    enum Kind: Sendable {
        case equal
        case scalarLhs
        case scalarRhs
        /// Output viewed as [outer, channels, inner]; the small operand holds `channels` values.
        case channelRhs(outer: Int, channels: Int, inner: Int)
        case channelLhs(outer: Int, channels: Int, inner: Int)
        case general
    }
    let kind: Kind
    let rank: Int
    let dims: SIMD8<Int>
    let lhsStrides: SIMD8<Int>
    let rhsStrides: SIMD8<Int>
    /// Number of output elements.
    public let outputCount: Int

    /// `output` must be the broadcast of `lhs` and `rhs`: right-aligned, every lhs/rhs dim is
    /// either equal to the output dim or 1, and neither operand has higher rank than the output.
    /// An empty shape is a scalar.
    public init(output: [Int], lhs: [Int], rhs: [Int]) {
        precondition(lhs.count <= output.count && rhs.count <= output.count, "broadcast: operand rank > output rank")
        let r = output.count
        let l = [Int](repeating: 1, count: r - lhs.count) + lhs
        let rr = [Int](repeating: 1, count: r - rhs.count) + rhs
        outputCount = output.reduce(1, *)
        // Per collapsed dim: size and whether each operand is full (true) or broadcast (false).
        var sizes: [Int] = []
        var lFull: [Bool] = []
        var rFull: [Bool] = []
        for d in 0..<r {
            let o = output[d]
            precondition(l[d] == o || l[d] == 1, "broadcast: lhs dim incompatible")
            precondition(rr[d] == o || rr[d] == 1, "broadcast: rhs dim incompatible")
            if o == 1 { continue }
            let lf = l[d] == o, rf = rr[d] == o
            if let last = sizes.indices.last, lFull[last] == lf, rFull[last] == rf {
                sizes[last] *= o
            } else {
                sizes.append(o)
                lFull.append(lf)
                rFull.append(rf)
            }
        }
        precondition(sizes.count <= maxCollapsedRank, "broadcast: rank > 8 after collapsing")
        var dims = SIMD8<Int>(repeating: 1)
        var ls = SIMD8<Int>(repeating: 0)
        var rs = SIMD8<Int>(repeating: 0)
        var lStride = 1, rStride = 1
        for d in sizes.indices.reversed() {
            dims[d] = sizes[d]
            if lFull[d] { ls[d] = lStride; lStride *= sizes[d] }
            if rFull[d] { rs[d] = rStride; rStride *= sizes[d] }
        }
        self.rank = sizes.count
        self.dims = dims
        self.lhsStrides = ls
        self.rhsStrides = rs
        let lhsAllFull = !lFull.contains(false)
        let rhsAllFull = !rFull.contains(false)
        if lhsAllFull && rhsAllFull {
            kind = .equal
        } else if rhsAllFull && !lFull.contains(true) {
            kind = .scalarLhs
        } else if lhsAllFull && !rFull.contains(true) {
            kind = .scalarRhs
        } else if lhsAllFull, let k = BroadcastPlan.channelShape(sizes, rFull) {
            kind = .channelRhs(outer: k.outer, channels: k.channels, inner: k.inner)
        } else if rhsAllFull, let k = BroadcastPlan.channelShape(sizes, lFull) {
            kind = .channelLhs(outer: k.outer, channels: k.channels, inner: k.inner)
        } else {
            kind = .general
        }
    }

    /// If the small operand is full in exactly one collapsed dim: (product before, that dim, product after).
    private static func channelShape(_ sizes: [Int], _ full: [Bool]) -> (outer: Int, channels: Int, inner: Int)? {
        let fullDims = full.indices.filter { full[$0] }
        guard fullDims.count == 1, let c = fullDims.first else { return nil }
        return (sizes[..<c].reduce(1, *), sizes[c], sizes[(c + 1)...].reduce(1, *))
    }
}

/// Binary elementwise operators (ONNX Add, Sub, Mul, Div, Max, Min, PRelu).
public enum BinaryFloatOperator: Sendable, Equatable {
    case add, sub, mul, div, max, min
    /// lhs < 0 ? lhs * rhs : lhs  (ONNX PRelu with slope as rhs broadcast to x)
    case prelu
}

/// One binary operator as a scalar function and an 8-lane function with the same per-lane result.
protocol FloatBinaryFunctor {
    static func scalar(_ a: Float, _ b: Float) -> Float
    static func vector(_ a: SIMD8<Float>, _ b: SIMD8<Float>) -> SIMD8<Float>
}
enum AddFunctor: FloatBinaryFunctor {
    @inline(__always) static func scalar(_ a: Float, _ b: Float) -> Float { a + b }
    @inline(__always) static func vector(_ a: SIMD8<Float>, _ b: SIMD8<Float>) -> SIMD8<Float> { a + b }
}
enum SubFunctor: FloatBinaryFunctor {
    @inline(__always) static func scalar(_ a: Float, _ b: Float) -> Float { a - b }
    @inline(__always) static func vector(_ a: SIMD8<Float>, _ b: SIMD8<Float>) -> SIMD8<Float> { a - b }
}
enum MulFunctor: FloatBinaryFunctor {
    @inline(__always) static func scalar(_ a: Float, _ b: Float) -> Float { a * b }
    @inline(__always) static func vector(_ a: SIMD8<Float>, _ b: SIMD8<Float>) -> SIMD8<Float> { a * b }
}
enum DivFunctor: FloatBinaryFunctor {
    // IEEE division: x/0 = ±inf, 0/0 = NaN.
    @inline(__always) static func scalar(_ a: Float, _ b: Float) -> Float { a / b }
    @inline(__always) static func vector(_ a: SIMD8<Float>, _ b: SIMD8<Float>) -> SIMD8<Float> { a / b }
}
enum MaxFunctor: FloatBinaryFunctor {
    // a NaN in `a` is kept; a NaN only in `b` is not (same rule in both forms).
    @inline(__always) static func scalar(_ a: Float, _ b: Float) -> Float { a < b ? b : a }
    @inline(__always) static func vector(_ a: SIMD8<Float>, _ b: SIMD8<Float>) -> SIMD8<Float> {
        a.replacing(with: b, where: a .< b)
    }
}
enum MinFunctor: FloatBinaryFunctor {
    @inline(__always) static func scalar(_ a: Float, _ b: Float) -> Float { a > b ? b : a }
    @inline(__always) static func vector(_ a: SIMD8<Float>, _ b: SIMD8<Float>) -> SIMD8<Float> {
        a.replacing(with: b, where: a .> b)
    }
}
enum PReluFunctor: FloatBinaryFunctor {
    @inline(__always) static func scalar(_ a: Float, _ b: Float) -> Float { a < 0 ? a * b : a }
    @inline(__always) static func vector(_ a: SIMD8<Float>, _ b: SIMD8<Float>) -> SIMD8<Float> {
        a.replacing(with: a * b, where: a .< 0)
    }
}

/// Elementwise `output = clamp(op(lhs, rhs))` with numpy broadcasting described by a `BroadcastPlan`.
public enum BinaryFloat {
    /// Scalar semantics of one operator.
    public static func apply(_ op: BinaryFloatOperator, _ a: Float, _ b: Float) -> Float {
        switch op {
        case .add: return AddFunctor.scalar(a, b)
        case .sub: return SubFunctor.scalar(a, b)
        case .mul: return MulFunctor.scalar(a, b)
        case .div: return DivFunctor.scalar(a, b)
        case .max: return MaxFunctor.scalar(a, b)
        case .min: return MinFunctor.scalar(a, b)
        case .prelu: return PReluFunctor.scalar(a, b)
        }
    }

    /// Reference: for every output element, decompose its index over the collapsed dims and
    /// read lhs/rhs through the plan's (0 for broadcast) strides.
    public static func reference(_ op: BinaryFloatOperator, lhs: UnsafePointer<Float>, rhs: UnsafePointer<Float>,
                                 output: UnsafeMutablePointer<Float>, plan: BroadcastPlan, clamp: FloatClamp = .none) {
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
            output[outIndex] = clamp.apply(apply(op, lhs[l], rhs[r]))
        }
    }

    /// `output[i] = clamp.apply(op(lhs[·], rhs[·]))` over the broadcast output (contiguous,
    /// `plan.outputCount` elements). `output` may alias `lhs` or `rhs` when that operand has the
    /// output's shape (in-place). Division by zero follows IEEE (±inf / NaN).
    public static func run(_ op: BinaryFloatOperator, lhs: UnsafePointer<Float>, rhs: UnsafePointer<Float>,
                           output: UnsafeMutablePointer<Float>, plan: BroadcastPlan, clamp: FloatClamp = .none) {
        switch op {
        case .add: run(AddFunctor.self, lhs, rhs, output, plan, clamp)
        case .sub: run(SubFunctor.self, lhs, rhs, output, plan, clamp)
        case .mul: run(MulFunctor.self, lhs, rhs, output, plan, clamp)
        case .div: run(DivFunctor.self, lhs, rhs, output, plan, clamp)
        case .max: run(MaxFunctor.self, lhs, rhs, output, plan, clamp)
        case .min: run(MinFunctor.self, lhs, rhs, output, plan, clamp)
        case .prelu: run(PReluFunctor.self, lhs, rhs, output, plan, clamp)
        }
    }

    private static func run<F: FloatBinaryFunctor>(_ f: F.Type, _ lhs: UnsafePointer<Float>, _ rhs: UnsafePointer<Float>,
                                                   _ out: UnsafeMutablePointer<Float>, _ plan: BroadcastPlan,
                                                   _ clamp: FloatClamp) {
        let c = LoopClamp(clamp)
        switch plan.kind {
        case .equal:
            loopEqual(f, lhs, rhs, out, plan.outputCount, c)
        case .scalarLhs:
            loopScalarLhs(f, lhs.pointee, rhs, out, plan.outputCount, c)
        case .scalarRhs:
            loopScalarRhs(f, lhs, rhs.pointee, out, plan.outputCount, c)
        case .channelRhs(let outer, let channels, let inner):
            for o in 0..<outer {
                let base = o * channels * inner
                if inner == 1 {
                    loopEqual(f, lhs + base, rhs, out + base, channels, c)
                } else {
                    for ch in 0..<channels {
                        let at = base + ch * inner
                        loopScalarRhs(f, lhs + at, rhs[ch], out + at, inner, c)
                    }
                }
            }
        case .channelLhs(let outer, let channels, let inner):
            for o in 0..<outer {
                let base = o * channels * inner
                if inner == 1 {
                    loopEqual(f, lhs, rhs + base, out + base, channels, c)
                } else {
                    for ch in 0..<channels {
                        let at = base + ch * inner
                        loopScalarLhs(f, lhs[ch], rhs + at, out + at, inner, c)
                    }
                }
            }
        case .general:
            let last = plan.rank - 1
            let inner = plan.dims[last]
            let ls = plan.lhsStrides[last], rs = plan.rhsStrides[last]
            forEachOuterRow(outerRank: last, dims: plan.dims, stridesA: plan.lhsStrides,
                            stridesB: plan.rhsStrides) { row, l, r in
                let o = out + row * inner
                switch (ls != 0, rs != 0) {
                case (true, true): loopEqual(f, lhs + l, rhs + r, o, inner, c)
                case (true, false): loopScalarRhs(f, lhs + l, rhs[r], o, inner, c)
                case (false, true): loopScalarLhs(f, lhs[l], rhs + r, o, inner, c)
                case (false, false):
                    // Only for an output dim > 1 where both operands are 1 (not a numpy broadcast,
                    // but well defined): one value repeated.
                    o.update(repeating: c(F.scalar(lhs[l], rhs[r])), count: inner)
                }
            }
        }
    }

    /// The fused clamp, pre-splatted; `active` is false for `.none` so the common path skips it.
    struct LoopClamp {
        let active: Bool
        let scalar: FloatClamp
        let lower: SIMD8<Float>
        let upper: SIMD8<Float>
        @inline(__always) init(_ c: FloatClamp) {
            active = c != .none
            scalar = c
            lower = SIMD8(repeating: c.lower)
            upper = SIMD8(repeating: c.upper)
        }
        @inline(__always) func callAsFunction(_ v: SIMD8<Float>) -> SIMD8<Float> {
            active ? ewClamp8(v, lower, upper) : v
        }
        @inline(__always) func callAsFunction(_ x: Float) -> Float {
            active ? scalar.apply(x) : x
        }
    }

    @inline(__always)
    private static func loopEqual<F: FloatBinaryFunctor>(_: F.Type, _ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>,
                                                         _ o: UnsafeMutablePointer<Float>, _ n: Int, _ c: LoopClamp) {
        var i = 0
        while i + 8 <= n {
            ewStore8(c(F.vector(ewLoad8(a + i), ewLoad8(b + i))), o + i)
            i += 8
        }
        while i < n { o[i] = c(F.scalar(a[i], b[i])); i += 1 }
    }

    @inline(__always)
    private static func loopScalarRhs<F: FloatBinaryFunctor>(_: F.Type, _ a: UnsafePointer<Float>, _ s: Float,
                                                             _ o: UnsafeMutablePointer<Float>, _ n: Int, _ c: LoopClamp) {
        let sv = SIMD8<Float>(repeating: s)
        var i = 0
        while i + 8 <= n {
            ewStore8(c(F.vector(ewLoad8(a + i), sv)), o + i)
            i += 8
        }
        while i < n { o[i] = c(F.scalar(a[i], s)); i += 1 }
    }

    @inline(__always)
    private static func loopScalarLhs<F: FloatBinaryFunctor>(_: F.Type, _ s: Float, _ b: UnsafePointer<Float>,
                                                             _ o: UnsafeMutablePointer<Float>, _ n: Int, _ c: LoopClamp) {
        let sv = SIMD8<Float>(repeating: s)
        var i = 0
        while i + 8 <= n {
            ewStore8(c(F.vector(sv, ewLoad8(b + i))), o + i)
            i += 8
        }
        while i < n { o[i] = c(F.scalar(s, b[i])); i += 1 }
    }
}
