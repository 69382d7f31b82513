/// ONNX Dropout in inference mode when the mask output is requested: the output is the input,
/// the mask all true. (Without a mask, Dropout is imported as a view and costs nothing.)
public struct DropoutOperator: Operator {
    public init() {}
    public var kind: String { "Dropout" }

    public func outputTypes(for inputs: [Operand?]) throws -> [TensorType] {
        let x = try requireInput(inputs, 0, "data").type
        if inputs.count > 2, let training = inputs[2] {
            guard let value = training.constant?.integers() ?? training.constant?.floatValues()?.map({ Int($0) }), value.allSatisfy({ $0 == 0 }) else {
                throw OperatorError("training_mode must be a constant false (inference only)")
            }
        }
        return [x, TensorType(.bool, x.shape)]
    }

    public func makeStep(_ b: StepBinding) throws -> Step {
        let source = b.input(0).pointer, target = b.outputs[0].pointer, bytes = b.outputs[0].type.byteCount
        let mask = b.outputs.count > 1 ? b.outputs[1].typed(Bool.self) : nil
        let count = b.outputs[0].type.elementCount
        return {
            target.copyMemory(from: source, byteCount: bytes)
            mask?.update(repeating: true, count: count)
        }
    }
}
