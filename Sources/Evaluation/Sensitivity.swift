import Foundation
import ONNXImport
import QuantGraph
import QuantMetrics

/// Which layers, kept in float, recover most of the output error: each integer Conv / MatMul / Gemm
/// of the int8 model is in turn replaced by DequantizeLinear → the float operator with the
/// reference's float weights → QuantizeLinear (what `quantize_static(nodes_to_exclude=[…])` makes of
/// it), the model re-run on the first frames, and its output compared with the float model's.
struct Sensitivity {
    let evaluator: Evaluator

    struct Ranking {
        var baseline: Double
        var entries: [EvaluationReport.Sensitivity]
    }

    /// The float model's node for an int8 node: the same ONNX name (onnxruntime's QOperator
    /// format appends "_quant"); fused names join the original names with "+".
    static func originalName(_ name: String) -> String {
        var base = String(name.split(separator: "+").first ?? Substring(name))
        if base.hasSuffix("_quant") { base.removeLast("_quant".count) }
        return base
    }

    func rank(frames: [Tensor], floatOutputs: [[Float]], int8Outputs: [[Float]]) throws -> Ranking {
        let int8Graph = evaluator.int8.graph
        let floatGraph = evaluator.reference.graph
        var floatNodes: [String: Node] = [:]
        for node in floatGraph.nodes { floatNodes[Self.originalName(node.info.name)] = node }
        let classes = floatOutputs.first?.count ?? 0
        func outputSqnr(_ outputs: [[Float]]) -> (Double, Double?) {
            var accumulator = ComparisonAccumulator(expectedFrames: outputs.count)
            for (r, q) in zip(floatOutputs, outputs) { accumulator.add(reference: r, quantized: q, classAxisCount: classes > 1 ? classes : nil) }
            let summary = accumulator.summary
            return (summary.sqnrDbPooled ?? 0, summary.top1Agree)
        }
        let (baseline, _) = outputSqnr(int8Outputs)
        var entries: [EvaluationReport.Sensitivity] = []
        for (index, node) in int8Graph.nodes.enumerated() where node.op is QLinearConvOperator || node.op is QLinearMatMulOperator {
            let name = Self.originalName(node.info.name)
            var weights: Tensor?, bias: Tensor?
            if let floatNode = floatNodes[name], floatNode.inputs.count > 1 {
                weights = floatNode.inputs[1].flatMap { floatGraph[$0].constant }
                bias = floatNode.inputs.count > 2 ? floatNode.inputs[2].flatMap { floatGraph[$0].constant } : nil
                if let w = weights, let wq = node.inputs[3].flatMap({ int8Graph[$0].constant }), w.shape != wq.shape { weights = nil; bias = nil }
            }
            var hybrid = int8Graph
            do {
                try hybrid.runInFloat(nodeAt: index, weights: weights, bias: bias)
                try hybrid.refold()
            } catch { continue }
            guard let model = try? CompiledModel(graph: hybrid) else { continue }
            var outputs: [[Float]] = []
            var buffer = [Float]()
            for frame in frames {
                try model.setInput(0, frame)
                model.run()
                outputs.append(try evaluator.dequantizedOutput(model, 0, into: &buffer))
            }
            let (sqnr, top1) = outputSqnr(outputs)
            entries.append(EvaluationReport.Sensitivity(node: name, opType: node.op.kind, outputSqnrDb: sqnr,
                                                        recoveredDb: sqnr - baseline, top1Agree: top1))
        }
        entries.sort { $0.recoveredDb > $1.recoveredDb }
        return Ranking(baseline: baseline, entries: entries)
    }
}
