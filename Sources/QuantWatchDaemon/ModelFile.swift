import Documents
import Foundation
import ModelUpdate

extension ModelReference {
    /// The model file's identity for documents and the store: name, version, and the SHA-256 of its bytes
    /// (read 1 MiB at a time).
    public static func file(_ url: URL, name: String, version: String) throws -> ModelReference {
        let size = try FileManager.default.attributesOfItem(atPath: url.path)[.size] as? Int ?? 0
        return ModelReference(name: name, version: version, sha256: try BundleFile.sha256(path: url.path, offset: 0, count: size))
    }
}
