// `quantwatch bundle create`: both models loaded and paired before anything is signed (a bundle that
// cannot load is never made), canary frames checked against the model input, the manifest signed.
import Crypto
import Documents
import Foundation
import FrameSources
import Monitor
import QuantGraph

public struct BundleRequest: Sendable {
    public var int8: String
    public var float: String
    public var name: String
    public var version: Int
    public var keyPath: String
    public var output: String
    /// A directory of .npy frames or one stacked .npy (preprocessed model inputs), optional.
    public var frames: String?
    /// At most this many frames are bundled.
    public var maxFrames = 64
    public var compared: String?
    public var preprocessing: [String: JSONValue]?
    public var canary: Manifest.Canary?
    public var downgrade = false
    public var created = Date()

    public init(int8: String, float: String, name: String, version: Int, keyPath: String, output: String) {
        self.int8 = int8
        self.float = float
        self.name = name
        self.version = version
        self.keyPath = keyPath
        self.output = output
    }
}

public enum BundleBuilder {
    /// Builds and writes the bundle; returns its manifest and the signing key's id.
    public static func create(_ request: BundleRequest) throws -> (manifest: Manifest, keyID: String) {
        let key = try KeyFiles.readPrivate(path: request.keyPath)
        let models = try MonitoredModels.load(int8: URL(fileURLWithPath: request.int8), float: URL(fileURLWithPath: request.float),
                                              output: request.compared)
        let inputType = models.int8.inputs[0].type
        let work = FileManager.default.temporaryDirectory.appendingPathComponent("quantwatch-bundle-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: work, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: work) }

        var sources: [(role: Manifest.Role, name: String, path: String)] = [
            (.int8, "model.int8.onnx", request.int8), (.float, "model.float.onnx", request.float),
        ]
        if let frames = request.frames {
            let loaded = try FrameLoader.load(frames, expecting: inputType, inputName: models.int8.inputs[0].name, preprocessing: nil)
            for (i, frame) in loaded.prefix(request.maxFrames).enumerated() {
                let name = String(format: "frame-%04d.npy", i)
                try NPY.write(frame.tensor, to: URL(fileURLWithPath: work + "/" + name))
                sources.append((.frame, name, work + "/" + name))
            }
        }
        var files: [Manifest.File] = []
        for source in sources {
            let size = try FileManager.default.attributesOfItem(atPath: source.path)[.size] as? Int ?? 0
            files.append(Manifest.File(role: source.role, name: source.name, size: size,
                                       sha256: try BundleFile.sha256(path: source.path, offset: 0, count: size)))
        }
        var manifest = Manifest(name: request.name, version: request.version,
                                created: rfc3339(milliseconds: Int64(request.created.timeIntervalSince1970 * 1000)),
                                downgrade: request.downgrade, files: files,
                                input: Manifest.Input(shape: inputType.shape, dtype: inputType.dataType.rawValue),
                                output: models.float.outputs[models.floatOutput].name,
                                preprocessing: request.preprocessing, canary: request.canary)
        manifest.format = Manifest.currentFormat
        try manifest.validate()
        let header = try SignedHeader.signing(try manifest.encoded(), with: key)
        try BundleFile.write(path: request.output, header: header, sources: sources.map(\.path))
        return (manifest, KeyFiles.id(of: key.publicKey))
    }
}

/// What `bundle verify` found.
public struct BundleVerification: Sendable {
    public var manifest: Manifest
    /// Key ids that signed it.
    public var signers: [String]
    /// The key among the given ones that verified (nil when no keys were given).
    public var verifiedBy: TrustedKey?
    public var transferID: String
}

extension BundleFile {
    /// The format, every hash and size, and — when keys are given — the signatures.
    public func verify(trusted: [TrustedKey]) throws -> BundleVerification {
        let manifest: Manifest, verifiedBy: TrustedKey?
        if trusted.isEmpty {
            manifest = try Manifest.decode(header.manifestBytes)
            verifiedBy = nil
        } else {
            (manifest, verifiedBy) = try header.verify(trusted: trusted)
            _ = verifiedBy
        }
        try Payload.verify(manifest, path: path, offset: payloadOffset, size: payloadSize)
        return BundleVerification(manifest: manifest, signers: header.signatures.map(\.keyID), verifiedBy: verifiedBy, transferID: try transferID())
    }
}
