import QuantMetrics

/// The offline quantization report: an int8 model against its float reference on a frame set
/// (METRICS.md, "Data-set level"). Every field is JSON with the metric names of METRICS.md.
public struct EvaluationReport: Codable, Sendable {
    public struct Output: Codable, Sendable {
        public var name: String
        public var summary: ComparisonSummary
    }

    public struct Accuracy: Codable, Sendable {
        public var labels: Int
        public var int8: Double
        public var float: Double
        /// int8 correct minus float correct, as a rate.
        public var delta: Double
    }

    /// One matched tensor of the two models.
    public struct Layer: Codable, Sendable {
        public var rank: Int
        public var floatTensor: String
        public var int8Tensor: String
        public var node: String
        public var opType: String
        /// float model vs int8 model, each on its own path (what the device sees).
        public var accumulated: ComparisonSummary
        /// the float operator fed with the int8 model's dequantized input (which layer is to blame).
        public var local: ComparisonSummary?
        public var rmseOverScale: Double?
        public var saturationHigh: Double?
        public var saturationLow: Double?
        /// float weights vs the int8 model's dequantized weights.
        public var weightSqnrDb: Double?
        /// The float tensor compared is the output of the Relu/Clip after `floatTensor`, which the
        /// int8 model folded into its requantization.
        public var afterActivation: String?
    }

    /// A layer run in float while the rest stays int8: how much of the output error it recovers.
    public struct Sensitivity: Codable, Sendable {
        /// The ONNX node name as `quantize_static(nodes_to_exclude=[…])` expects it.
        public var node: String
        public var opType: String
        public var outputSqnrDb: Double
        public var recoveredDb: Double
        public var top1Agree: Double?
    }

    public struct Saturation: Codable, Sendable {
        public var tensor: String
        public var node: String
        public var high: Double
        public var low: Double
    }

    public var model: String
    public var reference: String
    public var frames: Int
    public var outputs: [Output]
    public var accuracy: Accuracy?
    public var layers: [Layer]?
    public var unmatchedFloat: [String]?
    public var unmatchedInt8: [String]?
    public var sensitivity: [Sensitivity]
    public var sensitivityFrames: Int
    /// Baseline output SQNR (dB) over the sensitivity frames, all layers int8.
    public var sensitivityBaselineSqnrDb: Double?
    public var saturation: [Saturation]
    /// Fraction of input elements outside the input quantizer's range.
    public var inputOutOfRange: Double?

    enum CodingKeys: String, CodingKey {
        case model, reference, frames, outputs, accuracy, layers, sensitivity, saturation
        case unmatchedFloat = "unmatched_float", unmatchedInt8 = "unmatched_int8"
        case sensitivityFrames = "sensitivity_frames", sensitivityBaselineSqnrDb = "sensitivity_baseline_sqnr_db"
        case inputOutOfRange = "input_out_of_range"
    }
}

extension EvaluationReport.Layer {
    enum CodingKeys: String, CodingKey {
        case rank, node, accumulated, local
        case floatTensor = "float_tensor", int8Tensor = "int8_tensor", opType = "op_type"
        case rmseOverScale = "rmse_over_scale", saturationHigh = "saturation_high", saturationLow = "saturation_low"
        case weightSqnrDb = "weight_sqnr_db", afterActivation = "after_activation"
    }
}

extension EvaluationReport.Sensitivity {
    enum CodingKeys: String, CodingKey {
        case node
        case opType = "op_type", outputSqnrDb = "output_sqnr_db", recoveredDb = "recovered_db", top1Agree = "top1_agree"
    }
}
