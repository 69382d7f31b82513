import QuantKernels

/// How ONNX `auto_pad` chooses padding.
public enum AutoPad: String, Sendable {
    case notSet = "NOTSET", valid = "VALID", sameUpper = "SAME_UPPER", sameLower = "SAME_LOWER"
}

/// Spatial window geometry shared by Conv and the pools: kernel, strides, dilations, pads.
/// 1-D windows are run as 2-D with height 1.
public struct WindowAttributes: Sendable, Equatable {
    public var kernelShape: [Int]?
    public var strides: [Int]?
    public var dilations: [Int]?
    /// ONNX layout: [x1_begin, x2_begin, …, x1_end, x2_end, …].
    public var pads: [Int]?
    public var autoPad: AutoPad
    public var ceilMode: Bool

    public init(kernelShape: [Int]? = nil, strides: [Int]? = nil, dilations: [Int]? = nil, pads: [Int]? = nil,
                autoPad: AutoPad = .notSet, ceilMode: Bool = false) {
        self.kernelShape = kernelShape
        self.strides = strides
        self.dilations = dilations
        self.pads = pads
        self.autoPad = autoPad
        self.ceilMode = ceilMode
    }

    /// Resolved geometry for spatial input dims `spatial` and kernel `kernel`.
    public struct Resolved: Sendable {
        public var kernel: [Int], strides: [Int], dilations: [Int], padBegin: [Int], padEnd: [Int], output: [Int]
    }

    public func resolve(spatial: [Int], kernel: [Int]) throws -> Resolved {
        let n = spatial.count
        let strides = self.strides ?? [Int](repeating: 1, count: n)
        let dilations = self.dilations ?? [Int](repeating: 1, count: n)
        guard strides.count == n, dilations.count == n, kernel.count == n else {
            throw OperatorError("strides \(strides), dilations \(dilations) and kernel \(kernel) must each have \(n) values for \(n) spatial dims")
        }
        guard strides.allSatisfy({ $0 > 0 }), dilations.allSatisfy({ $0 > 0 }), kernel.allSatisfy({ $0 > 0 }) else {
            throw OperatorError("strides \(strides), dilations \(dilations) and kernel \(kernel) must be positive")
        }
        var padBegin = [Int](repeating: 0, count: n), padEnd = padBegin, output = padBegin
        for i in 0..<n {
            let effective = (kernel[i] - 1) * dilations[i] + 1
            switch autoPad {
            case .notSet:
                if let pads {
                    guard pads.count == 2 * n else { throw OperatorError("pads \(pads) must have \(2 * n) values") }
                    guard pads.allSatisfy({ $0 >= 0 }) else { throw OperatorError("pads \(pads) must not be negative") }
                    padBegin[i] = pads[i]
                    padEnd[i] = pads[i + n]
                }
                let span = spatial[i] + padBegin[i] + padEnd[i] - effective
                guard span >= 0 else {
                    throw OperatorError("window \(effective) is larger than padded input \(spatial[i] + padBegin[i] + padEnd[i]) in spatial dim \(i)")
                }
                if ceilMode {
                    var out = (span + strides[i] - 1) / strides[i] + 1
                    // The last window must start inside the input or the begin padding.
                    if (out - 1) * strides[i] >= spatial[i] + padBegin[i] { out -= 1 }
                    output[i] = out
                } else {
                    output[i] = span / strides[i] + 1
                }
            case .valid:
                output[i] = (spatial[i] - effective) / strides[i] + 1
                guard output[i] > 0 else { throw OperatorError("window \(effective) is larger than input \(spatial[i]) in spatial dim \(i)") }
            case .sameUpper, .sameLower:
                output[i] = (spatial[i] + strides[i] - 1) / strides[i]
                let total = max(0, (output[i] - 1) * strides[i] + effective - spatial[i])
                let small = total / 2
                padBegin[i] = autoPad == .sameUpper ? small : total - small
                padEnd[i] = total - padBegin[i]
            }
        }
        return Resolved(kernel: kernel, strides: strides, dilations: dilations, padBegin: padBegin, padEnd: padEnd, output: output)
    }
}

/// Float convolution, NCHW (ONNX Conv), with groups, pads, strides, dilations, optional bias and
/// a fused output clamp (Relu / Clip folded in by `fuseActivations`).
public struct ConvOperator: Operator {
    public var window: WindowAttributes
    public var groups: Int
    public var clamp: FloatClamp

    public init(window: WindowAttributes, groups: Int = 1, clamp: FloatClamp = .none) {
        self.window = window
        self.groups = groups
        self.clamp = clamp
    }

    public var kind: String { "Conv" }

    func geometry(_ inputs: [Operand?]) throws -> Conv2DGeometry {
        let x = try requireFloat(inputs, 0, "X").type.shape
        let w = try requireFloat(inputs, 1, "W").type.shape
        if inputs.count > 2, let b = inputs[2], b.type.dataType != .float32 || b.type.shape != [w.count > 0 ? w[0] : 0] {
            throw OperatorError("bias B is \(b.type); expected float32[\(w.count > 0 ? w[0] : 0)]")
        }
        return try Self.geometry(x: x, w: w, window: window, groups: groups)
    }

    /// Geometry of a 1-D or 2-D convolution of input shape `x` with weights `w` (any element type).
    public static func geometry(x: [Int], w: [Int], window: WindowAttributes, groups: Int) throws -> Conv2DGeometry {
        guard x.count == 3 || x.count == 4 else {
            throw OperatorError("input X has shape \(x); only 1-D and 2-D convolutions (rank 3 or 4) are supported")
        }
        guard w.count == x.count else { throw OperatorError("weights W have shape \(w); expected rank \(x.count)") }
        guard groups > 0, x[1] % groups == 0, w[0] % groups == 0 else {
            throw OperatorError("group \(groups) must divide input channels \(x[1]) and output channels \(w[0])")
        }
        guard w[1] * groups == x[1] else {
            throw OperatorError("weights W \(w) expect \(w[1] * groups) input channels with group \(groups); input X has \(x[1])")
        }
        if let k = window.kernelShape, k != Array(w.dropFirst(2)) {
            throw OperatorError("kernel_shape \(k) does not match weights \(w)")
        }
        let spatial = Array(x.dropFirst(2)), kernel = Array(w.dropFirst(2))
        let r = try window.resolve(spatial: spatial, kernel: kernel)
        let twoD = x.count == 4
        return Conv2DGeometry(
            batch: x[0], inChannels: x[1], inHeight: twoD ? x[2] : 1, inWidth: twoD ? x[3] : x[2],
            outChannels: w[0], outHeight: twoD ? r.output[0] : 1, outWidth: twoD ? r.output[1] : r.output[0],
            kernelHeight: twoD ? kernel[0] : 1, kernelWidth: twoD ? kernel[1] : kernel[0],
            strideHeight: twoD ? r.strides[0] : 1, strideWidth: twoD ? r.strides[1] : r.strides[0],
            dilationHeight: twoD ? r.dilations[0] : 1, dilationWidth: twoD ? r.dilations[1] : r.dilations[0],
            padTop: twoD ? r.padBegin[0] : 0, padLeft: twoD ? r.padBegin[1] : r.padBegin[0], groups: groups)
    }

    /// NCHW (rank 4) or NCW (rank 3) output shape of a geometry.
    public static func outputShape(_ g: Conv2DGeometry, rank: Int) -> [Int] {
        rank == 4 ? [g.batch, g.outChannels, g.outHeight, g.outWidth] : [g.batch, g.outChannels, g.outWidth]
    }

    public func outputTypes(for inputs: [Operand?]) throws -> [TensorType] {
        [TensorType(.float32, Self.outputShape(try geometry(inputs), rank: inputs[0]!.type.rank))]
    }

    public func scratchByteCount(inputs: [Operand?], outputs _: [TensorType]) -> Int {
        guard let g = try? geometry(inputs) else { return 0 }
        return Conv2DFloat.scratchCount(geometry: g) * MemoryLayout<Float>.stride
    }

    public func makeStep(_ b: StepBinding) throws -> Step {
        let g = try geometry(b.operands)
        let x = UnsafePointer(b.input(0).floats()), w = UnsafePointer(b.input(1).floats())
        let bias = b.hasInput(2) ? UnsafePointer(b.input(2).floats()) : nil
        let y = b.outputs[0].floats(), scratch = b.scratch.assumingMemoryBound(to: Float.self), clamp = clamp
        return { Conv2DFloat.run(input: x, weights: w, bias: bias, output: y, geometry: g, clamp: clamp, scratch: scratch) }
    }
}
