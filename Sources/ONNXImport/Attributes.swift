import ONNXProto
import QuantGraph

/// Typed access to a node's attributes, with errors that name the node and the attribute.
struct Attributes {
    let node: NodeInfo
    private let byName: [String: Onnx_AttributeProto]

    init(_ proto: Onnx_NodeProto, info: NodeInfo) {
        node = info
        var map: [String: Onnx_AttributeProto] = [:]
        for attribute in proto.attribute { map[attribute.name] = attribute }
        byName = map
    }

    func has(_ name: String) -> Bool { byName[name] != nil }

    private func fail(_ name: String, _ expected: String) -> ModelError {
        .node(node, "attribute '\(name)' should be \(expected)")
    }

    func int(_ name: String) throws -> Int? {
        guard let a = byName[name] else { return nil }
        guard a.type == .int || (a.type == .undefined && a.hasI) else { throw fail(name, "an integer") }
        return Int(a.i)
    }

    func int(_ name: String, default value: Int) throws -> Int { try int(name) ?? value }

    func ints(_ name: String) throws -> [Int]? {
        guard let a = byName[name] else { return nil }
        guard a.type == .ints || a.type == .undefined else { throw fail(name, "a list of integers") }
        return a.ints.map(Int.init)
    }

    func float(_ name: String) throws -> Float? {
        guard let a = byName[name] else { return nil }
        guard a.type == .float || (a.type == .undefined && a.hasF) else { throw fail(name, "a float") }
        return a.f
    }

    func float(_ name: String, default value: Float) throws -> Float { try float(name) ?? value }

    func floats(_ name: String) throws -> [Float]? {
        guard let a = byName[name] else { return nil }
        guard a.type == .floats || a.type == .undefined else { throw fail(name, "a list of floats") }
        return a.floats
    }

    func string(_ name: String) throws -> String? {
        guard let a = byName[name] else { return nil }
        guard a.type == .string || (a.type == .undefined && a.hasS) else { throw fail(name, "a string") }
        return String(decoding: a.s, as: UTF8.self)
    }

    func tensor(_ name: String) throws -> Onnx_TensorProto? {
        guard let a = byName[name] else { return nil }
        guard a.type == .tensor || (a.type == .undefined && a.hasT) else { throw fail(name, "a tensor") }
        return a.t
    }

    var names: [String] { byName.keys.sorted() }
}
