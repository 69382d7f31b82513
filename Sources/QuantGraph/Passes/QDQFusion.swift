import QuantKernels

extension Graph {
    /// Fuses the DequantizeLinear → op → QuantizeLinear patterns of QDQ models into integer
    /// operators, so that int8 models run in integer arithmetic rather than dequantized float:
    ///
    /// - DQ(x), DQ(w const)[, DQ(b int32 const)] → Conv [→ Relu/Clip] → Q   ⇒ QLinearConv
    /// - DQ(a), DQ(b const 2-D)[, DQ(c int32 const)] → Gemm/MatMul [→ Relu/Clip] → Q ⇒ QLinearMatMul
    /// - DQ(x) → Reshape/Flatten/Squeeze/Unsqueeze/Identity/Transpose → Q with the same parameters
    ///   ⇒ the same data movement on the quantized tensor.
    ///
    /// A Relu or Clip between the op and its QuantizeLinear becomes the requantization clamp.
    /// Whatever does not match (mixed precision: nodes left in float) keeps its DQ/Q nodes and runs
    /// in float between them. Tensors named in `keep` are never fused away.
    public mutating func fuseQuantizedPatterns(keeping keep: Set<String> = []) throws {
        var producer = producers()
        let uses = useCounts()
        var consumers = [[Int]](repeating: [], count: values.count)
        for (n, node) in nodes.enumerated() { for case let input? in node.inputs { consumers[input.index].append(n) } }
        var removed = Set<Int>()
        var replacements: [Int: Node] = [:]

        /// The DequantizeLinear producing `id`, if any, when this node is its only reader (as
        /// onnxruntime requires: a DequantizeLinear shared by two nodes fuses into neither).
        func dequantizer(_ id: ValueID?) -> (node: Node, op: DequantizeLinearOperator)? {
            guard let id, let p = producer[id.index], !removed.contains(p), uses[id.index] == 1,
                  let op = nodes[p].op as? DequantizeLinearOperator else { return nil }
            return (nodes[p], op)
        }
        /// onnxruntime leaves a node unfused when its QuantizeLinear feeds a shared DequantizeLinear
        /// (the residual branch point of inverted-residual blocks); matching it keeps outputs identical.
        func feedsSharedDequantizer(_ q: Int) -> Bool {
            consumers[nodes[q].outputs[0].index].contains { c in
                nodes[c].op is DequantizeLinearOperator && uses[nodes[c].outputs[0].index] > 1
            }
        }
        func isConstant(_ id: ValueID?) -> Bool { id.map { values[$0.index].constant != nil } ?? false }
        func dequantizedConstant(_ id: ValueID?) -> Node? {
            guard let dq = dequantizer(id), isConstant(dq.node.inputs[0]) else { return nil }
            return dq.node
        }
        /// The only reader of a float tensor, when it may be fused away.
        func soleConsumer(_ id: ValueID) -> Int? {
            guard uses[id.index] == 1, !outputs.contains(id), !keep.contains(values[id.index].name),
                  consumers[id.index].count == 1 else { return nil }
            let c = consumers[id.index][0]
            return removed.contains(c) ? nil : c
        }
        /// Follows `id` through an optional Relu/Clip (bounds known at load) to a QuantizeLinear.
        func outputQuantizer(_ id: ValueID) -> (quantize: Int, activation: Int?, clamp: FloatClamp)? {
            guard let c = soleConsumer(id) else { return nil }
            if nodes[c].op is QuantizeLinearOperator { return (c, nil, .none) }
            guard let clamp = activationClamp(nodes[c]), let next = soleConsumer(nodes[c].outputs[0]), nodes[next].op is QuantizeLinearOperator else { return nil }
            return (next, c, clamp)
        }
        /// The output quantizer of a node that may be fused: not feeding a shared DequantizeLinear.
        func fusableQuantizer(_ id: ValueID) -> (quantize: Int, activation: Int?, clamp: FloatClamp)? {
            guard let q = outputQuantizer(id), !feedsSharedDequantizer(q.quantize) else { return nil }
            return q
        }
        /// A QuantizeLinear's scale and zero point as operator inputs, and its parameters.
        func quantizeParameters(_ q: Int) -> QuantizationParameters? {
            (nodes[q].op as? QuantizeLinearOperator).flatMap { try? $0.parameters(operands(of: nodes[q])) }
        }
        func dequantizeParameters(_ dq: Node) -> QuantizationParameters? {
            (dq.op as? DequantizeLinearOperator).flatMap { try? $0.parameters(operands(of: dq)) }
        }
        func is8BitPerTensor(_ p: QuantizationParameters?) -> Bool {
            guard let p else { return false }
            return p.isPerTensor && (p.dataType == .int8 || p.dataType == .uint8)
        }
        func quantizerInputs(_ q: Node) -> [ValueID?] {
            [q.inputs.count > 1 ? q.inputs[1] : nil, q.inputs.count > 2 ? q.inputs[2] : nil]
        }
        func dqInputs(_ dq: Node) -> [ValueID?] {
            [dq.inputs[0], dq.inputs.count > 1 ? dq.inputs[1] : nil, dq.inputs.count > 2 ? dq.inputs[2] : nil]
        }
        func fuse(_ n: Int, _ op: any Operator, inputs: [ValueID?], quantizer: (quantize: Int, activation: Int?, clamp: FloatClamp)) {
            let q = nodes[quantizer.quantize]
            var info = nodes[n].info
            if let a = quantizer.activation { info.name += "+" + nodes[a].info.name }
            replacements[n] = Node(info: info, op: op, inputs: inputs, outputs: [q.outputs[0]])
            removed.insert(quantizer.quantize)
            if let a = quantizer.activation { removed.insert(a) }
            producer[q.outputs[0].index] = n
        }

        for (n, node) in nodes.enumerated() where !removed.contains(n) {
            if let conv = node.op as? ConvOperator, conv.clamp == .none {
                guard let x = dequantizer(node.inputs[0]), let w = dequantizedConstant(node.inputs[1]),
                      (w.op as? DequantizeLinearOperator).map({ parametersAlongAxis0($0, w) }) ?? false,
                      let quantizer = fusableQuantizer(node.outputs[0]) else { continue }
                var bias: ValueID?
                if node.inputs.count > 2, let b = node.inputs[2] {
                    guard let dqb = dequantizedConstant(b), values[dqb.inputs[0]!.index].type?.dataType == .int32 else { continue }
                    bias = dqb.inputs[0]
                }
                let fused = QLinearConvOperator(window: conv.window, groups: conv.groups, activation: quantizer.clamp)
                fuse(n, fused, inputs: dqInputs(x.node) + dqInputs(w) + quantizerInputs(nodes[quantizer.quantize]) + [bias], quantizer: quantizer)
            } else if node.op is GemmOperator || node.op is MatMulOperator {
                var transB = false
                if let gemm = node.op as? GemmOperator {
                    guard gemm.alpha == 1, !gemm.transA, gemm.clamp == .none else { continue }
                    transB = gemm.transB
                } else if let matmul = node.op as? MatMulOperator, matmul.clamp != .none { continue }
                guard let a = dequantizer(node.inputs[0]), let b = dequantizedConstant(node.inputs[1]),
                      values[b.inputs[0]!.index].type?.rank == 2,
                      let quantizer = fusableQuantizer(node.outputs[0]) else { continue }
                var bias: ValueID?
                if node.inputs.count > 2, let c = node.inputs[2] {
                    guard let gemm = node.op as? GemmOperator, gemm.beta == 1, let dqc = dequantizedConstant(c),
                          values[dqc.inputs[0]!.index].type?.dataType == .int32 else { continue }
                    bias = dqc.inputs[0]
                }
                let fused = QLinearMatMulOperator(transB: transB, activation: quantizer.clamp, name: node.op.kind == "Gemm" ? "QGemm" : "QLinearMatMul")
                fuse(n, fused, inputs: dqInputs(a.node) + dqInputs(b) + [bias] + quantizerInputs(nodes[quantizer.quantize]), quantizer: quantizer)
            } else if node.op is ViewOperator || node.op is TransposeOperator || (node.op as? PoolOperator)?.pool == .max {
                // Data movement and MaxPool: drop the DQ/Q pair when both use the same parameters.
                guard let x = dequantizer(node.inputs[0]), let quantizer = fusableQuantizer(node.outputs[0]), quantizer.activation == nil,
                      sameParameters(x.node, nodes[quantizer.quantize]) else { continue }
                if node.op is PoolOperator, !is8BitPerTensor(dequantizeParameters(x.node)) { continue }
                fuse(n, node.op, inputs: [x.node.inputs[0]] + node.inputs.dropFirst(), quantizer: quantizer)
            } else if let unary = unaryReplacement(node.op) {
                // Softmax, GlobalAveragePool, AveragePool, Sigmoid, LeakyRelu: onnxruntime's QLinear* versions.
                guard let x = dequantizer(node.inputs[0]), let quantizer = fusableQuantizer(node.outputs[0]), quantizer.activation == nil,
                      is8BitPerTensor(dequantizeParameters(x.node)), is8BitPerTensor(quantizeParameters(quantizer.quantize)),
                      dequantizeParameters(x.node)?.dataType == quantizeParameters(quantizer.quantize)?.dataType else { continue }
                let xInputs = dqInputs(x.node)
                fuse(n, unary, inputs: xInputs + quantizerInputs(nodes[quantizer.quantize]), quantizer: quantizer)
            } else if let binary = node.op as? BinaryOperator, binary.op == .add || binary.op == .mul, binary.clamp == .none {
                guard let a = dequantizer(node.inputs[0]), let b = dequantizer(node.inputs[1]),
                      let quantizer = fusableQuantizer(node.outputs[0]),
                      is8BitPerTensor(dequantizeParameters(a.node)), is8BitPerTensor(dequantizeParameters(b.node)),
                      is8BitPerTensor(quantizeParameters(quantizer.quantize)),
                      Set([dequantizeParameters(a.node)?.dataType, dequantizeParameters(b.node)?.dataType,
                           quantizeParameters(quantizer.quantize)?.dataType]).count == 1 else { continue }
                let fused = QLinearArithmeticOperator(binary.op == .add ? .add : .mul, activation: quantizer.clamp)
                fuse(n, fused, inputs: dqInputs(a.node) + dqInputs(b.node) + quantizerInputs(nodes[quantizer.quantize]), quantizer: quantizer)
            }
        }
        guard !removed.isEmpty || !replacements.isEmpty else { return }
        var rewritten: [Node] = []
        for (n, node) in nodes.enumerated() where !removed.contains(n) { rewritten.append(replacements[n] ?? node) }
        nodes = rewritten
    }

    /// The QLinear operator that replaces a float unary operator between DQ and Q, if any.
    private func unaryReplacement(_ op: any Operator) -> (any Operator)? {
        switch op {
        case let softmax as SoftmaxOperator: QLinearSoftmaxOperator(axis: softmax.axis, coerceTo2D: softmax.coerceTo2D)
        case let global as GlobalPoolOperator where !global.isMax: QLinearPoolOperator(.globalAverage)
        case let pool as PoolOperator:
            if case let .average(countIncludePad) = pool.pool, (pool.window.dilations ?? []).allSatisfy({ $0 == 1 }) {
                QLinearPoolOperator(.average(countIncludePad: countIncludePad), window: pool.window)
            } else { nil }
        case let unary as UnaryOperator:
            switch unary.op {
            case .sigmoid: QLinearLookupOperator(.sigmoid)
            case let .leakyRelu(alpha): QLinearLookupOperator(.leakyRelu(alpha: alpha))
            default: nil
            }
        default: nil
        }
    }

    /// Per-channel weight parameters must run along the output-channel axis (0) to become QLinearConv's.
    private func parametersAlongAxis0(_ op: DequantizeLinearOperator, _ dq: Node) -> Bool {
        guard dq.inputs.count > 1, let scale = dq.inputs[1], let s = values[scale.index].constant else { return false }
        if s.elementCount == 1 { return true }
        let rank = values[dq.inputs[0]!.index].type?.rank ?? 0
        return (op.axis < 0 ? op.axis + rank : op.axis) == 0
    }

    /// Whether a DequantizeLinear and a QuantizeLinear use the same constant scale and zero point.
    private func sameParameters(_ dq: Node, _ q: Node) -> Bool {
        func constant(_ node: Node, _ i: Int) -> Tensor? { i < node.inputs.count ? node.inputs[i].flatMap { values[$0.index].constant } : nil }
        guard let s1 = constant(dq, 1), let s2 = constant(q, 1), s1.elementCount == 1, s2.elementCount == 1,
              s1.scalars(as: Float.self) == s2.scalars(as: Float.self) else { return false }
        let z1 = constant(dq, 2), z2 = constant(q, 2)
        return z1?.dataType == z2?.dataType && (z1?.integers() ?? [0]) == (z2?.integers() ?? [0])
    }
}
