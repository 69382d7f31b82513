// Pairing an int8 model's graph with its float reference's: matched tensors (LayerMatcher, by
// name), and where the quantizer folded a float Relu / Clip into an int8 tensor's range.
import QuantGraph

/// One float tensor and the int8 tensor holding the same value.
public struct LayerPair: Sendable, Equatable {
    public var floatTensor: String
    public var int8Tensor: String
    /// The output of the float Relu / Clip that is `floatTensor`'s only reader, when the int8 model
    /// has no tensor of that name: the quantizer folded the activation into the int8 tensor's range
    /// (a uint8 zero point of 0 is ReLU's floor), so the int8 tensor holds the activation's output.
    public var afterActivation: String?
    /// The float tensor to compare with (the activation's output when the int8 model folded it).
    public var comparedFloat: String { afterActivation ?? floatTensor }
    /// Whether the int8 tensor's low end is a folded Relu / Clip floor: either `afterActivation`, or
    /// the float tensor itself is a Relu / Clip output that the int8 model computes without that op
    /// (QDQ: onnxruntime names the Conv's quantized output after the Relu it removed and gives it the
    /// zero point qmin). Values below qmin there are the activation, not saturation (METRICS.md).
    public var foldedActivation: Bool
    /// Whether the int8 tensor's high end is that folded activation's ceiling: a Clip whose max
    /// maps to qmax or below in the int8 tensor's quantization (round(max / scale) + zero point ≤
    /// qmax; a Relu6 that onnxruntime gave the range [0, 6]). Values above qmax there are the Clip,
    /// which the float model applies too, not saturation. A ceiling above qmax (the calibrated range
    /// ends below the Clip's max) leaves real saturation, still counted.
    public var foldedCeiling: Bool

    public init(floatTensor: String, int8Tensor: String, afterActivation: String? = nil, foldedActivation: Bool? = nil,
                foldedCeiling: Bool = false) {
        self.floatTensor = floatTensor
        self.int8Tensor = int8Tensor
        self.afterActivation = afterActivation
        self.foldedActivation = foldedActivation ?? (afterActivation != nil)
        self.foldedCeiling = foldedCeiling
    }
}

public enum ModelPairing {
    /// Matches produced tensors by name (`LayerMatcher`). `float` should be the reference graph
    /// *without* activation fusion, so every exported tensor name exists. When a matched float
    /// tensor's only reader is a Relu or Clip whose output the int8 model does not have, the pair
    /// carries that activation (`afterActivation`).
    public static func matchLayers(float: Graph, int8: Graph) -> (pairs: [LayerPair], unmatchedFloat: [String], unmatchedInt8: [String]) {
        let floatNames = float.nodes.flatMap { $0.outputs.map { float[$0].name } }
        let int8Names = int8.nodes.flatMap { node in
            node.outputs.filter { int8[$0].type?.dataType.isQuantized ?? false }.map { int8[$0].name }
        }
        let result = LayerMatcher.match(float: floatNames, quantized: int8Names)
        let matchedFloat = Set(result.matches.map(\.floatName))
        var consumers: [String: [Node]] = [:]
        for node in float.nodes { for case let input? in node.inputs { consumers[float[input].name, default: []].append(node) } }
        func isActivation(_ node: Node) -> Bool { node.op is ClipOperator || (node.op as? UnaryOperator)?.asClamp != nil }
        // Whether `activation`'s ceiling lies at or below qmax of the int8 tensor called `name`.
        func ceilingWithinRange(_ activation: Node, _ name: String) -> Bool {
            guard let clamp = float.activationClamp(activation), clamp.upper < .infinity,
                  let id = int8.valueID(named: name), let q = int8.quantization(of: id),
                  q.scales.count == 1, q.zeroPoints.count == 1, q.scales[0] > 0 else { return false }
            let ceiling = (Double(clamp.upper) / Double(q.scales[0])).rounded(.toNearestOrEven) + Double(q.zeroPoints[0])
            return ceiling <= Double(q.qmax)
        }
        var floatProducer: [String: Node] = [:]
        for node in float.nodes { for output in node.outputs { floatProducer[float[output].name] = node } }
        var int8Producer: [String: Node] = [:]
        for node in int8.nodes { for output in node.outputs { int8Producer[int8[output].name] = node } }
        let pairs = result.matches.map { match -> LayerPair in
            var pair = LayerPair(floatTensor: match.floatName, int8Tensor: match.int8Name)
            var activation: Node?
            if let readers = consumers[match.floatName], readers.count == 1, isActivation(readers[0]) {
                let activated = float[readers[0].outputs[0]].name
                if !matchedFloat.contains(activated) { pair.afterActivation = activated; activation = readers[0] }
            }
            if let producer = floatProducer[match.floatName], isActivation(producer),
               !(int8Producer[match.int8Name].map(isActivation) ?? false) {
                pair.foldedActivation = true
                activation = activation ?? producer
            }
            pair.foldedActivation = pair.foldedActivation || pair.afterActivation != nil
            pair.foldedCeiling = activation.map { ceilingWithinRange($0, match.int8Name) } ?? false
            return pair
        }
        return (pairs, result.unmatchedFloat, result.unmatchedInt8)
    }

    /// The int8 tensors whose low or high end is a folded activation's own bound, not saturation
    /// (METRICS.md: "a fused activation's own floor is not saturation"; a ceiling as in
    /// Requantize.swift). `float`: unfused reference.
    public static func activationBounds(float: Graph, int8: Graph) -> ActivationBounds {
        activationBounds(matchLayers(float: float, int8: int8).pairs)
    }

    /// The bounds `pairs` (from `matchLayers`) carry.
    public static func activationBounds(_ pairs: [LayerPair]) -> ActivationBounds {
        ActivationBounds(floors: Set(pairs.filter(\.foldedActivation).map(\.int8Tensor)),
                         ceilings: Set(pairs.filter(\.foldedCeiling).map(\.int8Tensor)))
    }
}
