// The seam between the transfer (TransferReceiver: messages, chunks, files) and the checks and install
// of docs/model-updates.md (signature, manifest, version, load, canary, A/B slots). The receiver calls
// `admit` when an `update_begin` arrives, before a byte of payload is written, and `install` once every
// chunk is on disk and synced.
import Documents

/// Decides whether a bundle may be transferred, and installs one that arrived.
public protocol UpdateAdmission: Sendable {
    /// Checks a bundle's header (the signed envelope, its exact bytes) and its payload size before the
    /// payload is transferred: signature against the trusted keys, the manifest, the version, the sizes.
    /// Throws the refusal (step and reason) that the `update_begin` reply carries.
    func admit(header: [UInt8], payloadSize: Int) async throws(UpdateRefusal) -> AdmissionInfo

    /// Verifies and installs a completely received bundle (hashes, load, canary, slot, switch) and returns
    /// the verdict the pusher is sent. Runs off the command path; may take as long as the canary needs.
    /// The receiver deletes `completed.directory` after it returns.
    func install(_ completed: CompletedTransfer) async -> UpdateVerdict
}

/// What admission learned from the header, carried in the transfer's progress replies.
public struct AdmissionInfo: Sendable, Equatable, Codable {
    /// The bundle's name and version (from the manifest).
    public var name: String
    public var version: Int
    /// The id of the trusted key whose signature verified.
    public var keyID: String?

    public init(name: String, version: Int, keyID: String? = nil) {
        self.name = name
        self.version = version
        self.keyID = keyID
    }

    enum CodingKeys: String, CodingKey { case name, version, keyID = "key_id" }
}

/// A transfer whose every chunk arrived, matched its hash and was synced to disk; the whole bundle's
/// SHA-256 matched the transfer id.
public struct CompletedTransfer: Sendable, Equatable {
    /// The transfer id (32 hex digits: the first 16 bytes of the SHA-256 of the bundle file).
    public var transfer: TransferID
    /// `<state>/transfer/<transfer>/`.
    public var directory: String
    /// The header's exact bytes (the JSON envelope as it was in the bundle file).
    public var header: [UInt8]
    /// The payload file (the manifest's files concatenated), `payloadSize` bytes.
    public var payloadPath: String
    public var payloadSize: Int
    /// What `admit` answered for this header.
    public var admission: AdmissionInfo?

    public init(transfer: TransferID, directory: String, header: [UInt8], payloadPath: String, payloadSize: Int, admission: AdmissionInfo?) {
        self.transfer = transfer
        self.directory = directory
        self.header = header
        self.payloadPath = payloadPath
        self.payloadSize = payloadSize
        self.admission = admission
    }
}

/// The end of a transfer, as the pusher is told on `reply/update`.
public enum UpdateVerdict: Sendable, Equatable {
    /// Installed and serving; `details` (an object: version, canary figures, …) goes into the reply's result.
    case installed(details: JSONValue?)
    /// Refused at a step, with the reason.
    case refused(UpdateRefusal)

    public var state: TransferState {
        switch self {
        case .installed: .installed
        case .refused: .refused
        }
    }
}
