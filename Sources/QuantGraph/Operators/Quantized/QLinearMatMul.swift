import QuantKernels

/// Integer matrix product with requantization: ONNX QLinearMatMul, com.microsoft QGemm, and the
/// DequantizeLinear → MatMul/Gemm → QuantizeLinear pattern of QDQ models fused into it.
/// Inputs (QGemm's order): a, a_scale, a_zero_point, b, b_scale, b_zero_point, bias (int32, optional),
/// y_scale, y_zero_point. `a` is [..., M, K] (leading dims fold into M); `b` is a constant [K, N]
/// ([N, K] when transB), quantized per tensor or per column.
public struct QLinearMatMulOperator: Operator {
    public var transB: Bool
    public var activation: FloatClamp
    public var name: String

    public init(transB: Bool = false, activation: FloatClamp = .none, name: String = "QLinearMatMul") {
        self.transB = transB
        self.activation = activation
        self.name = name
    }

    public var kind: String { name }
    public var counterCount: Int { 1 }

    struct Plan {
        var m: Int, n: Int, k: Int
        var outputShape: [Int]
        /// Batched b (rank > 2): per batch, element offsets into a and b; empty when b is 2-D.
        var aOffsets: [Int] = [], bOffsets: [Int] = []
        var a: QuantizationParameters, b: QuantizationParameters, y: QuantizationParameters
    }

    func plan(_ inputs: [Operand?]) throws -> Plan {
        let a = try requireInput(inputs, 0, "a").type, b = try requireInput(inputs, 3, "b").type
        guard a.dataType == .int8 || a.dataType == .uint8 else { throw OperatorError("a is \(a.dataType); expected int8 or uint8") }
        guard b.dataType == .int8 || b.dataType == .uint8 else { throw OperatorError("b is \(b.dataType); expected int8 or uint8") }
        guard a.rank >= 1, b.rank >= 2, !(transB && b.rank > 2) else {
            throw OperatorError("b has shape \(b.shape); expected a matrix (or a batch of matrices without transB)")
        }
        var batched: MatMulOperator.Geometry?
        if b.rank > 2 { batched = try MatMulOperator.geometry(a.shape, b.shape) }
        let k = a.shape.last!, (kb, n) = transB ? (b.shape[1], b.shape[0]) : (b.shape[b.rank - 2], b.shape[b.rank - 1])
        guard k == kb else { throw OperatorError("inner dimensions differ: a is \(a.shape), b is \(b.shape)\(transB ? " (transposed)" : "")") }
        let m = batched?.m ?? a.shape.dropLast().reduce(1, *)
        let ap = try QuantizationParameters.read(scale: inputs[1], zeroPoint: inputs[2], defaultType: a.dataType, axis: 1, rank: a.rank, what: "a")
        let bp = try QuantizationParameters.read(scale: inputs[4], zeroPoint: inputs[5], defaultType: b.dataType, axis: transB ? 0 : 1, rank: 2, what: "b")
        guard inputs.count > 7 else { throw OperatorError("y_scale is required (float output is not supported)") }
        let yp = try QuantizationParameters.read(scale: inputs[7], zeroPoint: inputs.count > 8 ? inputs[8] : nil, defaultType: a.dataType, axis: 1, rank: a.rank, what: "y")
        guard ap.isPerTensor, yp.isPerTensor else { throw OperatorError("a and y must be quantized per tensor") }
        guard bp.isPerTensor || bp.scales.count == n else { throw OperatorError("b has \(bp.scales.count) scales; expected 1 or \(n) (one per column)") }
        guard yp.dataType == .int8 || yp.dataType == .uint8 else { throw OperatorError("y is \(yp.dataType); expected int8 or uint8") }
        if let bias = inputs[6] {
            guard bias.type.dataType == .int32, bias.type.elementCount == n else {
                throw OperatorError("bias is \(bias.type); expected int32 with \(n) values")
            }
        }
        let outputShape = batched?.outputShape ?? (a.rank == 1 ? [n] : Array(a.shape.dropLast()) + [n])
        return Plan(m: m, n: n, k: k, outputShape: outputShape, aOffsets: batched?.aOffsets ?? [], bOffsets: batched?.bOffsets ?? [],
                    a: ap, b: bp, y: yp)
    }

    public func outputTypes(for inputs: [Operand?]) throws -> [TensorType] {
        let p = try plan(inputs)
        return [TensorType(p.y.dataType, p.outputShape)]
    }

    public func scratchByteCount(inputs: [Operand?], outputs _: [TensorType]) -> Int {
        guard let p = try? plan(inputs) else { return 0 }
        return GemmInt8.scratchByteCount(m: p.m, n: p.n, k: p.k)
    }

    public func makeStep(_ bd: StepBinding) throws -> Step {
        let p = try plan(bd.operands)
        guard let b = bd.input(3).constant else { throw OperatorError("b must be known at load time (it is packed when the model loads)") }
        let (m, n, k) = (p.m, p.n, p.k)
        // (a_scale · b_scale[j]) / y_scale, in Float and in this order.
        let multipliers = (0..<n).map { j in (p.a.scale * p.b.scales[p.b.isPerTensor ? 0 : j]) / p.y.scale }
        let zeros = (0..<n).map { j in p.b.zeroPoints[p.b.isPerTensor ? 0 : j] }
        // One packed matrix per distinct batch of b (just one when b is 2-D).
        let bBatches = p.bOffsets.isEmpty ? [0] : Array(Set(p.bOffsets)).sorted()
        var packs: [Int: GemmInt8.PackedB] = [:]
        for offset in bBatches {
            packs[offset] = b.dataType == .int8
                ? GemmInt8.PackedB(b: b.rawPointer.assumingMemoryBound(to: Int8.self) + offset, k: k, n: n, transposed: transB, zeroPoints: zeros)
                : GemmInt8.PackedB(b: b.rawPointer.assumingMemoryBound(to: UInt8.self) + offset, k: k, n: n, transposed: transB, zeroPoints: zeros)
        }
        let batches: [(a: Int, packed: GemmInt8.PackedB, y: Int)] = p.aOffsets.isEmpty
            ? [(0, packs[0]!, 0)]
            : zip(p.aOffsets, p.bOffsets).enumerated().map { (index, pair) in (pair.0, packs[pair.1]!, index * m * n) }
        let bias = bd.hasInput(6) ? UnsafePointer(bd.input(6).typed(Int32.self)) : nil
        let aZero = p.a.zeroPoint, counts = bd.counters, scratch = bd.scratch
        func step<A: QuantizedScalar, Y: QuantizedScalar>(_: A.Type, _: Y.Type) -> Step {
            var requantization = Requantization.make(Y.self, multipliers: multipliers, zeroPoint: p.y.zeroPoint,
                                                     outputScale: p.y.scale, activation: activation)
            if !bd.countsSaturation { requantization.countLow = false; requantization.countHigh = false }
            if !bd.countsLowSaturation { requantization.countLow = false }
            if !bd.countsHighSaturation { requantization.countHigh = false }
            let a = UnsafePointer(bd.input(0).typed(A.self)), y = bd.outputs[0].typed(Y.self)
            return {
                for i in batches.indices {  // index loop: no iterator allocation in debug builds
                    let batch = batches[i]
                    GemmInt8.run(m: m, n: n, k: k, a: a + batch.a, lda: k, aZero: aZero, packed: batch.packed, bias: bias,
                                 output: y + batch.y, ldc: n, requantization: requantization, counts: counts, scratch: scratch)
                }
            }
        }
        switch (p.a.dataType, p.y.dataType) {
        case (.uint8, .uint8): return step(UInt8.self, UInt8.self)
        case (.int8, .int8): return step(Int8.self, Int8.self)
        case (.uint8, _): return step(UInt8.self, Int8.self)
        default: return step(Int8.self, UInt8.self)
        }
    }
}

/// ONNX MatMulInteger: int32 output Σ (a − a_zero_point)(b − b_zero_point); b a constant 2-D matrix.
public struct MatMulIntegerOperator: Operator {
    public init() {}
    public var kind: String { "MatMulInteger" }

    func plan(_ inputs: [Operand?]) throws -> (m: Int, n: Int, k: Int, shape: [Int], aZero: Int32, bZeros: [Int32]) {
        let a = try requireInput(inputs, 0, "A").type, b = try requireInput(inputs, 1, "B").type
        guard a.dataType == .int8 || a.dataType == .uint8, b.dataType == .int8 || b.dataType == .uint8 else {
            throw OperatorError("A is \(a.dataType) and B is \(b.dataType); expected int8 or uint8")
        }
        guard a.rank >= 1, b.rank == 2 else { throw OperatorError("B has shape \(b.shape); only a 2-D B is supported") }
        let k = a.shape.last!, n = b.shape[1]
        guard b.shape[0] == k else { throw OperatorError("inner dimensions differ: A is \(a.shape), B is \(b.shape)") }
        var aZero: Int32 = 0
        if inputs.count > 2, let zero = inputs[2] {
            guard zero.type.elementCount == 1, zero.type.dataType == a.dataType else {
                throw OperatorError("a_zero_point is \(zero.type); expected a \(a.dataType) scalar (per-row zero points are not supported)")
            }
            // Known at load, or computed per run (DynamicQuantizeLinear): then read before each run.
            if let value = zero.constant?.integers() { aZero = Int32(value[0]) }
        }
        var bZeros = [Int32](repeating: 0, count: n)
        if let zeros = try constantIntegers(inputs, 3, "b_zero_point") {
            guard zeros.count == 1 || zeros.count == n else { throw OperatorError("b_zero_point has \(zeros.count) values; expected 1 or \(n)") }
            bZeros = (0..<n).map { Int32(zeros[zeros.count == 1 ? 0 : $0]) }
        }
        let shape = a.rank == 1 ? [n] : Array(a.shape.dropLast()) + [n]
        return (a.shape.dropLast().reduce(1, *), n, k, shape, aZero, bZeros)
    }

    public func outputTypes(for inputs: [Operand?]) throws -> [TensorType] {
        [TensorType(.int32, try plan(inputs).shape)]
    }

    public func scratchByteCount(inputs: [Operand?], outputs _: [TensorType]) -> Int {
        guard let p = try? plan(inputs) else { return 0 }
        return GemmInt8.scratchByteCount(m: p.m, n: p.n, k: p.k)
    }

    public func makeStep(_ bd: StepBinding) throws -> Step {
        let p = try plan(bd.operands)
        guard let b = bd.input(1).constant else { throw OperatorError("B must be known at load time (it is packed when the model loads)") }
        let packed: GemmInt8.PackedB = b.dataType == .int8
            ? GemmInt8.PackedB(b: b.rawPointer.assumingMemoryBound(to: Int8.self), k: p.k, n: p.n, transposed: false, zeroPoints: p.bZeros)
            : GemmInt8.PackedB(b: b.rawPointer.assumingMemoryBound(to: UInt8.self), k: p.k, n: p.n, transposed: false, zeroPoints: p.bZeros)
        let (m, n, k, aZero) = (p.m, p.n, p.k, p.aZero)
        let y = bd.outputs[0].typed(Int32.self), scratch = bd.scratch
        let runtimeZero = bd.hasInput(2) && bd.input(2).constant == nil ? bd.input(2).pointer : nil
        if bd.input(0).type.dataType == .int8 {
            let a = UnsafePointer(bd.input(0).typed(Int8.self))
            return {
                let zero = runtimeZero.map { Int32($0.load(as: Int8.self)) } ?? aZero
                GemmInt8.runInt32(m: m, n: n, k: k, a: a, lda: k, aZero: zero, packed: packed, output: y, ldc: n, scratch: scratch)
            }
        }
        let a = UnsafePointer(bd.input(0).typed(UInt8.self))
        return {
            let zero = runtimeZero.map { Int32($0.load(as: UInt8.self)) } ?? aZero
            GemmInt8.runInt32(m: m, n: n, k: k, a: a, lda: k, aZero: zero, packed: packed, output: y, ldc: n, scratch: scratch)
        }
    }
}
