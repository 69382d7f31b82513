// Matching the tensors of an int8 model to those of its float reference, by name (METRICS.md).

/// How an int8 tensor's name relates to the float name it was matched to.
public enum LayerMatchKind: String, Sendable, Codable, Equatable {
    /// `<float>_DequantizeLinear_Output` (QDQ): the int8 value dequantized, a float tensor.
    case dequantized
    /// `<float>` itself: a float tensor of the int8 graph (a layer kept in float, an op that is not
    /// quantized, a graph output produced by the final DequantizeLinear, a graph input).
    case exact
    /// `<float>_quantized` (QOperator: the output of the QLinear* op; also QuantizeLinear of an input):
    /// int8 storage, dequantize with its scale and zero point.
    case quantized
    /// `<float>_QuantizeLinear_Output` (QDQ): the int8 storage of the QuantizeLinear.
    case quantizeLinearOutput
    /// `<float>_QuantizeLinear_Input` (QDQ): the float value *before* the final QuantizeLinear, renamed
    /// because the DequantizeLinear after it took the float name (graph outputs).
    case quantizeLinearInput

    /// The suffix onnxruntime's quantizer appends to the float name ("" for `exact`).
    public var suffix: String {
        switch self {
        case .dequantized: "_DequantizeLinear_Output"
        case .exact: ""
        case .quantized: "_quantized"
        case .quantizeLinearOutput: "_QuantizeLinear_Output"
        case .quantizeLinearInput: "_QuantizeLinear_Input"
        }
    }

    /// Whether the tensor holds int8 (or uint8) codes that need the scale and zero point.
    public var isQuantizedStorage: Bool { self == .quantized || self == .quantizeLinearOutput }

    /// Preference order when several int8 tensors carry the same float name (first wins).
    static let preference: [LayerMatchKind] = [.dequantized, .exact, .quantized, .quantizeLinearOutput, .quantizeLinearInput]
    /// Suffixes tried when a name is not itself a float name (longest-specific first; one is stripped).
    static let suffixed: [LayerMatchKind] = [.dequantized, .quantized, .quantizeLinearOutput, .quantizeLinearInput]
}

/// One float tensor and the int8 tensor that holds the same value in the int8 model.
public struct LayerMatch: Sendable, Equatable {
    /// The float model's tensor name.
    public var floatName: String
    /// The int8 model's tensor chosen for the comparison (see `LayerMatcher` for the preference).
    public var int8Name: String
    public var kind: LayerMatchKind
    /// Other int8 tensors carrying the same float name, in preference order (e.g. in QDQ the
    /// pre-quantization float value and the int8 codes next to the chosen dequantized value).
    public var alternatives: [String]
    /// The int8 tensor's quantization, when the caller gave it: looked up for `int8Name`, else for
    /// the first alternative that has one (a QDQ DequantizeLinear output shares the scale and zero
    /// point of the QuantizeLinear output next to it). Needed to dequantize `.quantized` storage and
    /// for `rmse_over_scale`.
    public var scale: Float?
    public var zeroPoint: Int?

    public init(floatName: String, int8Name: String, kind: LayerMatchKind, alternatives: [String] = [],
                scale: Float? = nil, zeroPoint: Int? = nil) {
        self.floatName = floatName
        self.int8Name = int8Name
        self.kind = kind
        self.alternatives = alternatives
        self.scale = scale
        self.zeroPoint = zeroPoint
    }
}

/// The outcome of matching: the pairs, and what could not be matched on each side — reported, never
/// guessed.
public struct LayerMatchResult: Sendable, Equatable {
    /// In the order of the float names given.
    public var matches: [LayerMatch]
    /// Float names with no int8 tensor of the same name (in the order given).
    public var unmatchedFloat: [String]
    /// Int8 names that are neither chosen nor an alternative of any match (in the order given).
    public var unmatchedInt8: [String]

    /// The match of a float name, if any.
    public func match(forFloat name: String) -> LayerMatch? { matches.first { $0.floatName == name } }
}

/// Matches the tensors of an int8 model (from onnxruntime's `quantize_static`, QDQ or QOperator) to
/// its float reference **by name**, as METRICS.md says: onnxruntime keeps the float model's tensor
/// names, or derives the int8 names from them by appending one suffix.
///
/// Rules
/// 1. An int8 name that is itself a float name carries that name (`exact`).
/// 2. Otherwise, if stripping ONE of the suffixes `_DequantizeLinear_Output`, `_quantized`,
///    `_QuantizeLinear_Output`, `_QuantizeLinear_Input` leaves a float name, it carries that name.
///    Nothing else is stripped or fuzzily compared; suffixes are not stripped repeatedly.
/// 3. When several int8 tensors carry the same float name, the match takes the first in the order
///    `_DequantizeLinear_Output` (the int8 value as float: what the comparison wants), exact name,
///    `_quantized`, `_QuantizeLinear_Output` (int8 codes: dequantize with `scale`/`zeroPoint`),
///    `_QuantizeLinear_Input`; the others are listed as `alternatives`.
/// 4. Float names that no int8 name carries are `unmatchedFloat`; int8 names that carry no float
///    name are `unmatchedInt8`. Names given twice count once.
///
/// What the fixtures show (Fixtures/digits; value names = non-initializer inputs and node outputs):
/// - QDQ (`model.int8.qdq.onnx`): onnxruntime's pre-processing fuses Conv+BatchNormalization+Relu, and
///   the fused Conv's output takes the *last* fused name: `/relu1/Relu_output_0`. That tensor is
///   quantized: `/relu1/Relu_output_0_QuantizeLinear_Output` → DequantizeLinear →
///   `/relu1/Relu_output_0_DequantizeLinear_Output`, which is matched (alternatives: the exact name,
///   here the pre-quantization float output, and the codes). The graph output is the exception: the
///   final DequantizeLinear carries the float name `probabilities` (exact), the Softmax output before
///   it is renamed `probabilities_QuantizeLinear_Input`. 7 of 12 float values match; unmatched float:
///   the fused-away `/conv1/Conv_output_0`, `/bn1/BatchNormalization_output_0`, `/conv2/…`, `/bn2/…`,
///   and `/fc1/Gemm_output_0` (Gemm+Relu fused, output named `/relu3/Relu_output_0`); unmatched int8:
///   the 8 dequantized weights and biases (`fc1.weight_DequantizeLinear_Output`, `fc1.bias`,
///   `ConvBnFusion_W_conv1.weight_DequantizeLinear_Output`, …), which match only if the caller also
///   passes the float model's initializer names (`fc1.weight`, `fc1.bias` do; the `ConvBnFusion_*`
///   weights exist only after fusion and stay unmatched).
/// - QOperator (`model.int8.qop.onnx`): the QLinearConv output is `/bn1/BatchNormalization_output_0_quantized`
///   (the BatchNormalization name, the Relu is folded into the output range), Flatten keeps
///   `/flatten/Flatten_output_0_quantized`, QGemm `/fc1/Gemm_output_0_quantized`; the input is
///   matched exactly (`input`, alternative `input_quantized`) and so is `probabilities`. 7 of 12 float
///   values match, all 9 int8 values are used. Caution, visible only in the graph, not in the names:
///   with a fused Relu the int8 `/bn1/BatchNormalization_output_0_quantized` already holds the Relu'd
///   value (its range starts at 0), while the float `/bn1/BatchNormalization_output_0` is before the
///   Relu; the caller that knows the graph should compare it with `/relu1/Relu_output_0` instead.
/// - Patches (MobileNet-like, with Clip and residual Add): QDQ 25 of 54 float values match, 36 int8
///   values unmatched (dequantized weights and biases); QOperator 25 matched, none unmatched.
public enum LayerMatcher {
    /// Matches the value names of a float graph and of its int8 version.
    /// - Parameters:
    ///   - float: the float model's tensor names (typically graph inputs and node outputs; add the
    ///     initializer names to also match weights).
    ///   - quantized: the int8 model's tensor names.
    ///   - quantization: the int8 tensors' scale and zero point by name, when known (per tensor).
    public static func match(float: [String], quantized: [String],
                             quantization: [String: (scale: Float, zeroPoint: Int)]? = nil) -> LayerMatchResult {
        let floatNames = Set(float)
        // float name → candidates (kind, int8 name)
        var candidates: [String: [(kind: LayerMatchKind, name: String)]] = [:]
        var seenInt8 = Set<String>()
        var carried = Set<String>()
        for name in quantized where seenInt8.insert(name).inserted {
            guard let (stem, kind) = carriedName(name, floatNames: floatNames) else { continue }
            candidates[stem, default: []].append((kind, name))
            carried.insert(name)
        }
        var matches: [LayerMatch] = []
        var unmatchedFloat: [String] = []
        var seenFloat = Set<String>()
        for name in float where seenFloat.insert(name).inserted {
            guard let found = candidates[name] else {
                unmatchedFloat.append(name)
                continue
            }
            let ordered = found.sorted {
                LayerMatchKind.preference.firstIndex(of: $0.kind)! < LayerMatchKind.preference.firstIndex(of: $1.kind)!
            }
            let names = ordered.map(\.name)
            var match = LayerMatch(floatName: name, int8Name: names[0], kind: ordered[0].kind,
                                   alternatives: Array(names.dropFirst()))
            if let quantization, let params = names.lazy.compactMap({ quantization[$0] }).first {
                match.scale = params.scale
                match.zeroPoint = params.zeroPoint
            }
            matches.append(match)
        }
        var unmatchedInt8: [String] = []
        var listed = Set<String>()
        for name in quantized where !carried.contains(name) && listed.insert(name).inserted {
            unmatchedInt8.append(name)
        }
        return LayerMatchResult(matches: matches, unmatchedFloat: unmatchedFloat, unmatchedInt8: unmatchedInt8)
    }

    /// The float name an int8 tensor name carries (rules 1 and 2), if any.
    public static func carriedName(_ int8Name: String, floatNames: Set<String>) -> (floatName: String, kind: LayerMatchKind)? {
        if floatNames.contains(int8Name) { return (int8Name, .exact) }
        for kind in LayerMatchKind.suffixed where int8Name.hasSuffix(kind.suffix) {
            let stem = String(int8Name.dropLast(kind.suffix.count))
            if floatNames.contains(stem) { return (stem, kind) }
        }
        return nil
    }
}
