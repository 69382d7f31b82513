// The bundle's header: the manifest's exact bytes and Ed25519 signatures over them. Verified before
// the manifest is even decoded (The Update Framework's order: metadata signatures first).
import Crypto
import Foundation

public struct SignedHeader: Sendable, Equatable {
    public struct Signature: Sendable, Equatable, Codable {
        public var keyID: String
        public var signature: [UInt8]
        public init(keyID: String, signature: [UInt8]) {
            self.keyID = keyID
            self.signature = signature
        }
        enum CodingKeys: String, CodingKey { case keyID = "key_id", signature }
        public init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            keyID = try c.decode(String.self, forKey: .keyID)
            let text = try c.decode(String.self, forKey: .signature)
            guard let bytes = Data(base64Encoded: text) else {
                throw DecodingError.dataCorruptedError(forKey: .signature, in: c, debugDescription: "signature is not base64")
            }
            signature = Array(bytes)
        }
        public func encode(to encoder: any Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(keyID, forKey: .keyID)
            try c.encode(Data(signature).base64EncodedString(), forKey: .signature)
        }
    }

    /// The largest header accepted (it travels in one command).
    public static let maxBytes = 64 << 10

    public var manifestBytes: [UInt8]
    public var signatures: [Signature]

    public init(manifestBytes: [UInt8], signatures: [Signature]) {
        self.manifestBytes = manifestBytes
        self.signatures = signatures
    }

    /// Signs manifest bytes with one key.
    public static func signing(_ manifestBytes: [UInt8], with key: Curve25519.Signing.PrivateKey) throws -> SignedHeader {
        let signature = try key.signature(for: manifestBytes)
        return SignedHeader(manifestBytes: manifestBytes, signatures: [Signature(keyID: KeyFiles.id(of: key.publicKey), signature: Array(signature))])
    }

    private struct Wire: Codable {
        var manifest: String
        var signatures: [Signature]
    }

    /// The header's JSON bytes.
    public func encoded() throws -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return Array(try encoder.encode(Wire(manifest: Data(manifestBytes).base64EncodedString(), signatures: signatures)))
    }

    /// Decodes header bytes (not yet verified).
    public static func decode(_ bytes: [UInt8]) throws(UpdateRefusal) -> SignedHeader {
        guard bytes.count <= maxBytes else { throw UpdateRefusal(.manifest, "the header is \(bytes.count) bytes; at most \(maxBytes)") }
        let wire: Wire
        do { wire = try JSONDecoder().decode(Wire.self, from: Data(bytes)) } catch {
            throw UpdateRefusal(.manifest, "the header is not {\"manifest\": base64, \"signatures\": [{\"key_id\", \"signature\"}]} (\(Manifest.describe(error)))")
        }
        guard let manifest = Data(base64Encoded: wire.manifest) else { throw UpdateRefusal(.manifest, "the header's manifest is not base64") }
        return SignedHeader(manifestBytes: Array(manifest), signatures: wire.signatures)
    }

    /// Checks the signatures against the trusted keys (one valid signature by a trusted key suffices),
    /// then decodes and checks the manifest. Returns it and the key that signed it.
    public func verify(trusted: [TrustedKey]) throws(UpdateRefusal) -> (manifest: Manifest, key: TrustedKey) {
        guard !signatures.isEmpty else { throw UpdateRefusal(.signature, "the bundle is not signed") }
        guard !trusted.isEmpty else {
            throw UpdateRefusal(.signature, "this device trusts no key (update.trusted_keys is empty); bundle signed by key \(signatures.map(\.keyID).joined(separator: ", "))")
        }
        var bad = [String]()
        for s in signatures {
            guard let key = trusted.first(where: { $0.id == s.keyID }) else { continue }
            if key.key.isValidSignature(s.signature, for: manifestBytes) {
                return (try Manifest.decode(manifestBytes), key)
            }
            bad.append(s.keyID)
        }
        if !bad.isEmpty {
            throw UpdateRefusal(.signature, "the signature by key \(bad.joined(separator: ", ")) does not verify: the manifest was altered after signing, or signed with another key of the same id")
        }
        throw UpdateRefusal(.signature, "signed by unknown key \(signatures.map(\.keyID).joined(separator: ", ")); this device trusts \(trusted.map { "\($0.id) (\($0.source))" }.joined(separator: ", "))")
    }
}
