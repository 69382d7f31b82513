import QuantKernels

extension Graph {
    /// Folds each inference-mode BatchNormalization into the Conv that feeds it, when the Conv's
    /// output has no other reader and weights, bias and BN parameters are all constants:
    /// W'[o] = W[o]·m[o], b'[o] = b[o]·m[o] + (β[o] − μ[o]·m[o]), m = γ/√(σ² + ε).
    public mutating func foldBatchNormalization(keeping keep: Set<String> = []) throws {
        let producer = producers()
        let uses = useCounts()
        var removed = Set<Int>()
        for (n, node) in nodes.enumerated() {
            guard let bn = node.op as? BatchNormalizationOperator, let x = node.inputs[0],
                  let p = producer[x.index], nodes[p].op is ConvOperator,
                  uses[x.index] == 1, !outputs.contains(x), !keep.contains(values[x.index].name),
                  let w = nodes[p].inputs[1].flatMap({ values[$0.index].constant }),
                  node.inputs[1...4].allSatisfy({ $0.flatMap { values[$0.index].constant } != nil })
            else { continue }
            let existingBias = nodes[p].inputs.count > 2 ? nodes[p].inputs[2] : nil
            if let existingBias, values[existingBias.index].constant == nil { continue }
            let params = node.inputs[1...4].map { values[$0!.index].constant!.scalars(as: Float.self) }
            let channels = params[0].count
            var multiplier = [Float](repeating: 0, count: channels), offset = multiplier
            BatchNormalizationOperator.affine(scale: params[0], bias: params[1], mean: params[2], variance: params[3],
                                              epsilon: bn.epsilon, channels: channels, multiplier: &multiplier, offset: &offset)
            var weights = w.scalars(as: Float.self)
            let perChannel = weights.count / channels
            for o in 0..<channels { for i in 0..<perChannel { weights[o * perChannel + i] *= multiplier[o] } }
            let oldBias = existingBias.map { values[$0.index].constant!.scalars(as: Float.self) } ?? [Float](repeating: 0, count: channels)
            let bias = (0..<channels).map { oldBias[$0] * multiplier[$0] + offset[$0] }
            let wName = values[nodes[p].inputs[1]!.index].name
            let newW = addValue(Value(name: "\(wName)_bn_folded", constant: Tensor(shape: w.shape, values: weights)))
            let newB = addValue(Value(name: "\(node.info.name)_bias_folded", constant: Tensor(shape: [channels], values: bias)))
            nodes[p].inputs = [nodes[p].inputs[0], newW, newB]
            nodes[p].outputs = [node.outputs[0]]
            nodes[p].info.name += "+" + node.info.name
            removed.insert(n)
        }
        nodes = nodes.enumerated().filter { !removed.contains($0.offset) }.map(\.element)
    }

    /// The clamp a Relu or a Clip with constant bounds applies; nil for any other node.
    public func activationClamp(_ node: Node) -> FloatClamp? {
        if let unary = node.op as? UnaryOperator { return unary.asClamp }
        if let clip = node.op as? ClipOperator { return clip.constantClamp(operands(of: node)) }
        return nil
    }

    /// Fuses Relu and Clip (bounds known at load) into the epilogue of the Conv, Gemm, MatMul or
    /// float Add/Sub/Mul/Div that feeds them, when nothing else reads the pre-activation tensor.
    public mutating func fuseActivations(keeping keep: Set<String> = []) throws {
        let producer = producers()
        let uses = useCounts()
        var removed = Set<Int>()
        for (n, node) in nodes.enumerated() {
            guard let clamp = activationClamp(node), let x = node.inputs[0], let p = producer[x.index], !removed.contains(p),
                  uses[x.index] == 1, !outputs.contains(x), !keep.contains(values[x.index].name),
                  values[x.index].type?.dataType == .float32
            else { continue }
            var op = nodes[p].op
            func merge(_ existing: FloatClamp) -> FloatClamp {
                FloatClamp(lower: Swift.max(existing.lower, clamp.lower), upper: Swift.min(existing.upper, clamp.upper))
            }
            if var conv = op as? ConvOperator { conv.clamp = merge(conv.clamp); op = conv }
            else if var gemm = op as? GemmOperator { gemm.clamp = merge(gemm.clamp); op = gemm }
            else if var matmul = op as? MatMulOperator { matmul.clamp = merge(matmul.clamp); op = matmul }
            else if var binary = op as? BinaryOperator, binary.op != .prelu { binary.clamp = merge(binary.clamp); op = binary }
            else { continue }
            nodes[p].op = op
            nodes[p].outputs = [node.outputs[0]]
            nodes[p].info.name += "+" + node.info.name
            removed.insert(n)
        }
        nodes = nodes.enumerated().filter { !removed.contains($0.offset) }.map(\.element)
    }
}
