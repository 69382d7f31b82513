import QuantGraph
import QuantKernels

/// What a builder knows about the node it converts.
struct NodeContext {
    let info: NodeInfo
    let attributes: Attributes
    /// The default-domain opset the model imports: selects each operator's version semantics.
    let opset: Int
    let inputCount: Int
    let outputCount: Int

    func refuse(_ reason: String) -> ModelError { .node(info, reason) }

    func window(allowDilations: Bool = true) throws -> WindowAttributes {
        let autoPadName = try attributes.string("auto_pad") ?? "NOTSET"
        guard let autoPad = AutoPad(rawValue: autoPadName) else {
            throw refuse("auto_pad '\(autoPadName)' is not one of NOTSET, VALID, SAME_UPPER, SAME_LOWER")
        }
        return WindowAttributes(
            kernelShape: try attributes.ints("kernel_shape"), strides: try attributes.ints("strides"),
            dilations: allowDilations ? try attributes.ints("dilations") : nil, pads: try attributes.ints("pads"),
            autoPad: autoPad, ceilMode: try attributes.int("ceil_mode", default: 0) != 0)
    }

    func requireOutputs(_ count: Int, _ why: String) throws {
        if outputCount > count { throw refuse(why) }
    }
}

typealias OperatorBuilder = @Sendable (NodeContext) throws -> any Operator

/// The ONNX operators (default domain) the engine runs, each mapped to a typed graph operator
/// with its version semantics resolved from the model's opset.
enum OperatorTable {
    static let minimumOpset = 10
    static let maximumOpset = 28

    static let builders: [String: OperatorBuilder] = [
        "Conv": { c in ConvOperator(window: try c.window(), groups: try c.attributes.int("group", default: 1)) },
        "Gemm": { c in
            GemmOperator(alpha: try c.attributes.float("alpha", default: 1), beta: try c.attributes.float("beta", default: 1),
                         transA: try c.attributes.int("transA", default: 0) != 0, transB: try c.attributes.int("transB", default: 0) != 0)
        },
        "MatMul": { _ in MatMulOperator() },
        "Relu": { _ in UnaryOperator(.relu) },
        "LeakyRelu": { c in UnaryOperator(.leakyRelu(alpha: try c.attributes.float("alpha", default: 0.01))) },
        "PRelu": { _ in BinaryOperator(.prelu, unidirectional: true) },
        "Sigmoid": { _ in UnaryOperator(.sigmoid) },
        "Tanh": { _ in UnaryOperator(.tanh) },
        "HardSigmoid": { c in
            UnaryOperator(.hardSigmoid(alpha: try c.attributes.float("alpha", default: 0.2), beta: try c.attributes.float("beta", default: 0.5)))
        },
        "HardSwish": { _ in UnaryOperator(.hardSwish) },
        "Clip": { c in
            // Opset 6–10: bounds are attributes. From 11: optional inputs.
            if c.opset < 11 {
                return UnaryOperator(.clip(lower: try c.attributes.float("min", default: -.greatestFiniteMagnitude),
                                           upper: try c.attributes.float("max", default: .greatestFiniteMagnitude)))
            }
            return ClipOperator()
        },
        "MaxPool": { c in
            try c.requireOutputs(1, "the Indices output of MaxPool is not supported")
            if try c.attributes.int("storage_order", default: 0) != 0 { throw c.refuse("storage_order=1 (column-major indices) is not supported") }
            return PoolOperator(.max, window: try c.window())
        },
        "AveragePool": { c in
            // dilations appear in opset 19; count_include_pad since 7.
            PoolOperator(.average(countIncludePad: try c.attributes.int("count_include_pad", default: 0) != 0),
                         window: try c.window(allowDilations: c.opset >= 19))
        },
        "GlobalAveragePool": { _ in GlobalPoolOperator(isMax: false) },
        "GlobalMaxPool": { _ in GlobalPoolOperator(isMax: true) },
        "Add": { _ in BinaryOperator(.add) },
        "Sub": { _ in BinaryOperator(.sub) },
        "Mul": { _ in BinaryOperator(.mul) },
        "Div": { _ in BinaryOperator(.div) },
        "Sum": { _ in SumOperator() },
        "Concat": { c in
            guard let axis = try c.attributes.int("axis") else { throw c.refuse("attribute 'axis' is required") }
            return ConcatOperator(axis: axis)
        },
        "Flatten": { c in ViewOperator(.flatten(axis: try c.attributes.int("axis", default: 1)), name: "Flatten") },
        "Reshape": { c in ViewOperator(.reshape(allowZero: try c.attributes.int("allowzero", default: 0) != 0), name: "Reshape") },
        "Squeeze": { c in
            // Axes: attribute before opset 13, input from 13.
            ViewOperator(.squeeze(axes: c.opset < 13 ? try c.attributes.ints("axes") : nil), name: "Squeeze")
        },
        "Unsqueeze": { c in
            if c.opset < 13 {
                guard let axes = try c.attributes.ints("axes") else { throw c.refuse("attribute 'axes' is required before opset 13") }
                return ViewOperator(.unsqueeze(axes: axes), name: "Unsqueeze")
            }
            return ViewOperator(.unsqueeze(axes: nil), name: "Unsqueeze")
        },
        "Identity": { _ in ViewOperator(.identity, name: "Identity") },
        "Dropout": { c in
            // Inference: the identity. Opset 12 moved training_mode to an input (checked at import).
            if c.opset < 12, try c.attributes.int("is_test", default: 1) == 0 { throw c.refuse("Dropout in training mode is not supported") }
            if c.outputCount > 1 || c.inputCount > 2 { return DropoutOperator() }
            return ViewOperator(.identity, name: "Dropout")
        },
        "Transpose": { c in TransposeOperator(permutation: try c.attributes.ints("perm")) },
        "Pad": { c in
            let mode = try c.attributes.string("mode") ?? "constant"
            guard mode == "constant" else { throw c.refuse("mode '\(mode)' is not supported (only 'constant')") }
            if c.opset < 11 {
                guard let pads = try c.attributes.ints("pads") else { throw c.refuse("attribute 'pads' is required before opset 11") }
                return PadOperator(pads: pads, value: try c.attributes.float("value", default: 0))
            }
            return PadOperator()
        },
        "Softmax": { c in
            // Before opset 13: coerce to 2-D at axis (default 1). From 13: along axis (default -1).
            c.opset < 13
                ? SoftmaxOperator(axis: try c.attributes.int("axis", default: 1), coerceTo2D: true)
                : SoftmaxOperator(axis: try c.attributes.int("axis", default: -1), coerceTo2D: false)
        },
        "ReduceMean": { c in
            // Axes: attribute before opset 18, input from 18 (with noop_with_empty_axes).
            let noop = try c.attributes.int("noop_with_empty_axes", default: 0) != 0
            return ReduceMeanOperator(axes: c.opset < 18 ? try c.attributes.ints("axes") : nil,
                                      keepDims: try c.attributes.int("keepdims", default: 1) != 0,
                                      noopWithEmptyAxes: c.opset >= 18 && noop)
        },
        "BatchNormalization": { c in
            if c.opset >= 14, try c.attributes.int("training_mode", default: 0) != 0 {
                throw c.refuse("training_mode=1 is not supported (inference only)")
            }
            try c.requireOutputs(1, "the running mean/variance outputs exist only in training mode, which is not supported")
            return BatchNormalizationOperator(epsilon: try c.attributes.float("epsilon", default: 1e-5))
        },
        "Shape": { c in ShapeOperator(start: try c.attributes.int("start", default: 0), end: try c.attributes.int("end")) },
        "Gather": { c in GatherOperator(axis: try c.attributes.int("axis", default: 0)) },
        "Slice": { _ in SliceOperator() },
        "Cast": { c in
            guard let to = try c.attributes.int("to"), let type = ONNXDataType.dataType(Int32(to)) else {
                throw c.refuse("attribute 'to' names an unsupported type")
            }
            return CastOperator(to: type)
        },

        // MARK: Quantization (ai.onnx)
        "QuantizeLinear": { c in
            // Opset 10: per tensor. 13: axis. 21: block_size, output_dtype (blocked quantization refused).
            let blockSize = c.opset >= 21 ? try c.attributes.int("block_size", default: 0) : 0
            guard blockSize >= 0 else { throw c.refuse("block_size \(blockSize) must not be negative") }
            var type = DataType.uint8
            if let raw = try c.attributes.int("output_dtype"), raw != 0 {
                guard let t = ONNXDataType.dataType(Int32(raw)) else { throw c.refuse("output_dtype \(raw) is not supported") }
                type = t
            }
            return QuantizeLinearOperator(axis: c.opset >= 13 ? try c.attributes.int("axis", default: 1) : 1, defaultType: type, blockSize: blockSize)
        },
        "DequantizeLinear": { c in
            let blockSize = c.opset >= 21 ? try c.attributes.int("block_size", default: 0) : 0
            guard blockSize >= 0 else { throw c.refuse("block_size \(blockSize) must not be negative") }
            return DequantizeLinearOperator(axis: c.opset >= 13 ? try c.attributes.int("axis", default: 1) : 1, blockSize: blockSize)
        },
        "QLinearConv": { c in QLinearConvOperator(window: try c.window(), groups: try c.attributes.int("group", default: 1)) },
        "QLinearMatMul": { _ in QLinearMatMulOperator() },
        "ConvInteger": { c in ConvIntegerOperator(window: try c.window(), groups: try c.attributes.int("group", default: 1)) },
        "MatMulInteger": { _ in MatMulIntegerOperator() },
        "DynamicQuantizeLinear": { _ in DynamicQuantizeLinearOperator() },
    ]

    /// Operators whose ONNX input order differs from the graph operator's: position i of the
    /// operator reads the node's input `order[i]` (nil: absent).
    static let inputOrder: [String: [Int?]] = [
        // QLinearMatMul has no bias: a, a_s, a_zp, b, b_s, b_zp, y_s, y_zp → QGemm's order with bias absent.
        "QLinearMatMul": [0, 1, 2, 3, 4, 5, nil, 6, 7],
    ]

    /// The com.microsoft operators that `quantize_static` emits in QOperator format.
    static let microsoftBuilders: [String: OperatorBuilder] = [
        "QGemm": { c in
            guard try c.attributes.int("transA", default: 0) == 0 else { throw c.refuse("transA=1 is not supported") }
            guard try c.attributes.float("alpha", default: 1) == 1 else { throw c.refuse("alpha other than 1 is not supported") }
            return QLinearMatMulOperator(transB: try c.attributes.int("transB", default: 0) != 0, name: "QGemm")
        },
        "QLinearAdd": { _ in QLinearArithmeticOperator(.add) },
        "QLinearMul": { _ in QLinearArithmeticOperator(.mul) },
        "QLinearSigmoid": { _ in QLinearLookupOperator(.sigmoid) },
        "QLinearLeakyRelu": { c in QLinearLookupOperator(.leakyRelu(alpha: try c.attributes.float("alpha", default: 0.01))) },
        "QLinearGlobalAveragePool": { c in
            guard try c.attributes.int("channels_last", default: 0) == 0 else { throw c.refuse("channels_last=1 (NHWC) is not supported") }
            return QLinearPoolOperator(.globalAverage)
        },
        "QLinearAveragePool": { c in
            guard try c.attributes.int("channels_last", default: 0) == 0 else { throw c.refuse("channels_last=1 (NHWC) is not supported") }
            return QLinearPoolOperator(.average(countIncludePad: try c.attributes.int("count_include_pad", default: 0) != 0), window: try c.window(allowDilations: false))
        },
        "QLinearSoftmax": { c in
            // The `opset` attribute carries the Softmax semantics the node was made from.
            let opset = try c.attributes.int("opset", default: 13)
            return opset < 13
                ? QLinearSoftmaxOperator(axis: try c.attributes.int("axis", default: 1), coerceTo2D: true)
                : QLinearSoftmaxOperator(axis: try c.attributes.int("axis", default: -1), coerceTo2D: false)
        },
        "QLinearConcat": { c in
            guard let axis = try c.attributes.int("axis") else { throw c.refuse("attribute 'axis' is required") }
            return QLinearConcatOperator(axis: axis)
        },
    ]

    /// Operators this build runs, for `inspect` and error messages.
    static var supported: [String] { (builders.keys + ["Constant"] + microsoftBuilders.keys.map { "com.microsoft::\($0)" }).sorted() }
}
