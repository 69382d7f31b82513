import QuantKernels

extension Graph {
    /// The operands a node sees: each present input's type and, when known, its value.
    func operands(of node: Node) -> [Operand?] {
        node.inputs.map { id in
            id.map { Operand(type: values[$0.index].type!, constant: values[$0.index].constant) }
        }
    }

    /// Infers every value's static type in topological order and folds every node whose outputs
    /// are known at load time: nodes whose inputs are all constants, and nodes such as Shape
    /// whose outputs follow from types alone. Folded nodes are removed; their outputs become
    /// constants. Requires `sortTopologically()` first.
    public mutating func inferTypesAndFold(foldEverything: Bool = false) throws {
        var kept: [Node] = []
        kept.reserveCapacity(nodes.count)
        for node in nodes {
            let operands = operands(of: node)
            let types: [TensorType]
            do {
                types = try node.op.outputTypes(for: operands)
            } catch let error as OperatorError {
                throw ModelError.node(node.info, error.reason)
            }
            guard types.count >= node.outputs.count else {
                throw ModelError.node(node.info, "has \(node.outputs.count) outputs; this operator produces \(types.count)")
            }
            for (i, output) in node.outputs.enumerated() {
                if let declared = values[output.index].type, declared.dataType != types[i].dataType {
                    throw ModelError.node(node.info, "output '\(values[output.index].name)' is declared \(declared.dataType) but the operator produces \(types[i].dataType)")
                }
                values[output.index].type = types[i]
            }
            if let folded = node.op.outputsFromTypes(operands) {
                for (i, output) in node.outputs.enumerated() { values[output.index].constant = folded[i] }
                continue
            }
            let allConstant = operands.allSatisfy { $0 == nil || $0!.constant != nil }
            if allConstant && (node.op.isFoldable || foldEverything) {
                let results = try evaluate(node, operands: operands, outputTypes: Array(types.prefix(node.outputs.count)))
                for (i, output) in node.outputs.enumerated() { values[output.index].constant = results[i] }
                continue
            }
            kept.append(node)
        }
        nodes = kept
    }

    /// Runs one node on constant inputs at load time.
    func evaluate(_ node: Node, operands: [Operand?], outputTypes: [TensorType]) throws -> [Tensor] {
        let outputs = outputTypes.map { Tensor(zeros: $0) }
        let scratchBytes = node.op.scratchByteCount(inputs: operands, outputs: outputTypes)
        let scratch = TensorStorage(byteCount: scratchBytes)
        let counters = TensorStorage(byteCount: max(node.op.counterCount, 1) * MemoryLayout<SaturationCounts>.stride)
        counters.pointer.initializeMemory(as: SaturationCounts.self, repeating: SaturationCounts(), count: max(node.op.counterCount, 1))
        let binding = StepBinding(
            inputs: operands.map { operand in
                operand.map { BoundValue(type: $0.type, pointer: $0.constant!.storage.pointer, constant: $0.constant) }
            },
            outputs: outputs.map { BoundValue(type: $0.type, pointer: $0.storage.pointer) },
            scratch: scratch.pointer,
            counters: counters.pointer.bindMemory(to: SaturationCounts.self, capacity: max(node.op.counterCount, 1))
        )
        do {
            let step = try node.op.makeStep(binding)
            step()
        } catch let error as OperatorError {
            throw ModelError.node(node.info, error.reason)
        }
        return outputs
    }

    /// Removes nodes whose outputs no graph output depends on.
    public mutating func removeDeadNodes(keeping keep: Set<String> = []) {
        var live = [Bool](repeating: false, count: values.count)
        for output in outputs { live[output.index] = true }
        for (i, value) in values.enumerated() where keep.contains(value.name) { live[i] = true }
        var kept: [Node] = []
        for node in nodes.reversed() where node.outputs.contains(where: { live[$0.index] }) {
            kept.append(node)
            for case let input? in node.inputs { live[input.index] = true }
        }
        nodes = kept.reversed()
    }
}
