// The int8 model and its float reference, loaded and checked as a pair.
import Foundation
import ONNXImport
import QuantGraph
import QuantMetrics

/// An int8 model, its float reference, and what pairing them tells: which int8 tensors hold a folded
/// activation (its floor or ceiling is not saturation), which output is compared.
public struct MonitoredModels: @unchecked Sendable {
    public let int8: CompiledModel
    public let float: CompiledModel
    /// int8 tensors whose low (high) end is a folded Relu / Clip floor (ceiling).
    public let activationBounds: ActivationBounds
    /// The compared output: its index in each model.
    public let int8Output: Int, floatOutput: Int
    /// Classes of the compared output (its last axis) when it is a classifier, else nil.
    public let classes: Int?

    /// Loads both files. Refusals name the file and what was expected: same single float32 input,
    /// an output of the same name and element count.
    public static func load(int8 int8URL: URL, float floatURL: URL, output: String? = nil) throws -> MonitoredModels {
        let int8Model = try ONNXModel.load(contentsOf: int8URL)
        let floatModel = try ONNXModel.load(contentsOf: floatURL)
        let bounds = try activationBounds(int8: int8Model.graph, reference: floatURL)
        var options = int8Model.compileOptions
        options.keep = Set(int8Model.graph.outputs.map { int8Model.graph[$0].name })
        options.activationBounds = bounds   // their kernels skip that side (not saturation)
        let int8 = try int8Model.compile(options)
        let float = try floatModel.compile()
        return try MonitoredModels(int8: int8, float: float, int8Path: int8URL.path, floatPath: floatURL.path,
                                   activationBounds: bounds, output: output)
    }

    /// The int8 tensors of `int8` whose floor or ceiling is an activation the quantizer folded, found
    /// against the float model at `reference` loaded unfused (every exported tensor name kept), as
    /// `run`, `eval` and `bench --reference` plan an int8 model (`ModelPairing.activationBounds`).
    public static func activationBounds(int8: Graph, reference: URL) throws -> ActivationBounds {
        var unfused = ImportOptions()
        unfused.compile.foldBatchNormalization = false
        unfused.compile.fuseActivations = false
        let floatGraph = try ONNXModel.load(contentsOf: reference, options: unfused).graph
        return ModelPairing.activationBounds(float: floatGraph, int8: int8)
    }

    /// Pairs two compiled models (the int8 model's outputs must be kept: `CompileOptions.keep`).
    public init(int8: CompiledModel, float: CompiledModel, int8Path: String = "int8 model", floatPath: String = "float model",
                activationBounds: ActivationBounds, output: String? = nil) throws {
        guard int8.inputs.count == 1, float.inputs.count == 1 else {
            throw MonitorError("monitoring needs single-input models; \(int8Path) has \(int8.inputs.count) inputs, \(floatPath) \(float.inputs.count)")
        }
        guard int8.inputs[0].type == float.inputs[0].type, int8.inputs[0].type.dataType == .float32 else {
            throw MonitorError("the models' inputs differ or are not float32: \(int8Path) takes \(int8.inputs[0]), \(floatPath) takes \(float.inputs[0])")
        }
        let name = output ?? float.outputs[0].name
        guard let fo = float.outputs.firstIndex(where: { $0.name == name }) else {
            throw MonitorError("\(floatPath) has no output '\(name)' (its outputs: \(float.outputs.map(\.name).joined(separator: ", ")))")
        }
        guard let io = int8.outputs.firstIndex(where: { $0.name == name }) else {
            throw MonitorError("\(int8Path) has no output '\(name)' (its outputs: \(int8.outputs.map(\.name).joined(separator: ", ")))")
        }
        guard int8.outputs[io].type.elementCount == float.outputs[fo].type.elementCount else {
            throw MonitorError("output '\(name)' is \(int8.outputs[io].type) in \(int8Path) but \(float.outputs[fo].type) in \(floatPath)")
        }
        guard float.outputs[fo].type.dataType == .float32 else {
            throw MonitorError("output '\(name)' of \(floatPath) is \(float.outputs[fo].type); expected float32")
        }
        var probe = [Float](repeating: 0, count: int8.outputs[io].type.elementCount)
        guard probe.withUnsafeMutableBufferPointer({ int8.readDequantized(name, into: $0) }) else {
            throw MonitorError("output '\(name)' of \(int8Path) is \(int8.outputs[io].type) with no known quantization (or was not kept); expected float32 or a quantized tensor")
        }
        self.int8 = int8
        self.float = float
        self.activationBounds = activationBounds
        int8Output = io
        floatOutput = fo
        let shape = float.outputs[fo].type.shape
        let last = shape.last ?? 1
        classes = shape.count >= 1 && last > 1 && float.outputs[fo].type.elementCount == last ? last : nil
    }
}
