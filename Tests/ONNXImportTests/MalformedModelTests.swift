import Foundation
import ONNXImport
import ONNXProto
import QuantGraph
import Testing
import TestSupport

// MARK: - A tiny ONNX model builder

/// One dim of a declared input or output: a number or a symbolic name.
enum Dim: ExpressibleByIntegerLiteral, ExpressibleByStringLiteral, Sendable {
    case value(Int64)
    case param(String)
    init(integerLiteral value: Int64) { self = .value(value) }
    init(stringLiteral value: String) { self = .param(value) }
}

/// Builds small ONNX models with the generated protobuf types.
struct ONNXBuilder {
    var model = Onnx_ModelProto()

    init(opset: Int64 = 17, irVersion: Int64 = 8) {
        model.irVersion = irVersion
        model.producerName = "MalformedModelTests"
        var entry = Onnx_OperatorSetIdProto()
        entry.domain = ""
        entry.version = opset
        model.opsetImport = [entry]
        model.graph.name = "test_graph"
    }

    static func valueInfo(_ name: String, _ dims: [Dim]?, _ type: Onnx_TensorProto.DataType) -> Onnx_ValueInfoProto {
        var tensor = Onnx_TypeProto.Tensor()
        tensor.elemType = Int32(type.rawValue)
        if let dims {
            var shape = Onnx_TensorShapeProto()
            shape.dim = dims.map { d in
                var dim = Onnx_TensorShapeProto.Dimension()
                switch d {
                case .value(let v): dim.dimValue = v
                case .param(let p): dim.dimParam = p
                }
                return dim
            }
            tensor.shape = shape
        }
        var info = Onnx_ValueInfoProto()
        info.name = name
        info.type.tensorType = tensor
        return info
    }

    mutating func input(_ name: String, _ dims: [Dim]?, type: Onnx_TensorProto.DataType = .float) {
        model.graph.input.append(Self.valueInfo(name, dims, type))
    }

    mutating func output(_ name: String, _ dims: [Dim]? = nil, type: Onnx_TensorProto.DataType = .float) {
        model.graph.output.append(Self.valueInfo(name, dims, type))
    }

    /// A float initializer stored in float_data.
    mutating func initializer(_ name: String, dims: [Int64], floats: [Float]) {
        var t = Onnx_TensorProto()
        t.name = name
        t.dims = dims
        t.dataType = Int32(Onnx_TensorProto.DataType.float.rawValue)
        t.floatData = floats
        model.graph.initializer.append(t)
    }

    /// A float initializer stored as little-endian raw_data.
    mutating func initializer(_ name: String, dims: [Int64], rawFloats: [Float]) {
        initializer(name, dims: dims, raw: rawFloats.withUnsafeBytes { Data($0) })
    }

    /// An initializer with arbitrary raw_data bytes.
    mutating func initializer(_ name: String, dims: [Int64], raw: Data, type: Onnx_TensorProto.DataType = .float) {
        var t = Onnx_TensorProto()
        t.name = name
        t.dims = dims
        t.dataType = Int32(type.rawValue)
        t.rawData = raw
        model.graph.initializer.append(t)
    }

    /// An int64 initializer (shapes, axes, indices).
    mutating func initializer(_ name: String, dims: [Int64], int64s: [Int64]) {
        var t = Onnx_TensorProto()
        t.name = name
        t.dims = dims
        t.dataType = Int32(Onnx_TensorProto.DataType.int64.rawValue)
        t.int64Data = int64s
        model.graph.initializer.append(t)
    }

    /// A float initializer whose bytes live in an external file.
    mutating func externalInitializer(_ name: String, dims: [Int64], location: String, offset: String? = nil, length: String? = nil) {
        var t = Onnx_TensorProto()
        t.name = name
        t.dims = dims
        t.dataType = Int32(Onnx_TensorProto.DataType.float.rawValue)
        t.dataLocation = .external
        var entries = [("location", location)]
        if let offset { entries.append(("offset", offset)) }
        if let length { entries.append(("length", length)) }
        t.externalData = entries.map { key, value in
            var entry = Onnx_StringStringEntryProto()
            entry.key = key
            entry.value = value
            return entry
        }
        model.graph.initializer.append(t)
    }

    mutating func node(_ opType: String, _ inputs: [String], _ outputs: [String], name: String? = nil,
                       domain: String? = nil, attributes: [Onnx_AttributeProto] = []) {
        var n = Onnx_NodeProto()
        n.opType = opType
        n.input = inputs
        n.output = outputs
        n.name = name ?? "\(opType.lowercased())_\(model.graph.node.count)"
        if let domain { n.domain = domain }
        n.attribute = attributes
        model.graph.node.append(n)
    }

    mutating func importOpset(domain: String, version: Int64) {
        var entry = Onnx_OperatorSetIdProto()
        entry.domain = domain
        entry.version = version
        model.opsetImport.append(entry)
    }

    func data() throws -> Data { try model.serializedData() }

    func load(options: ImportOptions = ImportOptions()) throws -> ONNXModel {
        try ONNXModel.load(data: try data(), source: "built.onnx", options: options)
    }

    /// The simplest valid model: y = Relu(x) with x: float[1, 4].
    static func relu() -> ONNXBuilder {
        var b = ONNXBuilder()
        b.input("x", [1, 4])
        b.output("y", [1, 4])
        b.node("Relu", ["x"], ["y"], name: "relu")
        return b
    }
}

enum Attr {
    static func int(_ name: String, _ value: Int64) -> Onnx_AttributeProto {
        var a = Onnx_AttributeProto()
        a.name = name
        a.type = .int
        a.i = value
        return a
    }

    static func ints(_ name: String, _ values: [Int64]) -> Onnx_AttributeProto {
        var a = Onnx_AttributeProto()
        a.name = name
        a.type = .ints
        a.ints = values
        return a
    }

    static func float(_ name: String, _ value: Float) -> Onnx_AttributeProto {
        var a = Onnx_AttributeProto()
        a.name = name
        a.type = .float
        a.f = value
        return a
    }
}

/// Runs `body`, which must throw a ModelError; checks its message contains every fragment.
@discardableResult
func expectModelError(_ fragments: String..., sourceLocation: SourceLocation = #_sourceLocation,
                      _ body: () throws -> Void) -> ModelError? {
    do {
        try body()
        Issue.record("expected a ModelError mentioning \(fragments), but nothing was thrown", sourceLocation: sourceLocation)
        return nil
    } catch let error as ModelError {
        for fragment in fragments {
            #expect(error.message.contains(fragment), "message should mention '\(fragment)': \(error.message)",
                    sourceLocation: sourceLocation)
        }
        return error
    } catch {
        Issue.record("expected a ModelError, got \(type(of: error)): \(error)", sourceLocation: sourceLocation)
        return nil
    }
}

/// A fresh temporary directory, removed by the caller.
func makeTemporaryDirectory() throws -> URL {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("quantwatch-tests-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    return url
}

// MARK: - Tests

@Suite struct MalformedModelTests {
    // MARK: Not a model at all

    @Test func emptyFileIsRefusedAsEmpty() {
        expectModelError("empty.onnx", "empty") {
            _ = try ONNXModel.load(data: Data(), source: "empty.onnx")
        }
    }

    @Test func emptyFileOnDiskIsRefusedAsEmpty() throws {
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let url = dir.appendingPathComponent("empty.onnx")
        try Data().write(to: url)
        expectModelError(url.path, "empty") { _ = try ONNXModel.load(contentsOf: url) }
    }

    @Test func missingFileIsRefusedWithItsPath() {
        let url = URL(fileURLWithPath: "/nonexistent/quantwatch/model.onnx")
        expectModelError("/nonexistent/quantwatch/model.onnx", "cannot read") { _ = try ONNXModel.load(contentsOf: url) }
    }

    @Test func randomBytesAreNotAModel() {
        var generator = SplitMix64(seed: 42)
        for length in [1, 7, 64, 1000, 4096] {
            let bytes = Data((0..<length).map { _ in UInt8(truncatingIfNeeded: generator.next()) })
            expectModelError("random.bin") { _ = try ONNXModel.load(data: bytes, source: "random.bin") }
        }
    }

    @Test func textFileIsNotAModel() {
        let text = Data("This is definitely not a protobuf file.\nIt is just text.\n".utf8)
        expectModelError("notes.txt") { _ = try ONNXModel.load(data: text, source: "notes.txt") }
    }

    @Test func modelWithoutGraphIsRefused() throws {
        var proto = Onnx_ModelProto()
        proto.irVersion = 8
        expectModelError("no graph") { _ = try ONNXModel.load(data: try proto.serializedData(), source: "nograph.onnx") }
    }

    @Test(arguments: [0.1, 0.5, 0.9, 0.99])
    func truncatedFixtureIsRefusedNotTrapped(_ fraction: Double) throws {
        let url = FixturePaths.url("digits/model.fp32.onnx")
        let full = try Data(contentsOf: url)
        // The complete file loads: the failure below is caused by the cut alone.
        _ = try ONNXModel.load(data: full, source: "model.fp32.onnx")
        let cut = full.prefix(Int(Double(full.count) * fraction))
        expectModelError("truncated.onnx") { _ = try ONNXModel.load(data: Data(cut), source: "truncated.onnx") }
    }

    @Test func truncatedFixtureFileOnDiskNamesItsPath() throws {
        let full = try Data(contentsOf: FixturePaths.url("digits/model.fp32.onnx"))
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let url = dir.appendingPathComponent("cut.onnx")
        try full.prefix(full.count / 2).write(to: url)
        expectModelError(url.path, "not a valid ONNX model", "truncated") { _ = try ONNXModel.load(contentsOf: url) }
    }

    // MARK: Initializers

    @Test func rawDataByteCountMismatchNamesTensorAndBothCounts() throws {
        var b = ONNXBuilder()
        b.input("x", [1, 4])
        b.output("y", [1, 4])
        b.initializer("bias", dims: [1, 4], raw: Data(count: 10))
        b.node("Add", ["x", "bias"], ["y"])
        expectModelError("'bias'", "16 bytes", "raw_data holds 10") { _ = try b.load() }
    }

    @Test func floatDataCountMismatchNamesTensorAndBothCounts() throws {
        var b = ONNXBuilder()
        b.input("x", [1, 4])
        b.output("y", [1, 4])
        b.initializer("bias", dims: [1, 4], floats: [1, 2, 3])
        b.node("Add", ["x", "bias"], ["y"])
        expectModelError("'bias'", "needs 4 elements", "float_data holds 3") { _ = try b.load() }
    }

    @Test func absurdInitializerDimsAreRefusedWithoutAllocating() throws {
        var b = ONNXBuilder()
        b.input("x", [1, 4])
        b.output("y", [1, 4])
        b.initializer("huge", dims: [1 << 40, 1 << 40], floats: [])
        b.node("Add", ["x", "huge"], ["y"])
        expectModelError("'huge'", "absurd shape") { _ = try b.load() }
    }

    @Test func negativeInitializerDimIsRefused() throws {
        var b = ONNXBuilder()
        b.input("x", [1, 4])
        b.output("y", [1, 4])
        b.initializer("w", dims: [4, -1], floats: [])
        b.node("Add", ["x", "w"], ["y"])
        expectModelError("'w'", "negative dimension") { _ = try b.load() }
    }

    @Test func absurdInputDimsAreRefused() throws {
        var b = ONNXBuilder()
        b.input("x", [1, .value(1 << 40), .value(1 << 40)])
        b.output("y")
        b.node("Relu", ["x"], ["y"])
        expectModelError("input 'x'", "absurd shape") { _ = try b.load() }
    }

    @Test func unsupportedInitializerElementTypeIsRefused() throws {
        var b = ONNXBuilder()
        b.input("x", [1, 4])
        b.output("y", [1, 4])
        b.initializer("names", dims: [1], raw: Data(), type: .string)
        b.node("Add", ["x", "names"], ["y"])
        expectModelError("'names'", "element type") { _ = try b.load() }
    }

    // MARK: Graph structure

    @Test func cycleBetweenTwoNodesIsRefusedNamingANode() throws {
        var b = ONNXBuilder()
        b.input("x", [1, 4])
        b.output("b_out", [1, 4])
        b.node("Add", ["x", "b_out"], ["a_out"], name: "node_a")
        b.node("Relu", ["a_out"], ["b_out"], name: "node_b")
        let error = expectModelError("cycle") { _ = try b.load() }
        if let error { #expect(error.message.contains("node_a") || error.message.contains("node_b"), "\(error.message)") }
    }

    @Test func nodeReadingUnproducedTensorNamesNodeAndTensor() throws {
        var b = ONNXBuilder()
        b.input("x", [1, 4])
        b.output("y", [1, 4])
        b.node("Add", ["x", "ghost"], ["y"], name: "adder")
        expectModelError("'adder'", "'ghost'") { _ = try b.load() }
    }

    @Test func graphOutputNobodyProducesIsRefused() throws {
        var b = ONNXBuilder.relu()
        b.output("orphan", [1, 4])
        expectModelError("output 'orphan'", "not produced") { _ = try b.load() }
    }

    @Test func graphWithoutOutputsIsRefused() throws {
        var b = ONNXBuilder()
        b.input("x", [1, 4])
        b.node("Relu", ["x"], ["y"])
        expectModelError("no outputs") { _ = try b.load() }
    }

    @Test func tensorProducedTwiceNamesBothNodes() throws {
        var b = ONNXBuilder()
        b.input("x", [1, 4])
        b.output("y", [1, 4])
        b.node("Relu", ["x"], ["y"], name: "first")
        b.node("Sigmoid", ["x"], ["y"], name: "second")
        expectModelError("'y'", "'first'", "'second'") { _ = try b.load() }
    }

    // MARK: Operators, domains, versions

    @Test(arguments: ["Resize", "LSTM"])
    func unsupportedOperatorNamesNodeOpDomainOpset(_ opType: String) throws {
        var b = ONNXBuilder()
        b.input("x", [1, 4])
        b.output("y")
        b.node(opType, ["x"], ["y"], name: "the_\(opType.lowercased())")
        expectModelError("'the_\(opType.lowercased())'", opType, "ai.onnx", "opset 17", "not supported") { _ = try b.load() }
    }

    @Test func nodeInCustomDomainIsRefused() throws {
        var b = ONNXBuilder()
        b.importOpset(domain: "com.example", version: 1)
        b.input("x", [1, 4])
        b.output("y")
        b.node("FancyOp", ["x"], ["y"], name: "fancy", domain: "com.example")
        expectModelError("'fancy'", "com.example", "FancyOp", "not supported") { _ = try b.load() }
    }

    @Test(arguments: [9, 29])
    func opsetOutsideSupportedRangeNamesOpsetAndRange(_ opset: Int) throws {
        var b = ONNXBuilder(opset: Int64(opset))
        b.input("x", [1, 4])
        b.output("y", [1, 4])
        b.node("Relu", ["x"], ["y"])
        expectModelError("opset \(opset)", "not supported", "10 through 28") { _ = try b.load() }
    }

    @Test func modelWithoutDefaultOpsetIsRefused() throws {
        var b = ONNXBuilder.relu()
        b.model.opsetImport = []
        expectModelError("ai.onnx opset") { _ = try b.load() }
    }

    @Test func irVersionTwoIsRefused() throws {
        let b = { var b = ONNXBuilder.relu(); b.model.irVersion = 2; return b }()
        expectModelError("IR version 2", "not supported") { _ = try b.load() }
    }

    @Test func convWithMismatchedWeightChannelsNamesNode() throws {
        var b = ONNXBuilder()
        b.input("x", [1, 3, 8, 8])
        b.output("y")
        b.initializer("w", dims: [4, 2, 3, 3], floats: [Float](repeating: 0.1, count: 4 * 2 * 9))
        b.node("Conv", ["x", "w"], ["y"], name: "conv_bad")
        expectModelError("'conv_bad'", "Conv", "expect", "input X has 3") { _ = try b.load() }
    }

    @Test func reshapeToImpossibleShapeNamesNode() throws {
        var b = ONNXBuilder()
        b.input("x", [1, 6])
        b.output("y")
        b.initializer("shape", dims: [2], int64s: [4, 2])
        b.node("Reshape", ["x", "shape"], ["y"], name: "reshape_bad")
        expectModelError("'reshape_bad'", "cannot reshape", "[4, 2]") { _ = try b.load() }
    }

    @Test func reshapeWithRunTimeShapeIsRefused() throws {
        var b = ONNXBuilder()
        b.input("x", [1, 6])
        b.input("shape", [2], type: .int64)
        b.output("y")
        b.node("Reshape", ["x", "shape"], ["y"], name: "reshape_dynamic")
        expectModelError("'reshape_dynamic'", "known at load time") { _ = try b.load() }
    }

    /// A target shape whose element count overflows Int must be refused, not trap.
    @Test func reshapeToOverflowingShapeIsRefusedNotTrapped() async {
        await #expect(processExitsWith: .success) {
            var b = ONNXBuilder()
            b.input("x", [1, 6])
            b.output("y")
            b.initializer("shape", dims: [3], int64s: [1 << 40, 1 << 40, 1 << 40])
            b.node("Reshape", ["x", "shape"], ["y"], name: "reshape_huge")
            do {
                _ = try b.load()
                exit(3)
            } catch let error as ModelError {
                if !error.message.contains("reshape_huge") { exit(4) }
            }
        }
    }

    /// Squeeze of a rank-0 tensor with axes [0]: normalizeAxis accepts axis 0 for rank 0.
    @Test func squeezeOfScalarIsRefusedNotTrapped() async {
        await #expect(processExitsWith: .success) {
            var b = ONNXBuilder()
            b.input("x", [])
            b.output("y")
            b.initializer("axes", dims: [1], int64s: [0])
            b.node("Squeeze", ["x", "axes"], ["y"], name: "squeeze_scalar")
            do {
                _ = try b.load()
                exit(3)
            } catch {
                if !(error is ModelError) { exit(4) }
            }
        }
    }

    /// Gather along axis 0 of a rank-0 tensor: same root cause as the Squeeze case.
    @Test func gatherFromScalarIsRefusedNotTrapped() async {
        await #expect(processExitsWith: .success) {
            var b = ONNXBuilder()
            b.input("x", [])
            b.output("y")
            var index = Onnx_TensorProto()
            index.name = "index"
            index.dataType = Int32(Onnx_TensorProto.DataType.int64.rawValue)
            index.int64Data = [0]
            b.model.graph.initializer.append(index)
            b.node("Gather", ["x", "index"], ["y"], name: "gather_scalar", attributes: [Attr.int("axis", 0)])
            do {
                _ = try b.load()
                exit(3)
            } catch {
                if !(error is ModelError) { exit(4) }
            }
        }
    }

    /// Concat of rank-0 tensors along axis 0: same root cause as the Squeeze case.
    @Test func concatOfScalarsIsRefusedNotTrapped() async {
        await #expect(processExitsWith: .success) {
            var b = ONNXBuilder()
            b.input("a", [])
            b.input("b", [])
            b.output("y")
            b.node("Concat", ["a", "b"], ["y"], name: "concat_scalars", attributes: [Attr.int("axis", 0)])
            do {
                _ = try b.load()
                exit(3)
            } catch {
                if !(error is ModelError) { exit(4) }
            }
        }
    }

    // MARK: Input shapes

    static func symbolicImage() -> ONNXBuilder {
        var b = ONNXBuilder()
        b.input("image", ["N", 3, "H", "W"])
        b.output("y")
        b.node("Relu", ["image"], ["y"])
        return b
    }

    @Test func symbolicNonBatchDimWithoutOverrideNamesInputAndDim() throws {
        expectModelError("input 'image'", "dim 2", "'H'", "--shape") { _ = try Self.symbolicImage().load() }
    }

    @Test func symbolicDimsLoadWithInputShapesOverride() throws {
        var options = ImportOptions()
        options.inputShapes["image"] = [1, 3, 5, 7]
        let model = try Self.symbolicImage().load(options: options)
        let compiled = try model.compile()
        #expect(compiled.inputs.map(\.type) == [TensorType(.float32, [1, 3, 5, 7])])
        #expect(compiled.outputs.map(\.type) == [TensorType(.float32, [1, 3, 5, 7])])
        let values = (0..<105).map { Float($0) - 50 }
        try compiled.setInput(0, Tensor(shape: [1, 3, 5, 7], values: values))
        compiled.run()
        #expect(compiled.output(0).scalars(as: Float.self) == values.map { max($0, 0) })
    }

    @Test func symbolicBatchDimAloneBecomesOne() throws {
        var b = ONNXBuilder()
        b.input("x", ["batch", 4])
        b.output("y")
        b.node("Relu", ["x"], ["y"])
        let compiled = try b.load().compile()
        #expect(compiled.inputs[0].type == TensorType(.float32, [1, 4]))
    }

    @Test func inputWithoutDeclaredShapeAsksForOne() throws {
        var b = ONNXBuilder()
        b.input("x", nil)
        b.output("y")
        b.node("Relu", ["x"], ["y"])
        expectModelError("input 'x'", "no declared shape", "--shape") { _ = try b.load() }
    }

    // MARK: External data

    static let weights: [Float] = [0.5, -1.5, 2.25, 4]

    /// y = x + w, with w (float[1,4]) stored externally.
    static func externalModel(location: String, offset: String? = nil, length: String? = nil) -> ONNXBuilder {
        var b = ONNXBuilder()
        b.input("x", [1, 4])
        b.output("y", [1, 4])
        b.externalInitializer("w", dims: [1, 4], location: location, offset: offset, length: length)
        b.node("Add", ["x", "w"], ["y"], name: "add_w")
        return b
    }

    /// Writes `builder` as model.onnx and `weights.bin` (8 bytes of padding, then the weights) to a new directory.
    static func writeExternalModel(_ builder: ONNXBuilder) throws -> URL {
        let dir = try makeTemporaryDirectory()
        var bin = Data(repeating: 0xEE, count: 8)
        bin.append(weights.withUnsafeBytes { Data($0) })
        try bin.write(to: dir.appendingPathComponent("weights.bin"))
        try builder.data().write(to: dir.appendingPathComponent("model.onnx"))
        return dir
    }

    @Test func externalInitializerBesideModelLoadsAndComputes() throws {
        let dir = try Self.writeExternalModel(Self.externalModel(location: "weights.bin", offset: "8", length: "16"))
        defer { try? FileManager.default.removeItem(at: dir) }
        let model = try ONNXModel.load(contentsOf: dir.appendingPathComponent("model.onnx"))
        let compiled = try model.compile()
        let x: [Float] = [1, 2, 3, 4]
        try compiled.setInput(0, Tensor(shape: [1, 4], values: x))
        compiled.run()
        #expect(compiled.output(0).scalars(as: Float.self) == zip(x, Self.weights).map { $0 + $1 })
    }

    @Test func externalInitializerWithoutLengthReadsTheTensorsBytes() throws {
        let dir = try Self.writeExternalModel(Self.externalModel(location: "weights.bin", offset: "8"))
        defer { try? FileManager.default.removeItem(at: dir) }
        let compiled = try ONNXModel.load(contentsOf: dir.appendingPathComponent("model.onnx")).compile()
        try compiled.setInput(0, Tensor(shape: [1, 4], values: [Float](repeating: 0, count: 4)))
        compiled.run()
        #expect(compiled.output(0).scalars(as: Float.self) == Self.weights)
    }

    @Test func missingExternalFileIsRefused() throws {
        let dir = try Self.writeExternalModel(Self.externalModel(location: "missing.bin"))
        defer { try? FileManager.default.removeItem(at: dir) }
        expectModelError("'w'", "missing.bin", "cannot open") {
            _ = try ONNXModel.load(contentsOf: dir.appendingPathComponent("model.onnx"))
        }
    }

    @Test func externalOffsetAndLengthPastEndOfFileAreRefused() throws {
        let dir = try Self.writeExternalModel(Self.externalModel(location: "weights.bin", offset: "16", length: "16"))
        defer { try? FileManager.default.removeItem(at: dir) }
        expectModelError("'w'", "weights.bin", "24 bytes", "offset 16", "length 16", "past its end") {
            _ = try ONNXModel.load(contentsOf: dir.appendingPathComponent("model.onnx"))
        }
    }

    @Test func externalLengthDifferentFromTensorSizeIsRefused() throws {
        let dir = try Self.writeExternalModel(Self.externalModel(location: "weights.bin", offset: "0", length: "12"))
        defer { try? FileManager.default.removeItem(at: dir) }
        expectModelError("'w'", "16 bytes", "12") {
            _ = try ONNXModel.load(contentsOf: dir.appendingPathComponent("model.onnx"))
        }
    }

    @Test(arguments: ["/etc/passwd", "../weights.bin", "sub/../../weights.bin"])
    func externalLocationOutsideModelDirectoryIsRefused(_ location: String) throws {
        let dir = try Self.writeExternalModel(Self.externalModel(location: location))
        defer { try? FileManager.default.removeItem(at: dir) }
        expectModelError("'w'", location, "relative path inside the model's directory") {
            _ = try ONNXModel.load(contentsOf: dir.appendingPathComponent("model.onnx"))
        }
    }

    @Test func externalDataInModelLoadedFromBytesIsRefused() throws {
        expectModelError("'w'", "not loaded from a file") {
            _ = try Self.externalModel(location: "weights.bin").load()
        }
    }

    @Test func nonNumericExternalOffsetIsRefused() throws {
        let dir = try Self.writeExternalModel(Self.externalModel(location: "weights.bin", offset: "eight"))
        defer { try? FileManager.default.removeItem(at: dir) }
        expectModelError("'w'", "offset") {
            _ = try ONNXModel.load(contentsOf: dir.appendingPathComponent("model.onnx"))
        }
    }

    /// offset + length overflowing Int must be refused, not trap.
    @Test func hugeExternalOffsetIsRefusedNotTrapped() async {
        await #expect(processExitsWith: .success) {
            let dir = try MalformedModelTests.writeExternalModel(
                MalformedModelTests.externalModel(location: "weights.bin", offset: "9223372036854775800", length: "16"))
            defer { try? FileManager.default.removeItem(at: dir) }
            do {
                _ = try ONNXModel.load(contentsOf: dir.appendingPathComponent("model.onnx"))
                exit(3)
            } catch let error as ModelError {
                if !error.message.contains("'w'") { exit(4) }
            }
        }
    }

    // MARK: TensorProto files

    @Test func truncatedTensorProtoFileIsRefusedWithItsPath() throws {
        let source = FixturePaths.url("conformance/test_add/test_data_set_0/input_0.pb")
        let full = try Data(contentsOf: source)
        let intact = try TensorDecoder.read(contentsOf: source)
        #expect(intact.tensor.shape == [3, 4, 5])
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        for fraction in [0.1, 0.5, 0.9] {
            let url = dir.appendingPathComponent("cut_\(Int(fraction * 100)).pb")
            try full.prefix(Int(Double(full.count) * fraction)).write(to: url)
            expectModelError(url.path) { _ = try TensorDecoder.read(contentsOf: url) }
        }
    }

    @Test func emptyTensorProtoFileIsRefused() throws {
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let url = dir.appendingPathComponent("empty.pb")
        try Data().write(to: url)
        // An empty message decodes as an undefined-type tensor: refused as such, not as data.
        expectModelError(url.path) { _ = try TensorDecoder.read(contentsOf: url) }
    }
}
