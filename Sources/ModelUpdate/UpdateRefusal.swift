// Why an update was refused, and at which step (docs/model-updates.md: the order of the checks).

/// The checks a bundle passes, in order; a refusal names the step it failed at.
public enum UpdateStep: String, Sendable, Codable, CaseIterable {
    /// The transfer itself: a malformed message, a busy device, too little disk, an expired transfer.
    case transfer
    /// The signature against the trusted public keys.
    case signature
    /// The manifest's own consistency (format, names, roles, sizes).
    case manifest
    /// The files' hashes and sizes.
    case hashes
    /// Anti-rollback: a version newer than the installed one.
    case version
    /// Both models load, pair, and fit the configured pipeline.
    case load
    /// int8 against float on stored and bundled frames.
    case canary
    /// Writing the slot and switching.
    case install
}

/// A refused update: the step and a message naming what is wrong and what was expected.
public struct UpdateRefusal: Error, Sendable, Equatable, CustomStringConvertible {
    public var step: UpdateStep
    public var message: String
    public init(_ step: UpdateStep, _ message: String) {
        self.step = step
        self.message = message
    }
    public var description: String { "\(step.rawValue): \(message)" }
}
