import Foundation
import ONNXProto
import QuantGraph

/// How to specialise a model when it loads.
public struct ImportOptions: Sendable {
    /// Shapes for inputs whose dims are symbolic (beyond a leading batch dim, which becomes 1).
    public var inputShapes: [String: [Int]] = [:]
    /// Inputs fixed to a value at load: they become constants and leave the model's inputs.
    public var frozenInputs: [String: Tensor] = [:]
    public var compile = CompileOptions()

    public init() {}
}

/// An ONNX model loaded into the graph IR, checked, specialised to static shapes, folded and
/// planned: everything it cannot run was refused here, with the node that caused it.
public struct ONNXModel: Sendable {
    /// Where the model came from, for messages.
    public let source: String
    public let irVersion: Int
    /// Default-domain ("ai.onnx") opset.
    public let opset: Int
    public let producer: String
    /// The graph after import, folding and fusion, ready to compile.
    public let graph: Graph
    /// The options the graph was prepared with (`compile()` uses them, so kept tensors stay readable).
    public let compileOptions: CompileOptions

    /// Loads an ONNX file; external data are read relative to its directory.
    public static func load(contentsOf url: URL, options: ImportOptions = ImportOptions()) throws -> ONNXModel {
        let data: Data
        do { data = try Data(contentsOf: url) } catch {
            throw ModelError("\(url.path): cannot read the model: \(error.localizedDescription)")
        }
        return try load(data: data, source: url.path, baseDirectory: url.deletingLastPathComponent(), options: options)
    }

    /// Loads an ONNX model from bytes. Every error message starts with `source`.
    public static func load(data: Data, source: String, baseDirectory: URL? = nil, options: ImportOptions = ImportOptions()) throws -> ONNXModel {
        do {
            let proto = try decodeModel(data)
            return try ONNXModel(proto: proto, source: source, baseDirectory: baseDirectory, options: options)
        } catch let error as ModelError {
            throw ModelError("\(source): \(error.message)")
        }
    }

    static func decodeModel(_ data: Data) throws -> Onnx_ModelProto {
        guard !data.isEmpty else { throw ModelError("the file is empty; expected an ONNX ModelProto") }
        let proto: Onnx_ModelProto
        do { proto = try Onnx_ModelProto(serializedBytes: data) } catch {
            throw ModelError("not a valid ONNX model (protobuf decoding failed: \(error)); the file may be truncated or not ONNX")
        }
        guard proto.hasGraph else { throw ModelError("not an ONNX model: it has no graph") }
        return proto
    }

    init(proto: Onnx_ModelProto, source: String, baseDirectory: URL?, options: ImportOptions) throws {
        self.source = source
        irVersion = Int(proto.irVersion)
        producer = [proto.producerName, proto.producerVersion].filter { !$0.isEmpty }.joined(separator: " ")
        guard irVersion >= 3 else { throw ModelError("IR version \(irVersion) is not supported (3 or later)") }
        var opsets: [String: Int] = [:]
        for entry in proto.opsetImport { opsets[entry.domain == "ai.onnx" ? "" : entry.domain] = Int(entry.version) }
        guard let opset = opsets[""] else { throw ModelError("the model imports no ai.onnx opset") }
        guard (OperatorTable.minimumOpset...OperatorTable.maximumOpset).contains(opset) else {
            throw ModelError("ai.onnx opset \(opset) is not supported (\(OperatorTable.minimumOpset) through \(OperatorTable.maximumOpset))")
        }
        self.opset = opset
        var importer = GraphImporter(opsets: opsets, decoder: TensorDecoder(baseDirectory: baseDirectory), options: options)
        var graph = try importer.importGraph(proto.graph)
        try graph.prepare(options.compile)
        self.graph = graph
        compileOptions = options.compile
    }

    /// Plans memory and binds the kernels.
    public func compile(_ options: CompileOptions? = nil) throws -> CompiledModel {
        do {
            return try CompiledModel(graph: graph, options: options ?? compileOptions)
        } catch let error as ModelError {
            throw ModelError("\(source): \(error.message)")
        }
    }
}

/// Builds the graph IR from a GraphProto.
struct GraphImporter {
    let opsets: [String: Int]
    let decoder: TensorDecoder
    let options: ImportOptions
    var graph = Graph()
    var ids: [String: ValueID] = [:]

    init(opsets: [String: Int], decoder: TensorDecoder, options: ImportOptions) {
        self.opsets = opsets
        self.decoder = decoder
        self.options = options
    }

    mutating func value(named name: String) -> ValueID {
        if let id = ids[name] { return id }
        let id = graph.addValue(Value(name: name))
        ids[name] = id
        return id
    }

    /// The static type of a declared graph input, with a symbolic leading batch dim set to 1.
    func inputType(_ info: Onnx_ValueInfoProto) throws -> TensorType {
        guard case .tensorType(let tensorType)? = info.type.value else {
            throw ModelError("input '\(info.name)' is not a tensor (sequences, maps and optionals are not supported)")
        }
        guard let dataType = ONNXDataType.dataType(tensorType.elemType) else {
            throw ModelError("input '\(info.name)' has element type \(ONNXDataType.name(tensorType.elemType)), which is not supported")
        }
        if let shape = options.inputShapes[info.name] {
            guard shape.allSatisfy({ $0 > 0 }) else {
                throw ModelError("input '\(info.name)': the given shape \(shape) must have positive dims")
            }
            _ = try TensorDecoder.checkedShape(shape.map(Int64.init), "input '\(info.name)'")
            return TensorType(dataType, shape)
        }
        guard tensorType.hasShape else {
            throw ModelError("input '\(info.name)' has no declared shape; give one (e.g. --shape \(info.name)=1,3,224,224)")
        }
        var shape: [Int] = []
        for (axis, dim) in tensorType.shape.dim.enumerated() {
            if case .dimValue(let v)? = dim.value, v >= 0 {
                shape.append(Int(v))
            } else if axis == 0 {
                shape.append(1)  // a dynamic batch dim: one frame at a time
            } else {
                let label: String = if case .dimParam(let p)? = dim.value { "'\(p)'" } else { "unknown" }
                throw ModelError("input '\(info.name)' dim \(axis) is symbolic (\(label)); give a static shape (e.g. --shape \(info.name)=…)")
            }
        }
        _ = try TensorDecoder.checkedShape(shape.map(Int64.init), "input '\(info.name)'")
        return TensorType(dataType, shape)
    }

    mutating func importGraph(_ proto: Onnx_GraphProto) throws -> Graph {
        guard proto.sparseInitializer.isEmpty else { throw ModelError("sparse initializers are not supported") }
        var initializerNames = Set<String>()
        for initializer in proto.initializer {
            guard !initializer.name.isEmpty else { throw ModelError("an initializer has no name") }
            let id = value(named: initializer.name)
            graph[id].constant = try decoder.decode(initializer)
            graph[id].type = graph[id].constant!.type
            initializerNames.insert(initializer.name)
        }
        for input in proto.input where !initializerNames.contains(input.name) {
            let id = value(named: input.name)
            if let frozen = options.frozenInputs[input.name] {
                graph[id].constant = frozen
                graph[id].type = frozen.type
                continue
            }
            graph[id].type = try inputType(input)
            graph.inputs.append(id)
        }
        guard !proto.output.isEmpty else { throw ModelError("the graph declares no outputs") }
        for (index, node) in proto.node.enumerated() { try importNode(node, index: index) }
        for output in proto.output {
            guard let id = ids[output.name] else { throw ModelError("model output '\(output.name)' is not produced by any node") }
            graph.outputs.append(id)
        }
        return graph
    }

    mutating func importNode(_ node: Onnx_NodeProto, index: Int) throws {
        let domain = node.domain == "ai.onnx" ? "" : node.domain
        let info = NodeInfo(name: node.name.isEmpty ? "\(node.opType)_\(index)" : node.name, opType: node.opType,
                            domain: domain, opset: opsets[domain] ?? 0)
        let table: [String: OperatorBuilder]
        switch domain {
        case "": table = OperatorTable.builders
        case "com.microsoft": table = OperatorTable.microsoftBuilders
        default: throw ModelError.node(info, "operators of domain '\(domain)' are not supported")
        }
        let attributes = Attributes(node, info: info)
        if node.opType == "Constant" {
            guard node.output.count == 1 else { throw ModelError.node(info, "Constant must have exactly one output") }
            let id = value(named: node.output[0])
            graph[id].constant = try constantValue(attributes)
            graph[id].type = graph[id].constant!.type
            return
        }
        guard let builder = table[node.opType] else {
            throw ModelError.node(info, "operator '\(node.opType)' is not supported (supported: \(OperatorTable.supported.joined(separator: ", ")))")
        }
        let context = NodeContext(info: info, attributes: attributes, opset: info.opset,
                                  inputCount: node.input.count, outputCount: node.output.count)
        let op = try builder(context)
        var inputs: [ValueID?] = node.input.map { $0.isEmpty ? nil : value(named: $0) }
        if let order = OperatorTable.inputOrder[node.opType] {
            inputs = order.map { i in i.flatMap { $0 < inputs.count ? inputs[$0] : nil } }
        }
        // Trailing empty outputs are optional outputs not requested.
        var outputNames = node.output
        while let last = outputNames.last, last.isEmpty { outputNames.removeLast() }
        guard !outputNames.contains("") else { throw ModelError.node(info, "skipped optional outputs in the middle are not supported") }
        let outputs = outputNames.map { value(named: $0) }
        graph.addNode(Node(info: info, op: op, inputs: inputs, outputs: outputs))
    }

    func constantValue(_ attributes: Attributes) throws -> Tensor {
        if let t = try attributes.tensor("value") { return try decoder.decode(t, name: attributes.node.name) }
        if let f = try attributes.float("value_float") { return Tensor(scalar: f) }
        if let fs = try attributes.floats("value_floats") { return Tensor(shape: [fs.count], values: fs) }
        if let i = try attributes.int("value_int") { return Tensor(scalar: Int64(i)) }
        if let ints = try attributes.ints("value_ints") { return Tensor(shape: [ints.count], values: ints.map(Int64.init)) }
        throw ModelError.node(attributes.node, "Constant has no supported value attribute (\(attributes.names.joined(separator: ", "))); expected value, value_float(s) or value_int(s)")
    }
}
