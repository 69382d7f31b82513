import QuantKernels

/// Options for turning a graph into a runnable model.
public struct CompileOptions: Sendable {
    /// Fuse the DequantizeLinear → op → QuantizeLinear patterns of QDQ models into integer
    /// operators (false runs them as written: dequantize, float op, quantize).
    public var fuseQuantization = true
    /// Fold BatchNormalization into the Conv before it.
    public var foldBatchNormalization = true
    /// Fuse Relu / Clip into the epilogue of the Conv, Gemm or Add before it.
    public var fuseActivations = true
    /// Tensors (by name) kept readable after a run, for taps and layer comparison.
    public var keep: Set<String> = []
    /// Which int8 convolution kernels may run: `.automatic` takes the VNNI kernels on x86-64 CPUs
    /// that have them (bit-identical to the portable ones); `.portable` forces the portable Swift
    /// kernels (tests compare the two on whole models).
    public var int8Acceleration: Conv2DInt8.Int8Acceleration = .automatic
    /// Whether the int8 kernels count saturation and input_out_of_range (METRICS.md). Off only to
    /// measure what the counters cost (`quantwatch bench --no-counters`): the counters then stay 0.
    public var saturationCounters = true
    /// Quantized tensors whose range ends are a folded Relu / Clip's own bounds, not saturation
    /// (`ModelPairing.activationBounds` finds them against the float reference). The convolution and
    /// matrix-multiply kernels writing them skip counting that side (its count stays 0; readers
    /// ignore it for these tensors anyway).
    public var activationBounds = ActivationBounds()

    public init() {}
}

/// The int8 tensors whose low or high end is an activation the quantizer folded into their range:
/// onnxruntime drops a Relu / Clip after a quantized op and gives its output the activation's range,
/// so only the float reference still shows the activation. As for an activation fused here
/// (`Requantization.make`, the rule in Requantize.swift), values beyond such a bound are the
/// activation's own clamp, which the float model applies too, not saturation (METRICS.md).
public struct ActivationBounds: Sendable, Equatable {
    /// Tensors whose values below qmin are a folded Relu / Clip floor.
    public var floors: Set<String>
    /// Tensors whose values above qmax are a folded Clip's ceiling: it maps to qmax or below, so
    /// everything the int8 tensor clamps at qmax the float model clips too.
    public var ceilings: Set<String>

    public init(floors: Set<String> = [], ceilings: Set<String> = []) {
        self.floors = floors
        self.ceilings = ceilings
    }
}

extension Graph {
    /// Validates, orders, infers types, folds constants and shape computations, applies the
    /// fusions, and drops what no output needs. Everything a model cannot do fails here, at load.
    public mutating func prepare(_ options: CompileOptions = CompileOptions()) throws {
        try sortTopologically()
        try inferTypesAndFold()
        if options.fuseQuantization {
            try fuseQuantizedPatterns(keeping: options.keep)
            removeDeadNodes(keeping: options.keep)
        }
        // Now fold what the fusion left: constant DequantizeLinear nodes of float (excluded) layers.
        try inferTypesAndFold(foldEverything: true)
        if options.foldBatchNormalization { try foldBatchNormalization(keeping: options.keep) }
        if options.fuseActivations { try fuseActivations(keeping: options.keep) }
        removeDeadNodes(keeping: options.keep)
    }
}

/// A model ready to run: one arena planned at load, one step per node, bound to fixed addresses.
/// `run()` allocates nothing. Not thread-safe: use one instance per thread.
public final class CompiledModel: @unchecked Sendable {
    /// A model input or output: its name and static type.
    public struct Port: Sendable, CustomStringConvertible {
        public let name: String
        public let type: TensorType
        public var description: String { "\(name): \(type)" }
    }

    public let inputs: [Port]
    public let outputs: [Port]
    /// The graph as planned (after folding and fusion).
    public let graph: Graph
    public let plan: MemoryPlan

    private let arena: TensorStorage
    private let scratch: TensorStorage
    private let steps: [Step]
    private let counterStorage: TensorStorage
    private let countingStateStorage: TensorStorage
    private let counterBase: UnsafeMutablePointer<SaturationCounts>

    /// What each saturation counter counts: the quantized tensor and the node that writes it.
    public struct CounterInfo: Sendable {
        public let tensor: String
        public let node: NodeInfo
    }
    /// One entry per saturation counter, in `saturationCounts(_:)` order.
    public let counters: [CounterInfo]
    /// The node each step runs, in run order (fused nodes carry the joined names).
    public let stepNodes: [NodeInfo]
    private let inputPointers: [UnsafeMutableRawPointer]
    private let outputPointers: [UnsafeMutableRawPointer]
    private let valuePointers: [String: (TensorType, UnsafeMutableRawPointer)]
    let tapQuantization: [String: TapQuantization]

    /// Plans memory and binds every step. `graph` must have been `prepare`d.
    public init(graph: Graph, options: CompileOptions = CompileOptions()) throws {
        self.graph = graph
        let keptIDs = Set(graph.values.indices.filter { options.keep.contains(graph.values[$0].name) }.map(ValueID.init))
        let plan = MemoryPlan(graph: graph, pinned: keptIDs)
        let arena = TensorStorage(byteCount: plan.arenaByteCount)
        let base = arena.pointer

        func pointer(_ id: ValueID) -> UnsafeMutableRawPointer {
            if let constant = graph[id].constant { return constant.storage.pointer }
            return base + plan.offsets[id.index]!
        }

        var counterTotal = 0
        for node in graph.nodes where node.op.viewOfInput == nil { counterTotal += node.op.counterCount }
        let counterStorage = TensorStorage(byteCount: max(counterTotal, 1) * MemoryLayout<SaturationCounts>.stride)
        let counterBase = counterStorage.pointer.bindMemory(to: SaturationCounts.self, capacity: max(counterTotal, 1))
        counterBase.initialize(repeating: SaturationCounts(), count: max(counterTotal, 1))
        // One Int32 per counter: the counting kernels' memory across runs (TwoPassCounting), which
        // resetCounters leaves alone.
        let countingStateStorage = TensorStorage(byteCount: max(counterTotal, 1) * MemoryLayout<Int32>.stride)
        let countingStates = countingStateStorage.pointer.bindMemory(to: Int32.self, capacity: max(counterTotal, 1))
        countingStates.initialize(repeating: 0, count: max(counterTotal, 1))
        var counterInfos: [CounterInfo] = []

        var scratchBytes = 0
        for node in graph.nodes where node.op.viewOfInput == nil {
            scratchBytes = max(scratchBytes, node.op.scratchByteCount(inputs: graph.operands(of: node), outputs: node.outputs.map { graph[$0].type! }))
        }
        let scratch = TensorStorage(byteCount: scratchBytes)

        var steps: [Step] = []
        var stepNodes: [NodeInfo] = []
        for node in graph.nodes where node.op.viewOfInput == nil {
            stepNodes.append(node.info)
            let binding = StepBinding(
                inputs: node.inputs.map { id in id.map { BoundValue(type: graph[$0].type!, pointer: pointer($0), constant: graph[$0].constant) } },
                outputs: node.outputs.map { BoundValue(type: graph[$0].type!, pointer: pointer($0)) },
                scratch: scratch.pointer,
                counters: counterBase + counterInfos.count,
                countingState: node.op.counterCount > 0 ? countingStates + counterInfos.count : nil,
                int8Acceleration: options.int8Acceleration,
                countsSaturation: options.saturationCounters,
                countsLowSaturation: !node.outputs.contains { options.activationBounds.floors.contains(graph[$0].name) },
                countsHighSaturation: !node.outputs.contains { options.activationBounds.ceilings.contains(graph[$0].name) }
            )
            for i in 0..<node.op.counterCount {
                counterInfos.append(CounterInfo(tensor: graph[node.outputs[min(i, node.outputs.count - 1)]].name, node: node.info))
            }
            do {
                steps.append(try node.op.makeStep(binding))
            } catch let error as OperatorError {
                throw ModelError.node(node.info, error.reason)
            }
        }
        self.steps = steps
        self.counterStorage = counterStorage
        self.countingStateStorage = countingStateStorage
        self.counterBase = counterBase
        self.counters = counterInfos
        self.stepNodes = stepNodes
        self.plan = plan
        self.arena = arena
        self.scratch = scratch
        inputs = graph.inputs.map { Port(name: graph[$0].name, type: graph[$0].type!) }
        outputs = graph.outputs.map { Port(name: graph[$0].name, type: graph[$0].type!) }
        inputPointers = graph.inputs.map(pointer)
        outputPointers = graph.outputs.map(pointer)
        var named: [String: (TensorType, UnsafeMutableRawPointer)] = [:]
        var quantization: [String: TapQuantization] = [:]
        for id in keptIDs {
            named[graph[id].name] = (graph[id].type!, pointer(id))
            if let p = graph.quantization(of: id), let tap = TapQuantization(p, shape: graph[id].type!.shape) {
                quantization[graph[id].name] = tap
            }
        }
        valuePointers = named
        tapQuantization = quantization
    }

    /// Number of steps (planned kernel calls) per run.
    public var stepCount: Int { steps.count }

    /// Bytes of the activation arena and of the shared scratch.
    public var arenaByteCount: Int { arena.byteCount }
    public var scratchByteCount: Int { scratch.byteCount }

    /// The writable bytes of input `index`: fill them, then `run()`.
    public func inputBuffer(_ index: Int) -> UnsafeMutableRawBufferPointer {
        UnsafeMutableRawBufferPointer(start: inputPointers[index], count: inputs[index].type.byteCount)
    }

    /// The bytes of output `index`, valid until the next `run()`.
    public func outputBuffer(_ index: Int) -> UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(start: outputPointers[index], count: outputs[index].type.byteCount)
    }

    /// Copies a tensor into input `index`; throws naming the input when type or shape differ.
    public func setInput(_ index: Int, _ tensor: Tensor) throws {
        let port = inputs[index]
        guard tensor.type == port.type else {
            throw ModelError("input '\(port.name)' expects \(port.type); got \(tensor.type)")
        }
        tensor.withUnsafeBytes { inputBuffer(index).copyMemory(from: $0) }
    }

    /// Index of the input with this name.
    public func inputIndex(named name: String) -> Int? { inputs.firstIndex { $0.name == name } }

    /// Runs every step once. Allocates nothing.
    public func run() {
        for index in steps.indices { steps[index]() }
    }

    /// Counter `index`: elements above qmax / below qmin before the clamp, and elements seen,
    /// accumulated over runs since the last `resetCounters()`.
    public func saturationCounts(_ index: Int) -> SaturationCounts { counterBase[index] }

    /// Zeroes every saturation counter (e.g. at the start of a window).
    public func resetCounters() {
        counterBase.update(repeating: SaturationCounts(), count: max(counters.count, 1))
    }

    /// Runs step `index` alone (for per-layer profiling; `run()` is steps 0..<stepCount in order).
    public func runStep(_ index: Int) { steps[index]() }

    /// A copy of output `index` (allocates; for tools, not the per-frame path).
    public func output(_ index: Int) -> Tensor {
        Tensor(type: outputs[index].type, bytes: outputBuffer(index))
    }

    /// A kept tensor's bytes after a run (see `CompileOptions.keep`), or nil if it was not kept.
    public func keptValue(named name: String) -> (type: TensorType, bytes: UnsafeRawBufferPointer)? {
        guard let (type, pointer) = valuePointers[name] else { return nil }
        return (type, UnsafeRawBufferPointer(start: pointer, count: type.byteCount))
    }
}
