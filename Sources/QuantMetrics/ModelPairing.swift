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

    public init(floatTensor: String, int8Tensor: String, afterActivation: String? = nil, foldedActivation: Bool? = nil) {
        self.floatTensor = floatTensor
        self.int8Tensor = int8Tensor
        self.afterActivation = afterActivation
        self.foldedActivation = foldedActivation ?? (afterActivation != nil)
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
        var floatProducer: [String: Node] = [:]
        for node in float.nodes { for output in node.outputs { floatProducer[float[output].name] = node } }
        var int8Producer: [String: Node] = [:]
        for node in int8.nodes { for output in node.outputs { int8Producer[int8[output].name] = node } }
        let pairs = result.matches.map { match -> LayerPair in
            var pair = LayerPair(floatTensor: match.floatName, int8Tensor: match.int8Name)
            if let readers = consumers[match.floatName], readers.count == 1, isActivation(readers[0]) {
                let activated = float[readers[0].outputs[0]].name
                if !matchedFloat.contains(activated) { pair.afterActivation = activated }
            }
            if let producer = floatProducer[match.floatName], isActivation(producer),
               !(int8Producer[match.int8Name].map(isActivation) ?? false) {
                pair.foldedActivation = true
            }
            pair.foldedActivation = pair.foldedActivation || pair.afterActivation != nil
            return pair
        }
        return (pairs, result.unmatchedFloat, result.unmatchedInt8)
    }

    /// The int8 tensors whose low saturation is a folded activation's floor, not saturation
    /// (METRICS.md: "a fused activation's own floor is not saturation"). `float`: unfused reference.
    public static func activationFloors(float: Graph, int8: Graph) -> Set<String> {
        Set(matchLayers(float: float, int8: int8).pairs.filter(\.foldedActivation).map(\.int8Tensor))
    }
}
