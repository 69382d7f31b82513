import QuantKernels

/// What an operator knows about one of its inputs when the graph is planned.
public struct Operand: Sendable {
    public var type: TensorType
    /// The value, when it is known at load time (an initializer or a folded result).
    public var constant: Tensor?

    public init(type: TensorType, constant: Tensor? = nil) {
        self.type = type
        self.constant = constant
    }
}

/// A tensor bound to memory for one step: arena memory, or a constant's storage.
public struct BoundValue: @unchecked Sendable {
    public var type: TensorType
    public var pointer: UnsafeMutableRawPointer
    public var constant: Tensor?

    public init(type: TensorType, pointer: UnsafeMutableRawPointer, constant: Tensor? = nil) {
        self.type = type
        self.pointer = pointer
        self.constant = constant
    }

    public func floats() -> UnsafeMutablePointer<Float> { pointer.assumingMemoryBound(to: Float.self) }
    public func typed<T>(_: T.Type) -> UnsafeMutablePointer<T> { pointer.assumingMemoryBound(to: T.self) }
}

/// The memory one step reads and writes, fixed when the model is planned.
public struct StepBinding: @unchecked Sendable {
    public var inputs: [BoundValue?]
    public var outputs: [BoundValue]
    /// Scratch of at least `scratchByteCount` bytes, 64-byte aligned, valid only during the step.
    public var scratch: UnsafeMutableRawPointer
    /// `counterCount` saturation counters owned by this step (accumulated across runs).
    public var counters: UnsafeMutablePointer<SaturationCounts>
    /// The step's memory for its counting kernels across runs (`TwoPassCounting`), one Int32 per counter.
    public var countingState: UnsafeMutablePointer<Int32>?
    /// Which int8 convolution kernels the step may use (`CompileOptions.int8Acceleration`).
    public var int8Acceleration: Conv2DInt8.Int8Acceleration
    /// Whether the step counts saturation (`CompileOptions.saturationCounters`).
    public var countsSaturation: Bool
    /// False when the step's output ends in an activation floor / ceiling
    /// (`CompileOptions.activationBounds`): kernels that can skip that side do.
    public var countsLowSaturation: Bool, countsHighSaturation: Bool

    public init(inputs: [BoundValue?], outputs: [BoundValue], scratch: UnsafeMutableRawPointer,
                counters: UnsafeMutablePointer<SaturationCounts>, countingState: UnsafeMutablePointer<Int32>? = nil,
                int8Acceleration: Conv2DInt8.Int8Acceleration = .automatic, countsSaturation: Bool = true,
                countsLowSaturation: Bool = true, countsHighSaturation: Bool = true) {
        self.inputs = inputs
        self.outputs = outputs
        self.scratch = scratch
        self.counters = counters
        self.countingState = countingState
        self.int8Acceleration = int8Acceleration
        self.countsSaturation = countsSaturation
        self.countsLowSaturation = countsLowSaturation
        self.countsHighSaturation = countsHighSaturation
    }

    /// `counters` for kernels that take optional counts: nil when the step does not count.
    public var saturationCounters: UnsafeMutablePointer<SaturationCounts>? { countsSaturation ? counters : nil }

    /// Input `i`, which the operator's type check already required to be present.
    public func input(_ i: Int) -> BoundValue { inputs[i]! }
    public func hasInput(_ i: Int) -> Bool { i < inputs.count && inputs[i] != nil }
}

/// One planned computation: runs the kernels on memory bound at load time. Never allocates.
public typealias Step = () -> Void

/// A typed operation of the graph IR. ONNX attributes and opset semantics are resolved by the
/// importer into the operator's stored properties; the operator checks its inputs, infers its
/// outputs' types and builds the step that runs its kernel.
public protocol Operator: Sendable {
    /// A short name for messages, e.g. "Conv".
    var kind: String { get }
    /// Output types for these inputs (nil = an absent optional input). Throws OperatorError.
    func outputTypes(for inputs: [Operand?]) throws -> [TensorType]
    /// Outputs that are known from the input types alone (Shape), or nil.
    func outputsFromTypes(_ inputs: [Operand?]) -> [Tensor]?
    /// When non-nil, output 0 is input `viewOfInput`'s bytes seen with another shape (no copy).
    var viewOfInput: Int? { get }
    /// Scratch bytes the step needs.
    func scratchByteCount(inputs: [Operand?], outputs: [TensorType]) -> Int
    /// Whether the node may be evaluated at load when all its inputs are constants. DequantizeLinear
    /// says no until the QDQ fusion has looked at it (quantized weights stay quantized).
    var isFoldable: Bool { get }
    /// Saturation counters the step updates (one per quantized tensor it writes or checks).
    var counterCount: Int { get }
    /// Builds the step. Inputs whose values must be known at load time are in `binding.inputs[i].constant`.
    func makeStep(_ binding: StepBinding) throws -> Step
}

extension Operator {
    public func outputsFromTypes(_: [Operand?]) -> [Tensor]? { nil }
    public var viewOfInput: Int? { nil }
    public func scratchByteCount(inputs _: [Operand?], outputs _: [TensorType]) -> Int { 0 }
    public var isFoldable: Bool { true }
    public var counterCount: Int { 0 }
}

// MARK: - Helpers for operators

/// Requires input `i` to be present and returns it.
public func requireInput(_ inputs: [Operand?], _ i: Int, _ what: String) throws -> Operand {
    guard i < inputs.count, let operand = inputs[i] else {
        throw OperatorError("input \(i) (\(what)) is required")
    }
    return operand
}

/// Requires input `i` to be a float32 tensor.
public func requireFloat(_ inputs: [Operand?], _ i: Int, _ what: String) throws -> Operand {
    let operand = try requireInput(inputs, i, what)
    guard operand.type.dataType == .float32 else {
        throw OperatorError("input \(i) (\(what)) is \(operand.type.dataType); expected float32")
    }
    return operand
}

/// Requires input `i`, if present, to be known at load time, and returns its integer values.
public func constantIntegers(_ inputs: [Operand?], _ i: Int, _ what: String) throws -> [Int]? {
    guard i < inputs.count, let operand = inputs[i] else { return nil }
    guard let constant = operand.constant else {
        throw OperatorError("input \(i) (\(what)) must be known at load time (an initializer, a Constant, or computed from static shapes)")
    }
    guard let values = constant.integers() else {
        throw OperatorError("input \(i) (\(what)) is \(constant.dataType); expected an integer tensor")
    }
    return values
}

/// Normalises a possibly negative axis against a rank, or throws naming the allowed range.
public func normalizeAxis(_ axis: Int, rank: Int, _ what: String = "axis") throws -> Int {
    let resolved = axis < 0 ? axis + rank : axis
    guard resolved >= 0 && resolved < rank else {
        throw OperatorError("\(what) \(axis) is out of range for rank \(rank) (expected \(-rank)...\(rank - 1))")
    }
    return resolved
}

/// Product of dims, or throws when it overflows (a hostile shape must not trap).
public func checkedElementCount(_ shape: [Int], _ what: String) throws -> Int {
    var count = 1
    for d in shape {
        let (product, overflow) = count.multipliedReportingOverflow(by: d)
        guard !overflow else { throw OperatorError("\(what) \(shape) has more elements than can be counted") }
        count = product
    }
    return count
}

/// Numpy broadcasting of two shapes, or throws naming both.
public func broadcastShapes(_ a: [Int], _ b: [Int]) throws -> [Int] {
    let rank = max(a.count, b.count)
    var out = [Int](repeating: 1, count: rank)
    for i in 0..<rank {
        let da = i < rank - a.count ? 1 : a[i - (rank - a.count)]
        let db = i < rank - b.count ? 1 : b[i - (rank - b.count)]
        if da == db || db == 1 { out[i] = da } else if da == 1 { out[i] = db } else {
            throw OperatorError("shapes \(a) and \(b) cannot be broadcast together")
        }
    }
    return out
}

extension StepBinding {
    /// The inputs as operands (types and load-time values), to re-derive an operator's geometry.
    public var operands: [Operand?] { inputs.map { $0.map { Operand(type: $0.type, constant: $0.constant) } } }
}
