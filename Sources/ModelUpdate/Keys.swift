// Ed25519 keys in the PEM files OpenSSL writes (`openssl genpkey -algorithm ed25519`, `openssl pkey
// -pubout`): PKCS#8 PRIVATE KEY and SubjectPublicKeyInfo PUBLIC KEY (RFC 8410). swift-crypto signs and
// verifies; the DER wrapping of an Ed25519 key is a fixed prefix, so it is written here.
import Crypto
import Foundation

/// An Ed25519 public key a device trusts, with its id and where it came from.
public struct TrustedKey: Sendable {
    /// The 32 raw key bytes (swift-crypto's key type is not Sendable).
    public let raw: [UInt8]
    public var key: Curve25519.Signing.PublicKey { try! Curve25519.Signing.PublicKey(rawRepresentation: raw) }
    /// The first 16 hex digits of the SHA-256 of the 32 raw key bytes.
    public let id: String
    /// The file it was read from (for messages).
    public let source: String

    public init(_ key: Curve25519.Signing.PublicKey, source: String) {
        self.raw = Array(key.rawRepresentation)
        self.id = KeyFiles.id(of: key)
        self.source = source
    }
}

public enum KeyFiles {
    // RFC 8410: SEQUENCE { SEQUENCE { OID 1.3.101.112 } BIT STRING key } and the PKCS#8 form.
    static let publicPrefix: [UInt8] = [0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00]
    static let privatePrefix: [UInt8] = [0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20]

    /// A key's id: the first 16 hex digits of the SHA-256 of its raw bytes.
    public static func id(of key: Curve25519.Signing.PublicKey) -> String {
        String(Hex.encode(SHA256.hash(data: key.rawRepresentation)).prefix(16))
    }

    public static func publicPEM(_ key: Curve25519.Signing.PublicKey) -> String {
        pem("PUBLIC KEY", publicPrefix + Array(key.rawRepresentation))
    }

    public static func privatePEM(_ key: Curve25519.Signing.PrivateKey) -> String {
        pem("PRIVATE KEY", privatePrefix + Array(key.rawRepresentation))
    }

    /// Reads a public key file (PEM SubjectPublicKeyInfo). A private key file is accepted too (its public half).
    public static func readPublic(path: String) throws -> Curve25519.Signing.PublicKey {
        let (label, der) = try readPEM(path: path)
        switch label {
        case "PUBLIC KEY":
            guard der.count == 44, Array(der.prefix(12)) == publicPrefix else {
                throw KeyFileError(path: path, "is a PUBLIC KEY but not Ed25519 (expected the 44-byte RFC 8410 form, as `openssl pkey -pubout` writes for an ed25519 key)")
            }
            return try Curve25519.Signing.PublicKey(rawRepresentation: der.suffix(32))
        case "PRIVATE KEY":
            return try readPrivate(path: path).publicKey
        default:
            throw KeyFileError(path: path, "holds a PEM '\(label)'; expected 'PUBLIC KEY' (Ed25519)")
        }
    }

    /// Reads a private key file (PEM PKCS#8 Ed25519).
    public static func readPrivate(path: String) throws -> Curve25519.Signing.PrivateKey {
        let (label, der) = try readPEM(path: path)
        guard label == "PRIVATE KEY" else { throw KeyFileError(path: path, "holds a PEM '\(label)'; expected 'PRIVATE KEY' (Ed25519, PKCS#8)") }
        guard der.count == 48, Array(der.prefix(16)) == privatePrefix else {
            throw KeyFileError(path: path, "is a PRIVATE KEY but not Ed25519 (expected the 48-byte RFC 8410 PKCS#8 form, as `openssl genpkey -algorithm ed25519` writes)")
        }
        return try Curve25519.Signing.PrivateKey(rawRepresentation: der.suffix(32))
    }

    /// Reads trusted public keys; every file must hold one.
    public static func readTrusted(paths: [String]) throws -> [TrustedKey] {
        try paths.map { TrustedKey(try readPublic(path: $0), source: $0) }
    }

    /// Writes a new key pair: `<base>.key` (mode 0600) and `<base>.pub`. Refuses to overwrite.
    public static func generate(base: String) throws -> (privatePath: String, publicPath: String, id: String) {
        let privatePath = base + ".key", publicPath = base + ".pub"
        for path in [privatePath, publicPath] where FileManager.default.fileExists(atPath: path) {
            throw KeyFileError(path: path, "exists; not overwritten (choose another --output or remove it)")
        }
        let key = Curve25519.Signing.PrivateKey()
        guard FileManager.default.createFile(atPath: privatePath, contents: Data(privatePEM(key).utf8), attributes: [.posixPermissions: 0o600]) else {
            throw KeyFileError(path: privatePath, "cannot be created")
        }
        try Data(publicPEM(key.publicKey).utf8).write(to: URL(fileURLWithPath: publicPath))
        return (privatePath, publicPath, id(of: key.publicKey))
    }

    static func pem(_ label: String, _ der: [UInt8]) -> String {
        let b64 = Data(der).base64EncodedString(options: [.lineLength64Characters, .endLineWithLineFeed])
        return "-----BEGIN \(label)-----\n\(b64)\n-----END \(label)-----\n"
    }

    static func readPEM(path: String) throws -> (label: String, der: [UInt8]) {
        guard let data = FileManager.default.contents(atPath: path) else { throw KeyFileError(path: path, "cannot be read") }
        let text = String(decoding: data, as: UTF8.self)
        let lines = text.split(whereSeparator: \.isNewline).map { $0.trimmingCharacters(in: .whitespaces) }
        guard let begin = lines.firstIndex(where: { $0.hasPrefix("-----BEGIN ") && $0.hasSuffix("-----") }) else {
            throw KeyFileError(path: path, "is not a PEM file (no '-----BEGIN …-----' line)")
        }
        let label = String(lines[begin].dropFirst(11).dropLast(5))
        guard let end = lines[begin...].firstIndex(of: "-----END \(label)-----") else {
            throw KeyFileError(path: path, "has no '-----END \(label)-----' line")
        }
        guard let der = Data(base64Encoded: lines[(begin + 1)..<end].joined()) else {
            throw KeyFileError(path: path, "holds a '\(label)' whose base64 does not decode")
        }
        return (label, Array(der))
    }
}

/// A key file that cannot be used, naming the file.
public struct KeyFileError: Error, Sendable, CustomStringConvertible {
    public var path: String
    public var message: String
    public init(path: String, _ message: String) {
        self.path = path
        self.message = message
    }
    public var description: String { "\(path): \(message)" }
}
