import QuantKernels

/// MaxPool and AveragePool over 1-D or 2-D windows (NCHW), with pads, auto_pad, strides,
/// dilations, ceil_mode and AveragePool's count_include_pad.
public struct PoolOperator: Operator {
    public enum Kind: Sendable, Equatable { case max, average(countIncludePad: Bool) }
    public var pool: Kind
    public var window: WindowAttributes

    public init(_ pool: Kind, window: WindowAttributes) {
        self.pool = pool
        self.window = window
    }

    public var kind: String { pool == .max ? "MaxPool" : "AveragePool" }

    func geometry(_ inputs: [Operand?]) throws -> Pool2DGeometry {
        let input = try requireInput(inputs, 0, "X").type
        // MaxPool also runs on quantized 8-bit data (no arithmetic: scale and zero point pass through).
        guard input.dataType == .float32 || (pool == .max && (input.dataType == .int8 || input.dataType == .uint8)) else {
            throw OperatorError("input 0 (X) is \(input.dataType); expected float32\(pool == .max ? " (or int8/uint8)" : "")")
        }
        let x = input.shape
        guard x.count == 3 || x.count == 4 else {
            throw OperatorError("input X has shape \(x); only 1-D and 2-D pooling (rank 3 or 4) is supported")
        }
        guard let kernel = window.kernelShape, kernel.count == x.count - 2 else {
            throw OperatorError("kernel_shape \(window.kernelShape.map { "\($0)" } ?? "(missing)") must have \(x.count - 2) values")
        }
        let r = try window.resolve(spatial: Array(x.dropFirst(2)), kernel: kernel)
        let twoD = x.count == 4
        func pick(_ v: [Int], _ oneD: Int) -> (Int, Int) { twoD ? (v[0], v[1]) : (oneD, v[0]) }
        let (inH, inW) = pick(Array(x.dropFirst(2)), 1), (outH, outW) = pick(r.output, 1)
        let (kH, kW) = pick(r.kernel, 1), (sH, sW) = pick(r.strides, 1), (dH, dW) = pick(r.dilations, 1)
        let (pT, pL) = pick(r.padBegin, 0), (pB, pR) = pick(r.padEnd, 0)
        return Pool2DGeometry(batch: x[0], channels: x[1], inHeight: inH, inWidth: inW, outHeight: outH, outWidth: outW,
                              kernelHeight: kH, kernelWidth: kW, strideHeight: sH, strideWidth: sW,
                              dilationHeight: dH, dilationWidth: dW, padTop: pT, padLeft: pL, padBottom: pB, padRight: pR)
    }

    public func outputTypes(for inputs: [Operand?]) throws -> [TensorType] {
        let g = try geometry(inputs)
        let twoD = inputs[0]!.type.rank == 4
        return [TensorType(inputs[0]!.type.dataType, twoD ? [g.batch, g.channels, g.outHeight, g.outWidth] : [g.batch, g.channels, g.outWidth])]
    }

    public func makeStep(_ b: StepBinding) throws -> Step {
        let g = try geometry(b.operands)
        switch b.input(0).type.dataType {
        case .int8:
            let x = UnsafePointer(b.input(0).typed(Int8.self)), y = b.outputs[0].typed(Int8.self)
            return { PoolInt8.max(input: x, output: y, geometry: g) }
        case .uint8:
            let x = UnsafePointer(b.input(0).typed(UInt8.self)), y = b.outputs[0].typed(UInt8.self)
            return { PoolInt8.max(input: x, output: y, geometry: g) }
        default: break
        }
        let x = UnsafePointer(b.input(0).floats()), y = b.outputs[0].floats()
        switch pool {
        case .max: return { Pool2DFloat.max(input: x, output: y, geometry: g) }
        case let .average(countIncludePad):
            return { Pool2DFloat.average(input: x, output: y, geometry: g, countIncludePad: countIncludePad) }
        }
    }
}

/// GlobalAveragePool and GlobalMaxPool: one value per (batch, channel) over all spatial dims.
public struct GlobalPoolOperator: Operator {
    public var isMax: Bool
    public init(isMax: Bool) { self.isMax = isMax }
    public var kind: String { isMax ? "GlobalMaxPool" : "GlobalAveragePool" }

    public func outputTypes(for inputs: [Operand?]) throws -> [TensorType] {
        let x = try requireFloat(inputs, 0, "X").type.shape
        guard x.count >= 3 else { throw OperatorError("input X has shape \(x); expected rank ≥ 3 (N, C, spatial…)") }
        return [TensorType(.float32, [x[0], x[1]] + [Int](repeating: 1, count: x.count - 2))]
    }

    public func makeStep(_ b: StepBinding) throws -> Step {
        let shape = b.input(0).type.shape
        let planes = shape[0] * shape[1], spatial = shape.dropFirst(2).reduce(1, *)
        let x = UnsafePointer(b.input(0).floats()), y = b.outputs[0].floats()
        if isMax { return { Pool2DFloat.globalMax(input: x, output: y, planes: planes, spatial: spatial) } }
        return { Pool2DFloat.globalAverage(input: x, output: y, planes: planes, spatial: spatial) }
    }
}
