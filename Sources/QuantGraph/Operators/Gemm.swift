import QuantKernels

/// ONNX Gemm: Y = alpha·A'·B' + beta·C, A' = transA ? Aᵀ : A, B' likewise; C broadcasts to [M, N].
/// A per-column bias (C of shape [N] or [1, N]) is fused into the GEMM epilogue with the clamp.
public struct GemmOperator: Operator {
    public var alpha: Float
    public var beta: Float
    public var transA: Bool
    public var transB: Bool
    public var clamp: FloatClamp

    public init(alpha: Float = 1, beta: Float = 1, transA: Bool = false, transB: Bool = false, clamp: FloatClamp = .none) {
        self.alpha = alpha
        self.beta = beta
        self.transA = transA
        self.transB = transB
        self.clamp = clamp
    }

    public var kind: String { "Gemm" }

    struct Geometry { var m: Int, n: Int, k: Int, cShape: [Int]? }

    func geometry(_ inputs: [Operand?]) throws -> Geometry {
        let a = try requireFloat(inputs, 0, "A").type.shape
        let b = try requireFloat(inputs, 1, "B").type.shape
        guard a.count == 2, b.count == 2 else { throw OperatorError("A \(a) and B \(b) must both be 2-D") }
        let (m, ka) = transA ? (a[1], a[0]) : (a[0], a[1])
        let (kb, n) = transB ? (b[1], b[0]) : (b[0], b[1])
        guard ka == kb else { throw OperatorError("inner dimensions differ: A' is [\(m), \(ka)], B' is [\(kb), \(n)]") }
        var cShape: [Int]?
        if inputs.count > 2, let c = inputs[2] {
            guard c.type.dataType == .float32 else { throw OperatorError("C is \(c.type.dataType); expected float32") }
            let target = try broadcastShapes([m, n], c.type.shape)
            guard target == [m, n] else { throw OperatorError("C \(c.type.shape) does not broadcast to [\(m), \(n)]") }
            cShape = c.type.shape
        }
        return Geometry(m: m, n: n, k: ka, cShape: cShape)
    }

    /// C acts as a per-column bias when it is [N] or [1, N] (or a scalar).
    func isColumnBias(_ g: Geometry) -> Bool {
        guard let c = g.cShape else { return false }
        let count = c.reduce(1, *)
        return count == 1 || (count == g.n && (c.count == 1 || (c.count == 2 && c[0] == 1)))
    }

    public func outputTypes(for inputs: [Operand?]) throws -> [TensorType] {
        let g = try geometry(inputs)
        return [TensorType(.float32, [g.m, g.n])]
    }

    public func scratchByteCount(inputs: [Operand?], outputs _: [TensorType]) -> Int {
        guard let g = try? geometry(inputs) else { return 0 }
        // GEMM packing, then a beta-scaled per-column bias [N], or beta·C materialised [M, N].
        return (GemmFloat.scratchCount(m: g.m, n: g.n, k: g.k) + g.m * g.n + 16) * MemoryLayout<Float>.stride
    }

    public func makeStep(_ bd: StepBinding) throws -> Step {
        let g = try geometry(bd.operands)
        let a = UnsafePointer(bd.input(0).floats()), b = UnsafePointer(bd.input(1).floats())
        let y = bd.outputs[0].floats()
        let (m, n, k, alpha, beta, clamp) = (g.m, g.n, g.k, alpha, beta, clamp)
        let aRow = transA ? 1 : k, aCol = transA ? m : 1
        let bRow = transB ? 1 : n, bCol = transB ? k : 1
        let gemmScratch = bd.scratch.assumingMemoryBound(to: Float.self)
        let extra = gemmScratch + GemmFloat.scratchCount(m: m, n: n, k: k)
        guard let cShape = g.cShape, beta != 0 else {
            return { GemmFloat.run(m: m, n: n, k: k, a: a, aRowStride: aRow, aColStride: aCol, b: b, bRowStride: bRow, bColStride: bCol,
                                   output: y, alpha: alpha, bias: nil, clamp: clamp, scratch: gemmScratch) }
        }
        let c = UnsafePointer(bd.input(2).floats())
        let count = cShape.reduce(1, *)
        if isColumnBias(g) {
            // bias[j] = beta·C[j]; a scalar C is repeated over N. Computed once at load when C is a constant.
            if let constant = bd.input(2).constant?.scalars(as: Float.self) {
                let bias = FloatBuffer((0..<n).map { beta * constant[count == 1 ? 0 : $0] })
                return {
                    GemmFloat.run(m: m, n: n, k: k, a: a, aRowStride: aRow, aColStride: aCol, b: b, bRowStride: bRow, bColStride: bCol,
                                  output: y, alpha: alpha, bias: bias.pointer, clamp: clamp, scratch: gemmScratch)
                }
            }
            return {
                for j in 0..<n { extra[j] = beta * c[count == 1 ? 0 : j] }
                GemmFloat.run(m: m, n: n, k: k, a: a, aRowStride: aRow, aColStride: aCol, b: b, bRowStride: bRow, bColStride: bCol,
                              output: y, alpha: alpha, bias: extra, clamp: clamp, scratch: gemmScratch)
            }
        }
        // General C: Y = alpha·A'B', then Y += beta·C broadcast, then the clamp.
        let plan = BroadcastPlan(output: [m, n], lhs: [m, n], rhs: cShape)
        return {
            GemmFloat.run(m: m, n: n, k: k, a: a, aRowStride: aRow, aColStride: aCol, b: b, bRowStride: bRow, bColStride: bCol,
                          output: y, alpha: alpha, bias: nil, clamp: .none, scratch: gemmScratch)
            for i in 0..<count { extra[i] = beta * c[i] }
            BinaryFloat.run(.add, lhs: y, rhs: extra, output: y, plan: plan, clamp: clamp)
        }
    }
}
