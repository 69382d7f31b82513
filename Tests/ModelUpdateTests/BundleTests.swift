// Bundles, keys and signatures on the real fixture models (docs/model-updates.md).
import Crypto
import Foundation
import ModelUpdate
import Testing
import TestSupport

enum UpdateFixtures {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static func path(_ relative: String) -> String { root.appendingPathComponent("Fixtures/" + relative).path }

    static func temporaryDirectory() throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("qw-update-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    /// A signed bundle of the patches fixture (QOperator int8) with four canary frames.
    static func bundle(in dir: String, version: Int = 2, key: String? = nil, int8: String = "patches/model.int8.qop.onnx",
                       canary: Manifest.Canary? = nil, downgrade: Bool = false) throws -> (path: String, key: String) {
        let keyBase = dir + "/signer-\(UUID().uuidString.prefix(8))"
        let keyPath = try key ?? KeyFiles.generate(base: keyBase).privatePath
        var request = BundleRequest(int8: path(int8), float: path("patches/model.fp32.onnx"), name: "patches", version: version,
                                    keyPath: keyPath, output: dir + "/patches-v\(version)-\(UUID().uuidString.prefix(6)).qwb")
        request.frames = path("patches/tensors")
        request.canary = canary
        request.downgrade = downgrade
        _ = try BundleBuilder.create(request)
        return (request.output, keyPath)
    }
}

@Suite struct BundleTests {
    @Test func aSignedBundleVerifiesWithItsPublicKeyAndNamesItsFiles() throws {
        let dir = try UpdateFixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let (path, key) = try UpdateFixtures.bundle(in: dir)
        let trusted = [TrustedKey(try KeyFiles.readPublic(path: key), source: key)]
        let result = try BundleFile.open(path: path).verify(trusted: trusted)
        #expect(result.manifest.name == "patches" && result.manifest.version == 2)
        #expect(result.manifest.files.map(\.role) == [.int8, .float, .frame, .frame, .frame, .frame])
        #expect(result.manifest.input == Manifest.Input(shape: [1, 3, 96, 96], dtype: "float32"))
        #expect(result.verifiedBy?.id == trusted[0].id)
        #expect(result.transferID.count == 32)
    }

    @Test func keysInteroperateWithOpenSSL() throws {
        let dir = try UpdateFixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        // OpenSSL's key signs a bundle that verifies with OpenSSL's public key file, read by us.
        try MosquittoBroker.run("/usr/bin/openssl", ["genpkey", "-algorithm", "ed25519", "-out", dir + "/o.key"])
        try MosquittoBroker.run("/usr/bin/openssl", ["pkey", "-in", dir + "/o.key", "-pubout", "-out", dir + "/o.pub"])
        let (path, _) = try UpdateFixtures.bundle(in: dir, key: dir + "/o.key")
        let result = try BundleFile.open(path: path).verify(trusted: [TrustedKey(try KeyFiles.readPublic(path: dir + "/o.pub"), source: "o.pub")])
        #expect(result.verifiedBy != nil)
        // Our public key file is what OpenSSL derives from our private key.
        let ours = try KeyFiles.generate(base: dir + "/ours")
        let derived = try MosquittoBroker.run("/usr/bin/openssl", ["pkey", "-in", ours.privatePath, "-pubout"])
        #expect(derived == (try String(contentsOfFile: ours.publicPath, encoding: .utf8)))
    }

    @Test func anUnknownKeyIsRefusedNamingBothKeys() throws {
        let dir = try UpdateFixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let (path, key) = try UpdateFixtures.bundle(in: dir)
        let other = try KeyFiles.generate(base: dir + "/other")
        let trusted = [TrustedKey(try KeyFiles.readPublic(path: other.publicPath), source: other.publicPath)]
        let signer = KeyFiles.id(of: try KeyFiles.readPublic(path: key))
        #expect { try BundleFile.open(path: path).verify(trusted: trusted) } throws: { error in
            guard let r = error as? UpdateRefusal else { return false }
            return r.step == .signature && r.message.contains("unknown key \(signer)") && r.message.contains(other.id)
        }
    }

    @Test func anAlteredManifestFailsItsSignature() throws {
        let dir = try UpdateFixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let (path, key) = try UpdateFixtures.bundle(in: dir)
        let file = try BundleFile.open(path: path)
        var header = file.header
        let text = String(decoding: header.manifestBytes, as: UTF8.self).replacingOccurrences(of: "\"version\" : 2", with: "\"version\" : 9")
        #expect(text != String(decoding: header.manifestBytes, as: UTF8.self))
        header.manifestBytes = Array(text.utf8)
        let trusted = [TrustedKey(try KeyFiles.readPublic(path: key), source: key)]
        #expect { try header.verify(trusted: trusted) } throws: { error in
            (error as? UpdateRefusal)?.step == .signature && "\(error)".contains("does not verify")
        }
    }

    @Test func oneFlippedPayloadByteIsFoundAndNamed() throws {
        let dir = try UpdateFixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let (path, key) = try UpdateFixtures.bundle(in: dir)
        let file = try BundleFile.open(path: path)
        var bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: path)))
        let floatOffset = file.payloadOffset + (try Manifest.decode(file.header.manifestBytes)).offsets[1]
        bytes[floatOffset + 1000] ^= 0x01
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        let trusted = [TrustedKey(try KeyFiles.readPublic(path: key), source: key)]
        #expect { try BundleFile.open(path: path).verify(trusted: trusted) } throws: { error in
            guard let r = error as? UpdateRefusal else { return false }
            return r.step == .hashes && r.message.hasPrefix("model.float.onnx")
        }
    }

    @Test(arguments: [
        ("\"version\" : 2", "\"version\" : 0", "version 0 is not a positive integer"),
        ("\"format\" : 1", "\"format\" : 2", "format 2 is not understood"),
        ("\"frame-0001.npy\"", "\"frame-0000.npy\"", "appears twice"),
        ("\"frame-0001.npy\"", "\"../escape\"", "is not 1–100 characters"),
        ("\"role\" : \"float\"", "\"role\" : \"int8\"", "holds 2 files of role 'int8'"),
    ])
    func inconsistentManifestsAreRefusedNamingTheField(_ find: String, _ replace: String, _ expected: String) throws {
        let dir = try UpdateFixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let (path, _) = try UpdateFixtures.bundle(in: dir)
        let text = String(decoding: try BundleFile.open(path: path).header.manifestBytes, as: UTF8.self)
        #expect(text.contains(find))
        #expect { try Manifest.decode(Array(text.replacingOccurrences(of: find, with: replace).utf8)) } throws: { error in
            (error as? UpdateRefusal)?.step == .manifest && "\(error)".contains(expected)
        }
    }

    @Test func aFileThatIsNotABundleOrAKeyIsNamed() throws {
        let dir = try UpdateFixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let model = UpdateFixtures.path("patches/model.fp32.onnx")
        #expect { try BundleFile.open(path: model) } throws: { "\($0)".contains("not a QuantWatch bundle") }
        #expect { try KeyFiles.readPublic(path: model) } throws: { "\($0)".contains("not a PEM file") }
        let keys = try KeyFiles.generate(base: dir + "/k")
        #expect { try KeyFiles.readPrivate(path: keys.publicPath) } throws: { "\($0)".contains("expected 'PRIVATE KEY'") }
        #expect(throws: (any Error).self) { try KeyFiles.generate(base: dir + "/k") }   // never overwrites a key
    }

    @Test func aBundleThatCannotLoadIsNeverMade() throws {
        let dir = try UpdateFixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let keys = try KeyFiles.generate(base: dir + "/k")
        // The digits int8 model is not a quantization of the patches float model: the pair is refused.
        let request = BundleRequest(int8: UpdateFixtures.path("digits/model.int8.qop.onnx"), float: UpdateFixtures.path("patches/model.fp32.onnx"),
                                    name: "mixed", version: 1, keyPath: keys.privatePath, output: dir + "/mixed.qwb")
        #expect(throws: (any Error).self) { try BundleBuilder.create(request) }
        #expect(!FileManager.default.fileExists(atPath: dir + "/mixed.qwb"))
    }
}
