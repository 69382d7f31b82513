import QuantKernels

/// ONNX MatMul (numpy matmul): batched over broadcast leading dims; a 1-D A is a row vector and
/// a 1-D B a column vector, their unit dim dropped from the result.
public struct MatMulOperator: Operator {
    public var clamp: FloatClamp
    public init(clamp: FloatClamp = .none) { self.clamp = clamp }
    public var kind: String { "MatMul" }

    /// Resolved batched geometry: per batch, element offsets into A, B and Y.
    struct Geometry {
        var m: Int, n: Int, k: Int
        var outputShape: [Int]
        var aOffsets: [Int], bOffsets: [Int]
    }

    static func geometry(_ a0: [Int], _ b0: [Int]) throws -> Geometry {
        guard !a0.isEmpty, !b0.isEmpty else { throw OperatorError("MatMul operands must have rank ≥ 1; got \(a0) and \(b0)") }
        let a = a0.count == 1 ? [1, a0[0]] : a0
        let b = b0.count == 1 ? [b0[0], 1] : b0
        let m = a[a.count - 2], k = a[a.count - 1], kb = b[b.count - 2], n = b[b.count - 1]
        guard k == kb else { throw OperatorError("inner dimensions differ: A is \(a0), B is \(b0)") }
        let aBatch = Array(a.dropLast(2)), bBatch = Array(b.dropLast(2))
        let batch = try broadcastShapes(aBatch, bBatch)
        let count = batch.reduce(1, *)
        var aOffsets = [Int](), bOffsets = [Int]()
        aOffsets.reserveCapacity(count)
        bOffsets.reserveCapacity(count)
        let aStrides = contiguousStrides(aBatch), bStrides = contiguousStrides(bBatch)
        for flat in 0..<count {
            var rest = flat, aIndex = 0, bIndex = 0
            for axis in stride(from: batch.count - 1, through: 0, by: -1) {
                let coordinate = rest % batch[axis]
                rest /= batch[axis]
                let aAxis = axis - (batch.count - aBatch.count), bAxis = axis - (batch.count - bBatch.count)
                if aAxis >= 0 && aBatch[aAxis] != 1 { aIndex += coordinate * aStrides[aAxis] }
                if bAxis >= 0 && bBatch[bAxis] != 1 { bIndex += coordinate * bStrides[bAxis] }
            }
            aOffsets.append(aIndex * m * k)
            bOffsets.append(bIndex * k * n)
        }
        var outputShape = batch
        if a0.count > 1 { outputShape.append(m) }
        if b0.count > 1 { outputShape.append(n) }
        return Geometry(m: m, n: n, k: k, outputShape: outputShape, aOffsets: aOffsets, bOffsets: bOffsets)
    }

    public func outputTypes(for inputs: [Operand?]) throws -> [TensorType] {
        let a = try requireFloat(inputs, 0, "A"), b = try requireFloat(inputs, 1, "B")
        return [TensorType(.float32, try Self.geometry(a.type.shape, b.type.shape).outputShape)]
    }

    public func scratchByteCount(inputs: [Operand?], outputs _: [TensorType]) -> Int {
        guard let a = inputs[0], let b = inputs[1], let g = try? Self.geometry(a.type.shape, b.type.shape) else { return 0 }
        return GemmFloat.scratchCount(m: g.m, n: g.n, k: g.k) * MemoryLayout<Float>.stride
    }

    public func makeStep(_ bd: StepBinding) throws -> Step {
        let g = try Self.geometry(bd.input(0).type.shape, bd.input(1).type.shape)
        let a = UnsafePointer(bd.input(0).floats()), b = UnsafePointer(bd.input(1).floats())
        let y = bd.outputs[0].floats(), scratch = bd.scratch.assumingMemoryBound(to: Float.self)
        let (m, n, k, clamp, aOffsets, bOffsets) = (g.m, g.n, g.k, clamp, g.aOffsets, g.bOffsets)
        return {
            for batch in 0..<aOffsets.count {
                GemmFloat.run(m: m, n: n, k: k, a: a + aOffsets[batch], aRowStride: k, aColStride: 1,
                              b: b + bOffsets[batch], bRowStride: n, bColStride: 1,
                              output: y + batch * m * n, alpha: 1, bias: nil, clamp: clamp, scratch: scratch)
            }
        }
    }
}
