import Foundation
import QuantGraph
import QuantKernels
import QuantMetrics

/// Per-layer comparison during an evaluation: for each matched tensor, the accumulated error
/// (float model vs int8 model, each on its own path) and the local error (the float layers that
/// produce the tensor, re-run on the int8 model's dequantized inputs).
final class LayerRunner {
    struct Layer {
        var pair: LayerPair
        var node: String
        var opType: String
        var scale: Float?
        var floatBuffer: [Float]
        var int8Buffer: [Float]
        var accumulated = ComparisonAccumulator()
        var local: LocalModel?
        var localAccumulator = ComparisonAccumulator()
        var weightSqnrDb: Double?
    }

    /// The float subgraph from the nearest matched tensors (or the model input) to one tensor.
    struct LocalModel {
        var model: CompiledModel
        /// For each subgraph input: the int8 tensor whose dequantized value feeds it (nil: the frame).
        var sources: [String?]
        var buffers: [[Float]]
    }

    var layers: [Layer]
    let int8Model: CompiledModel
    let floatModel: CompiledModel

    init(evaluator: Evaluator, int8Model: CompiledModel, floatModel: CompiledModel) throws {
        self.int8Model = int8Model
        self.floatModel = floatModel
        let floatGraph = floatModel.graph, int8Graph = int8Model.graph
        let floatToInt8 = Dictionary(evaluator.matches.map { ($0.comparedFloat, $0.int8Tensor) }, uniquingKeysWith: { a, _ in a })
        let inputName = floatGraph[floatGraph.inputs[0]].name
        layers = []
        for pair in evaluator.matches {
            guard let floatID = floatGraph.valueID(named: pair.comparedFloat), let int8ID = int8Graph.valueID(named: pair.int8Tensor),
                  let floatType = floatGraph[floatID].type, let int8Type = int8Graph[int8ID].type,
                  floatType.elementCount == int8Type.elementCount else { continue }
            let producer = int8Graph.producer(of: pair.int8Tensor).map { int8Graph.nodes[$0] }
            var layer = Layer(pair: pair, node: producer?.info.name ?? "", opType: producer?.op.kind ?? "",
                              scale: int8Graph.quantization(of: int8ID).flatMap { $0.isPerTensor ? $0.scale : nil },
                              floatBuffer: [Float](repeating: 0, count: floatType.elementCount),
                              int8Buffer: [Float](repeating: 0, count: int8Type.elementCount))
            layer.local = Self.localModel(for: pair.comparedFloat, in: floatGraph, matched: floatToInt8, inputName: inputName)
            // The float layer's weights: its producer, or (activation and BatchNormalization folded in) the activation's.
            layer.weightSqnrDb = Self.weightSqnr(floatGraph: floatGraph, floatTensor: pair.floatTensor, int8Graph: int8Graph, int8Node: producer)
                ?? Self.weightSqnr(floatGraph: floatGraph, floatTensor: pair.comparedFloat, int8Graph: int8Graph, int8Node: producer)
            layers.append(layer)
        }
    }

    /// The subgraph computing `tensor` from the closest upstream matched tensors.
    static func localModel(for tensor: String, in graph: Graph, matched: [String: String], inputName: String) -> LocalModel? {
        guard let start = graph.producer(of: tensor) else { return nil }
        var boundary: [String] = []
        var visited = Set<Int>()
        var stack = [start]
        while let n = stack.popLast() {
            guard visited.insert(n).inserted else { continue }
            for case let input? in graph.nodes[n].inputs where graph[input].constant == nil {
                let name = graph[input].name
                if matched[name] != nil || name == inputName {
                    if !boundary.contains(name) { boundary.append(name) }
                } else if let p = graph.producer(of: name) {
                    stack.append(p)
                }
            }
        }
        guard !boundary.isEmpty, var sub = graph.subgraph(inputs: boundary, outputs: [tensor]) else { return nil }
        guard (try? sub.prepare()) != nil, let model = try? CompiledModel(graph: sub) else { return nil }
        return LocalModel(model: model, sources: boundary.map { $0 == inputName ? nil : matched[$0] },
                          buffers: model.inputs.map { [Float](repeating: 0, count: $0.type.elementCount) })
    }

    /// SQNR of the int8 layer's dequantized weights against the float layer's weights.
    static func weightSqnr(floatGraph: Graph, floatTensor: String, int8Graph: Graph, int8Node: Node?) -> Double? {
        guard let int8Node, int8Node.op is QLinearConvOperator || int8Node.op is QLinearMatMulOperator,
              let p = floatGraph.producer(of: floatTensor) else { return nil }
        let floatNode = floatGraph.nodes[p]
        guard floatNode.op is ConvOperator || floatNode.op is GemmOperator || floatNode.op is MatMulOperator,
              floatNode.inputs.count > 1, let wf = floatNode.inputs[1].flatMap({ floatGraph[$0].constant }),
              let wq = int8Node.inputs[3].flatMap({ int8Graph[$0].constant }),
              let scales = int8Node.inputs[4].flatMap({ int8Graph[$0].constant })?.floatValues(),
              wf.shape == wq.shape, let q = wq.integers(), let reference = wf.floatValues() else { return nil }
        let zeros = int8Node.inputs[5].flatMap { int8Graph[$0].constant }?.integers() ?? [0]
        let perRow = int8Node.op is QLinearConvOperator || (int8Node.op as? QLinearMatMulOperator)?.transB == true
        let channels = scales.count, inner = q.count / max(perRow ? wq.shape[0] : 1, 1)
        var dequantized = [Float](repeating: 0, count: q.count)
        for i in q.indices {
            let c = channels == 1 ? 0 : (perRow ? i / inner : i % channels)
            dequantized[i] = Float(q[i] - zeros[zeros.count == 1 ? 0 : c]) * scales[c]
        }
        return Comparison.compare(reference: reference, quantized: dequantized).sqnrDb
    }

    func add(frame: Tensor) throws {
        for i in layers.indices {
            var layer = layers[i]
            let floatOK = layer.floatBuffer.withUnsafeMutableBufferPointer { floatModel.readDequantized(layer.pair.comparedFloat, into: $0) }
            let int8OK = layer.int8Buffer.withUnsafeMutableBufferPointer { int8Model.readDequantized(layer.pair.int8Tensor, into: $0) }
            guard floatOK, int8OK else { continue }
            layer.accumulated.add(reference: layer.floatBuffer, quantized: layer.int8Buffer, scale: layer.scale)
            if var local = layer.local {
                var complete = true
                for (j, source) in local.sources.enumerated() {
                    if let source {
                        complete = complete && local.buffers[j].withUnsafeMutableBufferPointer { int8Model.readDequantized(source, into: $0) }
                        try local.model.setInput(j, Tensor(shape: local.model.inputs[j].type.shape, values: local.buffers[j]))
                    } else {
                        try local.model.setInput(j, frame)
                    }
                }
                if complete {
                    local.model.run()
                    let localOutput = local.model.output(0).floatValues() ?? []
                    layer.localAccumulator.add(reference: localOutput, quantized: layer.int8Buffer, scale: layer.scale)
                }
                layer.local = local
            }
            layers[i] = layer
        }
    }

    /// The layer table, ranked by each layer's own contribution (local nl2, worst first).
    func report(saturation: [EvaluationReport.Saturation]) -> [EvaluationReport.Layer] {
        let saturationByTensor = Dictionary(saturation.map { ($0.tensor, $0) }, uniquingKeysWith: { a, _ in a })
        var rows = layers.map { layer -> EvaluationReport.Layer in
            let accumulated = layer.accumulated.summary
            let local = layer.localAccumulator.frames > 0 ? layer.localAccumulator.summary : nil
            return EvaluationReport.Layer(
                rank: 0, floatTensor: layer.pair.floatTensor, int8Tensor: layer.pair.int8Tensor, node: layer.node, opType: layer.opType,
                accumulated: accumulated, local: local, rmseOverScale: (local ?? accumulated).rmseOverScaleMean,
                // Beyond the floor / ceiling of a Relu/Clip the quantizer folded into this tensor is the
                // activation, not saturation.
                saturationHigh: !layer.pair.foldedCeiling ? saturationByTensor[layer.pair.int8Tensor]?.high : nil,
                saturationLow: !layer.pair.foldedActivation ? saturationByTensor[layer.pair.int8Tensor]?.low : nil,
                weightSqnrDb: layer.weightSqnrDb, afterActivation: layer.pair.afterActivation)
        }
        rows.sort { ($0.local?.nl2Mean ?? $0.accumulated.nl2Mean ?? 0) > ($1.local?.nl2Mean ?? $1.accumulated.nl2Mean ?? 0) }
        for i in rows.indices { rows[i].rank = i + 1 }
        return rows
    }
}
