/// A monitoring setup that cannot work: the message names what is wrong and what was expected.
public struct MonitorError: Error, Sendable, CustomStringConvertible, Equatable {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}
