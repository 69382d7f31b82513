/// An error the world caused (a model, a file, an input), with a message a user can act on:
/// which node, which operator, which tensor, and what was expected.
public struct ModelError: Error, Sendable, CustomStringConvertible, Equatable {
    public var message: String

    public init(_ message: String) { self.message = message }

    /// A node that cannot be loaded: names node, op type, domain, opset and reason.
    public static func node(_ node: NodeInfo, _ reason: String) -> ModelError {
        ModelError("node '\(node.name)' (\(node.domain.isEmpty ? "ai.onnx" : node.domain)::\(node.opType), opset \(node.opset)): \(reason)")
    }

    public var description: String { message }
}

/// Thrown by operators while checking their inputs; the graph wraps it with the node's identity.
public struct OperatorError: Error, Sendable, CustomStringConvertible {
    public var reason: String
    public init(_ reason: String) { self.reason = reason }
    public var description: String { reason }
}

/// Where a node came from, for messages.
public struct NodeInfo: Sendable, Hashable {
    public var name: String
    public var opType: String
    public var domain: String
    public var opset: Int

    public init(name: String, opType: String, domain: String = "", opset: Int) {
        self.name = name
        self.opType = opType
        self.domain = domain
        self.opset = opset
    }
}
