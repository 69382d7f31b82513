import QuantKernels

/// The quantization of one tensor, read from load-time constants: real = scale·(q − zeroPoint),
/// per tensor (one scale) or per channel along `axis`. The rounding and requantization rule is
/// written once, in QuantKernels/Requantize.swift.
public struct QuantizationParameters: Sendable, Equatable, CustomStringConvertible {
    public var scales: [Float]
    public var zeroPoints: [Int32]
    /// The quantized element type (int8, uint8, int16, uint16, or int32 for biases).
    public var dataType: DataType
    /// Normalised axis for per-channel parameters; nil when per tensor.
    public var axis: Int?
    /// Blocked quantization (opset 21): one scale per element, expanded from the per-block scales at load.
    public var isElementwise = false

    public init(scales: [Float], zeroPoints: [Int32], dataType: DataType, axis: Int?) {
        self.scales = scales
        self.zeroPoints = zeroPoints
        self.dataType = dataType
        self.axis = axis
    }

    public var isPerTensor: Bool { scales.count == 1 && !isElementwise }
    public var scale: Float { scales[0] }
    public var zeroPoint: Int32 { zeroPoints[0] }

    /// The representable range of the element type.
    public var qmin: Int32 { Self.range(dataType).lowerBound }
    public var qmax: Int32 { Self.range(dataType).upperBound }

    public static func range(_ type: DataType) -> ClosedRange<Int32> {
        switch type {
        case .int8: -128...127
        case .uint8: 0...255
        case .int16: -32768...32767
        case .uint16: 0...65535
        default: Int32.min...Int32.max
        }
    }

    /// Parameters from a scale and an optional zero-point operand (both must be known at load).
    /// `axis` is the operator's axis attribute; `rank` the quantized tensor's rank.
    public static func read(scale: Operand?, zeroPoint: Operand?, defaultType: DataType, axis: Int, rank: Int, what: String,
                            blocked: (blockSize: Int, shape: [Int])? = nil) throws -> QuantizationParameters {
        guard let scale else { throw OperatorError("\(what) scale is required") }
        guard let scaleValue = scale.constant else {
            throw OperatorError("\(what) scale must be known at load time (an initializer or Constant): QuantWatch plans requantization when the model loads")
        }
        guard scaleValue.dataType == .float32 || scaleValue.dataType == .float16 else {
            throw OperatorError("\(what) scale is \(scaleValue.dataType); expected float32 (or float16)")
        }
        var scales = scaleValue.floatValues() ?? []
        if let blocked, blocked.blockSize > 0 {
            return try readBlocked(scaleValue, scales, zeroPoint: zeroPoint, defaultType: defaultType, axis: axis, blocked: blocked, what: what)
        }
        guard scaleValue.type.rank <= 1, !scales.isEmpty else {
            throw OperatorError("\(what) scale has shape \(scaleValue.shape); expected a scalar or a 1-D per-channel vector (blocked quantization is not supported)")
        }
        guard scales.allSatisfy({ $0.isFinite && $0 > 0 }) else {
            throw OperatorError("\(what) scale \(scales.prefix(4)) must be finite and positive")
        }
        var dataType = defaultType
        var zeros = [Int32](repeating: 0, count: scales.count)
        if let zeroPoint {
            guard let zeroValue = zeroPoint.constant else {
                throw OperatorError("\(what) zero point must be known at load time (an initializer or Constant)")
            }
            guard [.int8, .uint8, .int16, .uint16, .int32].contains(zeroValue.dataType), let values = zeroValue.integers() else {
                throw OperatorError("\(what) zero point is \(zeroValue.dataType); supported: int8, uint8, int16, uint16 (int32 for biases)")
            }
            guard values.count == scales.count else {
                throw OperatorError("\(what) zero point has \(values.count) values but scale has \(scales.count)")
            }
            dataType = zeroValue.dataType
            zeros = values.map { Int32($0) }
        }
        var resolvedAxis: Int?
        if scales.count > 1 {
            resolvedAxis = try normalizeAxis(axis, rank: rank, "axis")
        }
        return QuantizationParameters(scales: scales, zeroPoints: zeros, dataType: dataType, axis: resolvedAxis)
    }

    /// Blocked quantization: scales (and zero points) of x's shape but for `axis`, which has
    /// ceil(dim / blockSize) entries; expanded to one scale per element of x.
    static func readBlocked(_ scaleValue: Tensor, _ blockScales: [Float], zeroPoint: Operand?, defaultType: DataType, axis: Int,
                            blocked: (blockSize: Int, shape: [Int]), what: String) throws -> QuantizationParameters {
        let shape = blocked.shape, b = blocked.blockSize
        let a = try normalizeAxis(axis, rank: shape.count, "axis")
        var expected = shape
        expected[a] = (shape[a] + b - 1) / b
        guard scaleValue.shape == expected else {
            throw OperatorError("\(what) scale has shape \(scaleValue.shape); blocked quantization with block_size \(b) on axis \(a) of \(shape) expects \(expected)")
        }
        guard blockScales.allSatisfy({ $0.isFinite && $0 > 0 }) else { throw OperatorError("\(what) scales must be finite and positive") }
        var dataType = defaultType
        var blockZeros = [Int](repeating: 0, count: blockScales.count)
        if let zeroPoint {
            guard let z = zeroPoint.constant, let values = z.integers(), values.count == blockScales.count else {
                throw OperatorError("\(what) zero point must be a load-time constant of shape \(expected)")
            }
            dataType = z.dataType
            blockZeros = values
        }
        let outer = shape.prefix(a).reduce(1, *), dim = shape[a], inner = shape.dropFirst(a + 1).reduce(1, *)
        let blocks = expected[a]
        var scales = [Float](repeating: 0, count: outer * dim * inner), zeros = [Int32](repeating: 0, count: scales.count)
        for o in 0..<outer {
            for d in 0..<dim {
                for i in 0..<inner {
                    let source = (o * blocks + d / b) * inner + i
                    scales[(o * dim + d) * inner + i] = blockScales[source]
                    zeros[(o * dim + d) * inner + i] = Int32(blockZeros[source])
                }
            }
        }
        var p = QuantizationParameters(scales: scales, zeroPoints: zeros, dataType: dataType, axis: nil)
        p.isElementwise = true
        return p
    }

    /// Viewing a tensor of `shape` as [outer, channels, inner] for these parameters.
    public func layout(_ shape: [Int]) throws -> (outer: Int, channels: Int, inner: Int) {
        if isElementwise { return (1, scales.count, 1) }
        guard let axis else { return (1, 1, shape.reduce(1, *)) }
        guard axis < shape.count, shape[axis] == scales.count else {
            throw OperatorError("per-channel scale has \(scales.count) values but axis \(axis) of shape \(shape) has \(axis < shape.count ? shape[axis] : 0)")
        }
        return (shape.prefix(axis).reduce(1, *), scales.count, shape.dropFirst(axis + 1).reduce(1, *))
    }

    public var description: String {
        isPerTensor ? "\(dataType) scale \(scale) zero point \(zeroPoint)"
            : "\(dataType) per-channel (axis \(axis ?? -1), \(scales.count) channels)"
    }
}

/// Storage of zero points as Int32 for the kernels, made at load.
final class Int32Buffer: @unchecked Sendable {
    let pointer: UnsafeMutablePointer<Int32>
    let count: Int
    init(_ values: [Int32]) {
        count = values.count
        pointer = .allocate(capacity: max(values.count, 1))
        pointer.initialize(from: values, count: values.count)
    }
    deinit { pointer.deallocate() }
}

final class FloatBuffer: @unchecked Sendable {
    let pointer: UnsafeMutablePointer<Float>
    let count: Int
    init(_ values: [Float]) {
        count = values.count
        pointer = .allocate(capacity: max(values.count, 1))
        pointer.initialize(from: values, count: values.count)
    }
    deinit { pointer.deallocate() }
}
