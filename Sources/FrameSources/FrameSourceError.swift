/// An error reading or writing a frame file, or converting a frame into a tensor.
///
/// `source` names where the problem was found (usually a file path, or a caller-supplied
/// label such as `"<memory>"` when decoding bytes); `message` says what was wrong and,
/// where it helps, what was expected instead. `description` is `"source: message"`.
public struct FrameSourceError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The file path or label the failing input came from.
    public let source: String
    /// What went wrong, in words meant for an operator.
    public let message: String

    public init(source: String, message: String) {
        self.source = source
        self.message = message
    }

    public var description: String { "\(source): \(message)" }
}
