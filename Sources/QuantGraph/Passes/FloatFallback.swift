import QuantKernels

extension Graph {
    /// Replaces the integer node at `index` (QLinearConv, QLinearMatMul/QGemm) by
    /// DequantizeLinear → the float operator → QuantizeLinear with the same input and output
    /// quantization: what `quantize_static(nodes_to_exclude=[…])` would have produced for that node.
    /// `weights` and `bias` are the float model's (nil: the dequantized integer ones). The graph
    /// must be re-planned afterwards (`refold()`, then `CompiledModel`).
    public mutating func runInFloat(nodeAt index: Int, weights: Tensor?, bias: Tensor?) throws {
        let node = nodes[index]
        let inputs = node.inputs
        func constant(_ i: Int) -> Tensor? { i < inputs.count ? inputs[i].flatMap { values[$0.index].constant } : nil }
        let output = node.outputs[0]
        let outputType = values[output.index].type!
        let x = inputs[0]!
        let xFloat = addValue(Value(name: values[x.index].name + "_float", type: TensorType(.float32, values[x.index].type!.shape)))
        let yFloat = addValue(Value(name: values[output.index].name + "_float", type: TensorType(.float32, outputType.shape)))
        var replacement: [Node] = []
        replacement.append(Node(info: NodeInfo(name: node.info.name + "/dequantize_input", opType: "DequantizeLinear", opset: node.info.opset),
                                op: DequantizeLinearOperator(), inputs: [x, inputs[1], inputs[2]], outputs: [xFloat]))
        let weightIndex = 3
        guard let wq = constant(weightIndex), let ws = constant(4) else {
            throw ModelError.node(node.info, "cannot run in float: its weights are not constants")
        }
        let wScales = ws.scalars(as: Float.self)
        let wZeros = constant(5)?.integers() ?? [0]
        let xScale = constant(1)?.scalars(as: Float.self).first ?? 1
        // Float weights: the reference's, or real = scale·(q − zero point) per output channel.
        let floatWeights: Tensor
        if let weights {
            floatWeights = weights
        } else {
            let q = wq.integers() ?? []
            let perChannel = wScales.count > 1
            let conv = node.op is QLinearConvOperator
            let transB = (node.op as? QLinearMatMulOperator)?.transB ?? false
            let channels = conv || transB ? wq.shape[0] : wq.shape[wq.rank - 1]
            let inner = wq.elementCount / max(channels, 1)
            var real = [Float](repeating: 0, count: q.count)
            for i in q.indices {
                let c = perChannel ? (conv || transB ? i / inner : i % channels) : 0
                real[i] = Float(Int32(q[i]) - Int32(wZeros[wZeros.count == 1 ? 0 : c])) * wScales[c]
            }
            floatWeights = Tensor(shape: wq.shape, values: real)
        }
        let biasIndex = node.op is QLinearConvOperator ? 8 : 6
        var floatBias = bias
        if floatBias == nil, let bq = constant(biasIndex), let values = bq.integers() {
            floatBias = Tensor(shape: bq.shape, values: values.enumerated().map { Float($0.element) * xScale * wScales[wScales.count == 1 ? 0 : $0.offset] })
        }
        let w = addValue(Value(name: node.info.name + "/float_weights", constant: floatWeights))
        let b = floatBias.map { addValue(Value(name: node.info.name + "/float_bias", constant: $0)) }
        let floatOp: any Operator
        switch node.op {
        case let conv as QLinearConvOperator:
            floatOp = ConvOperator(window: conv.window, groups: conv.groups, clamp: conv.activation)
        case let matmul as QLinearMatMulOperator:
            floatOp = values[x.index].type!.rank == 2 || matmul.transB
                ? GemmOperator(transB: matmul.transB, clamp: matmul.activation) as any Operator
                : MatMulOperator(clamp: matmul.activation)
        default:
            throw ModelError.node(node.info, "only QLinearConv and QLinearMatMul/QGemm can be run in float")
        }
        var floatInputs: [ValueID?] = [xFloat, w]
        if let b {
            if floatOp is MatMulOperator {
                throw ModelError.node(node.info, "cannot run a batched matmul with bias in float")
            }
            floatInputs.append(b)
        }
        replacement.append(Node(info: NodeInfo(name: node.info.name, opType: floatOp.kind, opset: node.info.opset),
                                op: floatOp, inputs: floatInputs, outputs: [yFloat]))
        let yScaleIndex = node.op is QLinearConvOperator ? 6 : 7
        replacement.append(Node(info: NodeInfo(name: node.info.name + "/quantize_output", opType: "QuantizeLinear", opset: node.info.opset),
                                op: QuantizeLinearOperator(defaultType: outputType.dataType),
                                inputs: [yFloat, inputs[yScaleIndex], yScaleIndex + 1 < inputs.count ? inputs[yScaleIndex + 1] : nil],
                                outputs: [output]))
        nodes.replaceSubrange(index...index, with: replacement)
    }

    /// Re-checks and re-folds a graph edited after `prepare` (types, constant DequantizeLinear).
    public mutating func refold() throws {
        try sortTopologically()
        try inferTypesAndFold(foldEverything: true)
    }
}
