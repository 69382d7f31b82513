// Turning a compiled int8 model's kernel counters into METRICS.md's per-frame saturation and
// input_out_of_range, without allocating.
import QuantGraph
import QuantKernels

/// Which counters of a `CompiledModel` mean what: the quantizers of graph inputs give
/// `input_out_of_range`; every other counter is one int8 tensor's saturation, whose low (high) side
/// is not counted when the tensor's low (high) end is a folded activation's floor (ceiling): that is
/// the activation, not saturation (see `ModelPairing.activationBounds`).
public struct SaturationReader: Sendable {
    /// The int8 tensors whose saturation is reported, in counter order, and the nodes writing them.
    public let tensors: [String], nodes: [String]
    let tensorCounters: [Int]
    let countsLow: [Bool], countsHigh: [Bool]
    let inputCounters: [Int]

    public init(model: CompiledModel, activationBounds: ActivationBounds) {
        var tensors: [String] = [], nodes: [String] = [], tensorCounters: [Int] = [], inputCounters: [Int] = []
        var countsLow: [Bool] = [], countsHigh: [Bool] = []
        for (i, info) in model.counters.enumerated() {
            if Self.isGraphInputQuantizer(model, info) {
                inputCounters.append(i)
            } else {
                tensors.append(info.tensor)
                nodes.append(info.node.name)
                tensorCounters.append(i)
                countsLow.append(!activationBounds.floors.contains(info.tensor))
                countsHigh.append(!activationBounds.ceilings.contains(info.tensor))
            }
        }
        self.tensors = tensors
        self.nodes = nodes
        self.tensorCounters = tensorCounters
        self.countsLow = countsLow
        self.countsHigh = countsHigh
        self.inputCounters = inputCounters
    }

    /// Whether counter `info` belongs to a quantizer reading a graph input directly.
    public static func isGraphInputQuantizer(_ model: CompiledModel, _ info: CompiledModel.CounterInfo) -> Bool {
        guard let p = model.graph.producer(of: info.tensor), let input = model.graph.nodes[p].inputs.first ?? nil else { return false }
        return model.graph.inputs.contains(input)
    }

    /// Whether the model quantizes a graph input itself (so `input_out_of_range` is measured).
    public var measuresInputRange: Bool { !inputCounters.isEmpty }

    /// Reads the counters accumulated since the model's last `resetCounters()` (one frame when the
    /// caller resets before each run). `perTensor` (count ≥ `tensors.count`) receives each tensor's
    /// counts with the folded floors' low and ceilings' high counts zeroed. No allocation (plain loops
    /// over buffers: array iteration and optional chaining allocated once per call in unoptimised builds).
    public func read(_ model: CompiledModel, perTensor: UnsafeMutableBufferPointer<SaturationCounts>) -> FrameSaturation {
        var result = FrameSaturation()
        tensorCounters.withUnsafeBufferPointer { counters in
            countsLow.withUnsafeBufferPointer { low in
                countsHigh.withUnsafeBufferPointer { high in
                    var j = 0
                    while j < counters.count {
                        var c = model.saturationCounts(counters[j])
                        if !low[j] { c.low = 0 }
                        if !high[j] { c.high = 0 }
                        if j < perTensor.count { perTensor[j] = c }
                        let fraction = c.total > 0 ? Double(c.high + c.low) / Double(c.total) : 0
                        if fraction > result.max {
                            result.max = fraction
                            result.maxTensor = j
                        }
                        j += 1
                    }
                }
            }
        }
        if !inputCounters.isEmpty {
            var outside = 0, total = 0
            inputCounters.withUnsafeBufferPointer { counters in
                var i = 0
                while i < counters.count {
                    let c = model.saturationCounts(counters[i])
                    outside += c.high + c.low
                    total += c.total
                    i += 1
                }
            }
            result.inputOutOfRange = total > 0 ? Double(outside) / Double(total) : 0
        }
        return result
    }

    /// `read` without the per-tensor counts (allocates a buffer: for tools, not the per-frame path).
    public func read(_ model: CompiledModel) -> FrameSaturation {
        var counts = [SaturationCounts](repeating: SaturationCounts(), count: tensors.count)
        return counts.withUnsafeMutableBufferPointer { read(model, perTensor: $0) }
    }
}

/// One frame's saturation summary.
public struct FrameSaturation: Sendable, Equatable {
    /// The largest saturation fraction (high + low) over the int8 tensors; 0 when none saturated.
    public var max = 0.0
    /// Index (into `SaturationReader.tensors`) of the tensor with that fraction; −1 when none.
    public var maxTensor = -1
    /// `input_out_of_range`; nil when the model does not quantize its input itself.
    public var inputOutOfRange: Double?

    public init() {}
}
