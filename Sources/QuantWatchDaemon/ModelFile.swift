import Crypto
import Documents
import Foundation

extension ModelReference {
    /// The model file's identity for documents and the store: name, version, and the SHA-256 of its bytes.
    public static func file(_ url: URL, name: String, version: String) throws -> ModelReference {
        let digest = SHA256.hash(data: try Data(contentsOf: url)).map { String(format: "%02x", $0) }.joined()
        return ModelReference(name: name, version: version, sha256: digest)
    }
}
