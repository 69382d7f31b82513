// Remote commands (PRODUCT.md): `<prefix>/<device>/cmd/<name>` and `<prefix>/group/<group>/cmd/<name>`,
// JSON with an `id`; exactly one reply per command on `<prefix>/<device>/reply/<name>` (or the MQTT 5
// response topic, with its correlation data) carrying that `id`, `ok`, and an error when not ok.
import Documents
import Foundation

/// One command as it arrived.
public struct CommandRequest: Sendable {
    public var name: String
    public var id: CommandID?
    /// The whole JSON object (the arguments are its other keys).
    public var body: JSONValue
    public var topic: String
    public var responseTopic: String?
    public var correlationData: [UInt8]?
    /// The payload as it came (a handler that needs exact bytes, such as `update_begin`'s signed header).
    public var payload: [UInt8] = []
}

/// A command that cannot be carried out; the message goes into the reply's `error`, and `result`
/// (when given: e.g. a refusal's step) into its `result`.
public struct CommandFailure: Error, Sendable, Equatable {
    public var message: String
    public var result: JSONValue?
    public init(_ message: String, result: JSONValue? = nil) {
        self.message = message
        self.result = result
    }
}

/// What a command answered.
public struct CommandReply: Sendable, Equatable {
    public var name: String
    public var id: CommandID?
    public var ok: Bool
    public var error: String?
    public var result: JSONValue?
    public var responseTopic: String?
    public var correlationData: [UInt8]?

    public init(name: String, id: CommandID?, ok: Bool, error: String? = nil, result: JSONValue? = nil,
                responseTopic: String? = nil, correlationData: [UInt8]? = nil) {
        self.name = name
        self.id = id
        self.ok = ok
        self.error = error
        self.result = result
        self.responseTopic = responseTopic
        self.correlationData = correlationData
    }
}

public typealias CommandHandler = @Sendable (CommandRequest) async throws -> JSONValue

/// A command whose payload is not JSON (`update_chunk`): it gets the raw bytes and answers only when it
/// has something to say (nil: no reply; a failure: an error reply).
public typealias BinaryCommandHandler = @Sendable (_ topic: String, _ payload: [UInt8]) async -> CommandFailure?

/// Parses, checks and routes commands to their handlers. Malformed JSON, a missing id, an unknown
/// command, an oversize payload: an error reply, and no handler runs (nothing changes). New commands
/// (the model-update issue's) are added with `register`.
public actor CommandDispatcher {
    /// The largest payload a command may have.
    public let maxPayloadBytes: Int
    private var handlers: [String: CommandHandler] = [:]
    private var payloadLimits: [String: Int] = [:]
    private var binaryHandlers: [String: BinaryCommandHandler] = [:]

    public init(maxPayloadBytes: Int = 64 << 10) { self.maxPayloadBytes = maxPayloadBytes }

    /// Registers a JSON command; `maxPayloadBytes` overrides the dispatcher's limit for it.
    public func register(_ name: String, maxPayloadBytes: Int? = nil, _ handler: @escaping CommandHandler) {
        handlers[name] = handler
        payloadLimits[name] = maxPayloadBytes
    }

    /// Registers a binary command: no JSON parsing, no id, no reply unless the handler fails.
    public func registerBinary(_ name: String, _ handler: @escaping BinaryCommandHandler) { binaryHandlers[name] = handler }

    /// The binary handler of a command name, if it is one.
    public func binaryHandler(_ name: String) -> BinaryCommandHandler? { binaryHandlers[name] }

    public var names: [String] { (Array(handlers.keys) + Array(binaryHandlers.keys)).sorted() }

    /// The reply to one incoming message (exactly one per message).
    public func dispatch(name: String, topic: String, payload: [UInt8], responseTopic: String?, correlationData: [UInt8]?) async -> CommandReply {
        var reply = CommandReply(name: name, id: nil, ok: false, error: nil, result: nil, responseTopic: responseTopic, correlationData: correlationData)
        let limit = payloadLimits[name] ?? maxPayloadBytes
        guard payload.count <= limit else {
            reply.error = "payload is \(payload.count) bytes; \(payloadLimits[name] == nil ? "a command" : name) is at most \(limit) bytes"
            return reply
        }
        let body: JSONValue
        do { body = try JSONDecoder().decode(JSONValue.self, from: Data(payload)) } catch {
            reply.error = "payload is not JSON (\(Self.describe(error))); expected an object like {\"id\":\"1\"}"
            return reply
        }
        guard case let .object(fields) = body else {
            reply.error = "payload is not a JSON object; expected an object like {\"id\":\"1\"}"
            return reply
        }
        switch fields["id"] {
        case let .string(s)?: reply.id = .string(s)
        case let .number(n)? where n == n.rounded() && abs(n) < 1e15: reply.id = .number(Int64(n))
        default:
            reply.error = "missing or invalid \"id\"; expected a string or an integer"
            return reply
        }
        guard let handler = handlers[name] else {
            reply.error = "unknown command '\(name)'; known: \(names.joined(separator: ", "))"
            return reply
        }
        let request = CommandRequest(name: name, id: reply.id, body: body, topic: topic, responseTopic: responseTopic, correlationData: correlationData,
                                     payload: payload)
        do {
            reply.result = try await handler(request)
            reply.ok = true
        } catch let failure as CommandFailure {
            reply.error = failure.message
            reply.result = failure.result
        } catch {
            reply.error = "\(error)"
        }
        return reply
    }

    static func describe(_ error: any Error) -> String {
        if case let DecodingError.dataCorrupted(context) = error {
            return (context.underlyingError as NSError?)?.userInfo[NSDebugDescriptionErrorKey] as? String ?? context.debugDescription
        }
        return "\(error)"
    }
}
