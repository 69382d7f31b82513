import QuantKernels

/// ONNX BatchNormalization in inference mode: y = (x − mean)·scale/√(var + ε) + bias per channel.
/// Usually folded into the Conv before it; otherwise run as a per-channel affine whose
/// coefficients are computed at load (constant parameters) or before each run.
public struct BatchNormalizationOperator: Operator {
    public var epsilon: Float
    public init(epsilon: Float) { self.epsilon = epsilon }
    public var kind: String { "BatchNormalization" }

    public func outputTypes(for inputs: [Operand?]) throws -> [TensorType] {
        let x = try requireFloat(inputs, 0, "X").type
        guard x.rank >= 2 else { throw OperatorError("input X has shape \(x.shape); expected rank ≥ 2 (N, C, …)") }
        for (i, what) in [(1, "scale"), (2, "B"), (3, "input_mean"), (4, "input_var")] {
            let p = try requireFloat(inputs, i, what).type
            guard p.shape == [x.shape[1]] else { throw OperatorError("\(what) is \(p); expected float32[\(x.shape[1])]") }
        }
        return [x]
    }

    /// Per-channel multiplier and offset: y = x·multiplier + offset.
    public static func affine(scale: UnsafePointer<Float>, bias: UnsafePointer<Float>, mean: UnsafePointer<Float>,
                              variance: UnsafePointer<Float>, epsilon: Float, channels: Int,
                              multiplier: UnsafeMutablePointer<Float>, offset: UnsafeMutablePointer<Float>) {
        for c in 0..<channels {
            let m = scale[c] / (variance[c] + epsilon).squareRoot()
            multiplier[c] = m
            offset[c] = bias[c] - mean[c] * m
        }
    }

    public func scratchByteCount(inputs: [Operand?], outputs _: [TensorType]) -> Int {
        2 * (inputs.first??.type.shape[1] ?? 0) * MemoryLayout<Float>.stride
    }

    public func makeStep(_ b: StepBinding) throws -> Step {
        let shape = b.input(0).type.shape
        let channels = shape[1], batch = shape[0], spatial = shape.dropFirst(2).reduce(1, *)
        let p = (1...4).map { UnsafePointer(b.input($0).floats()) }
        let multiplier = b.scratch.assumingMemoryBound(to: Float.self), offset = multiplier + channels
        let x = UnsafePointer(b.input(0).floats()), y = b.outputs[0].floats(), epsilon = epsilon
        return {
            Self.affine(scale: p[0], bias: p[1], mean: p[2], variance: p[3], epsilon: epsilon, channels: channels,
                        multiplier: multiplier, offset: offset)
            ChannelAffineFloat.run(input: x, output: y, scale: multiplier, shift: offset, batch: batch, channels: channels, spatial: spatial)
        }
    }
}
