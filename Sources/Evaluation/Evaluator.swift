import Foundation
import ONNXImport
import QuantGraph
import QuantKernels
import QuantMetrics

/// What the report should contain and how much work to spend on it.
public struct EvaluationOptions: Sendable {
    /// Per-layer table (accumulated and local error, rmse/scale, saturation, weight SQNR).
    public var layers = false
    /// top-k overlap's k.
    public var k = Comparison.defaultK
    /// Frames used to rank float fallbacks (each candidate layer re-runs the model on them).
    public var sensitivityFrames = 32
    /// Candidates listed in the sensitivity ranking (0: none computed).
    public var sensitivityCount = 10

    public init() {}
}

/// Runs an int8 model and its float reference side by side over frames and builds the report.
public final class Evaluator {
    let int8URL: URL
    let referenceURL: URL
    let options: EvaluationOptions
    let int8: ONNXModel
    let reference: ONNXModel
    /// The float graph with no fusion: every tensor name of the exported model.
    let referenceUnfused: Graph
    let matches: [LayerPair]
    let unmatched: (float: [String], int8: [String])

    public init(int8 int8URL: URL, reference referenceURL: URL, options: EvaluationOptions = EvaluationOptions()) throws {
        self.int8URL = int8URL
        self.referenceURL = referenceURL
        self.options = options
        let int8 = try ONNXModel.load(contentsOf: int8URL)
        var unfusedOptions = ImportOptions()
        unfusedOptions.compile.foldBatchNormalization = false
        unfusedOptions.compile.fuseActivations = false
        referenceUnfused = try ONNXModel.load(contentsOf: referenceURL, options: unfusedOptions).graph
        let reference = try ONNXModel.load(contentsOf: referenceURL)
        guard reference.graph.inputs.count == int8.graph.inputs.count else {
            throw ModelError("\(referenceURL.path) has \(reference.graph.inputs.count) inputs but \(int8URL.path) has \(int8.graph.inputs.count)")
        }
        for (a, b) in zip(reference.graph.inputs, int8.graph.inputs) where reference.graph[a].type != int8.graph[b].type {
            throw ModelError("input '\(reference.graph[a].name)' is \(reference.graph[a].type!) in the reference but \(int8.graph[b].type!) in the int8 model")
        }
        (matches, unmatched) = Self.matchLayers(float: referenceUnfused, int8: int8.graph)
        if options.layers {
            var keepFloat = ImportOptions()
            keepFloat.compile.keep = Set(matches.map(\.comparedFloat))
            self.reference = try ONNXModel.load(contentsOf: referenceURL, options: keepFloat)
            var keepInt8 = ImportOptions()
            keepInt8.compile.keep = Set(matches.map(\.int8Tensor))
            self.int8 = try ONNXModel.load(contentsOf: int8URL, options: keepInt8)
        } else {
            self.reference = reference
            self.int8 = int8
        }
    }

    /// Matched tensors (QuantMetrics.ModelPairing) and what stayed unmatched.
    static func matchLayers(float: Graph, int8: Graph) -> ([LayerPair], (float: [String], int8: [String])) {
        let result = ModelPairing.matchLayers(float: float, int8: int8)
        return (result.pairs, (result.unmatchedFloat, result.unmatchedInt8))
    }

    /// Runs both models over `frames` (each shaped like the models' single input) and builds the report.
    public func run(frames: [Tensor], labels: [Int]? = nil, progress: ((Int, Int) -> Void)? = nil) throws -> EvaluationReport {
        // Folded activations' floors and ceilings are not saturation: their kernels skip counting that side.
        var int8Options = int8.compileOptions
        int8Options.activationBounds = ModelPairing.activationBounds(matches)
        let int8Model = try int8.compile(int8Options)
        let floatModel = try reference.compile()
        guard int8Model.inputs.count == 1 else { throw ModelError("eval runs single-input models; \(int8URL.path) has \(int8Model.inputs.count) inputs") }
        let outputNames = floatModel.outputs.map(\.name)
        let int8OutputIndex = try outputNames.map { name -> Int in
            guard let i = int8Model.outputs.firstIndex(where: { $0.name == name }) else {
                throw ModelError("the int8 model has no output named '\(name)' (its outputs: \(int8Model.outputs.map(\.name).joined(separator: ", ")))")
            }
            return i
        }
        var outputAccumulators = outputNames.map { _ in ComparisonAccumulator(expectedFrames: frames.count) }
        let layers = options.layers ? try LayerRunner(evaluator: self, int8Model: int8Model, floatModel: floatModel) : nil
        var int8Correct = 0, floatCorrect = 0
        var sensitivityFloatOutputs: [[Float]] = []
        var sensitivityInt8Outputs: [[Float]] = []
        int8Model.resetCounters()
        var buffer = [Float]()
        for (index, frame) in frames.enumerated() {
            try floatModel.setInput(0, frame)
            try int8Model.setInput(0, frame)
            floatModel.run()
            int8Model.run()
            for o in outputNames.indices {
                let reference = floatModel.output(o).floatValues() ?? []
                let quantized = try dequantizedOutput(int8Model, int8OutputIndex[o], into: &buffer)
                let classes = floatModel.outputs[o].type.shape.last ?? 1
                let classAxis = floatModel.outputs[o].type.rank >= 1 && classes > 1 ? classes : nil
                outputAccumulators[o].add(reference: reference, quantized: quantized, classAxisCount: classAxis, k: options.k)
                if o == 0 {
                    if let labels, index < labels.count {
                        if argmax(quantized) == labels[index] { int8Correct += 1 }
                        if argmax(reference) == labels[index] { floatCorrect += 1 }
                    }
                    if index < options.sensitivityFrames {
                        sensitivityFloatOutputs.append(reference)
                        sensitivityInt8Outputs.append(quantized)
                    }
                }
            }
            try layers?.add(frame: frame)
            if let progress, frames.count >= 20 ? index % (frames.count / 10) == 0 || index == frames.count - 1 : true {
                progress(index + 1, frames.count)
            }
        }
        let counted = saturation(int8Model, activationBounds: int8Options.activationBounds)
        var report = EvaluationReport(
            model: int8URL.path, reference: referenceURL.path, frames: frames.count,
            outputs: zip(outputNames, outputAccumulators).map { EvaluationReport.Output(name: $0, summary: $1.summary) },
            accuracy: nil, layers: nil, unmatchedFloat: nil, unmatchedInt8: nil, sensitivity: [],
            sensitivityFrames: min(options.sensitivityFrames, frames.count), sensitivityBaselineSqnrDb: nil,
            saturation: counted.tensors, inputOutOfRange: counted.inputOutOfRange)
        if let labels, !labels.isEmpty {
            let n = min(labels.count, frames.count)
            report.accuracy = EvaluationReport.Accuracy(labels: n, int8: Double(int8Correct) / Double(n), float: Double(floatCorrect) / Double(n),
                                                        delta: Double(int8Correct - floatCorrect) / Double(n))
        }
        if let layers {
            report.layers = layers.report(saturation: report.saturation)
            report.unmatchedFloat = unmatched.float
            report.unmatchedInt8 = unmatched.int8
        }
        if options.sensitivityCount > 0, !sensitivityFloatOutputs.isEmpty {
            let ranking = try Sensitivity(evaluator: self).rank(frames: Array(frames.prefix(sensitivityFloatOutputs.count)),
                                                                 floatOutputs: sensitivityFloatOutputs, int8Outputs: sensitivityInt8Outputs)
            report.sensitivity = Array(ranking.entries.prefix(options.sensitivityCount))
            report.sensitivityBaselineSqnrDb = ranking.baseline
        }
        return report
    }

    /// Output `index` of a compiled model as floats (dequantized when the output is quantized).
    func dequantizedOutput(_ model: CompiledModel, _ index: Int, into buffer: inout [Float]) throws -> [Float] {
        let port = model.outputs[index]
        if port.type.dataType == .float32 { return model.output(index).floatValues() ?? [] }
        buffer = [Float](repeating: 0, count: port.type.elementCount)
        let ok = buffer.withUnsafeMutableBufferPointer { model.readDequantized(port.name, into: $0) }
        guard ok else { throw ModelError("output '\(port.name)' is \(port.type) and its quantization is unknown") }
        return buffer
    }

    /// Saturation per quantized tensor and `input_out_of_range` over the whole run (the counters are
    /// not reset between frames), as the monitor reads them (`SaturationReader`): the sides that are a
    /// folded activation's floor or ceiling (`activationBounds`) are not saturation and read 0.
    func saturation(_ model: CompiledModel, activationBounds: ActivationBounds)
        -> (tensors: [EvaluationReport.Saturation], inputOutOfRange: Double?) {
        let reader = SaturationReader(model: model, activationBounds: activationBounds)
        var counts = [SaturationCounts](repeating: SaturationCounts(), count: reader.tensors.count)
        let frame = counts.withUnsafeMutableBufferPointer { reader.read(model, perTensor: $0) }
        let tensors = counts.indices.compactMap { j -> EvaluationReport.Saturation? in
            let c = counts[j]
            guard c.total > 0 else { return nil }
            return EvaluationReport.Saturation(tensor: reader.tensors[j], node: reader.nodes[j],
                                               high: Double(c.high) / Double(c.total), low: Double(c.low) / Double(c.total))
        }
        return (tensors.sorted { $0.high + $0.low > $1.high + $1.low }, frame.inputOutOfRange)
    }
}

func argmax(_ values: [Float]) -> Int {
    var best = 0
    for i in values.indices where values[i] > values[best] { best = i }
    return best
}
