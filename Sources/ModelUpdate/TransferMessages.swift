// The transfer's messages (docs/model-updates.md, "Transfer over MQTT"): the `update_begin` JSON, the
// binary `update_chunk` frame, and the progress every reply carries. Pure values: no MQTT, no files.
import Crypto
import Documents
import Foundation

/// A transfer's id: the first 16 bytes of the SHA-256 of the bundle file, written as 32 hex digits.
public struct TransferID: Sendable, Hashable, Codable, CustomStringConvertible {
    public let bytes: [UInt8]

    public init?(bytes: some Collection<UInt8>) {
        guard bytes.count == 16 else { return nil }
        self.bytes = Array(bytes)
    }

    /// 32 hex digits (either case).
    public init?(hex: String) {
        guard hex.utf8.count == 32, let bytes = Hex.decode(hex) else { return nil }
        self.bytes = bytes
    }

    /// The id of a bundle file's bytes.
    public init(bundle: some Sequence<UInt8>) {
        var hasher = SHA256()
        hasher.update(data: Array(bundle))
        bytes = Array(Array(hasher.finalize()).prefix(16))
    }

    public var hex: String { Hex.encode(bytes) }
    public var description: String { hex }

    public init(from decoder: any Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        guard let id = TransferID(hex: text) else {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "'\(text)' is not 32 hex digits"))
        }
        self = id
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        try c.encode(hex)
    }
}

/// Where a transfer stands, as `result.state` says.
public enum TransferState: String, Sendable, Codable, CaseIterable {
    /// No transfer under way (`update_status` of an unknown one).
    case idle
    /// Chunks are arriving.
    case receiving
    /// Every chunk arrived; the bundle is being checked and installed.
    case verifying
    /// The verdicts.
    case installed, refused
    /// `update_abort` deleted it.
    case aborted
}

/// The chunk hash the `update_begin` lists: the first 16 hex digits of the chunk's SHA-256.
public enum ChunkHash {
    public static func of(_ bytes: some Sequence<UInt8>) -> String {
        var hasher = SHA256()
        hasher.update(data: Array(bytes))
        return Hex.encode(Array(hasher.finalize()).prefix(8))
    }

    public static func of(_ bytes: UnsafeRawBufferPointer) -> String {
        var hasher = SHA256()
        hasher.update(bufferPointer: bytes)
        return Hex.encode(Array(hasher.finalize()).prefix(8))
    }

    static func isValid(_ text: String) -> Bool {
        text.utf8.count == 16 && text.utf8.allSatisfy { (0x30...0x39).contains($0) || (0x61...0x66).contains($0) }
    }
}

/// Lower-case hex.
enum Hex {
    static func encode(_ bytes: some Sequence<UInt8>) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var out: [UInt8] = []
        for b in bytes {
            out.append(digits[Int(b >> 4)])
            out.append(digits[Int(b & 15)])
        }
        return String(decoding: out, as: UTF8.self)
    }

    static func decode(_ text: String) -> [UInt8]? {
        let utf8 = Array(text.utf8)
        guard utf8.count % 2 == 0 else { return nil }
        func nibble(_ c: UInt8) -> UInt8? {
            switch c {
            case 0x30...0x39: c - 0x30
            case 0x61...0x66: c - 0x61 + 10
            case 0x41...0x46: c - 0x41 + 10
            default: nil
            }
        }
        var out: [UInt8] = []
        out.reserveCapacity(utf8.count / 2)
        var i = 0
        while i < utf8.count {
            guard let high = nibble(utf8[i]), let low = nibble(utf8[i + 1]) else { return nil }
            out.append(high << 4 | low)
            i += 2
        }
        return out
    }
}

// MARK: - update_chunk

/// The binary `update_chunk` message: `"QWCK"`, the transfer id's 16 bytes, the chunk index (u32
/// big-endian), the chunk's bytes.
public struct ChunkFrame: Sendable, Equatable {
    public static let magic: [UInt8] = Array("QWCK".utf8)
    /// Bytes before the chunk's own.
    public static let overhead = 24

    public var transfer: TransferID
    public var index: Int
    public var bytes: ArraySlice<UInt8>

    public init(transfer: TransferID, index: Int, bytes: ArraySlice<UInt8>) {
        self.transfer = transfer
        self.index = index
        self.bytes = bytes
    }

    /// The message's bytes.
    public var encoded: [UInt8] {
        var out = Self.magic
        out.reserveCapacity(Self.overhead + bytes.count)
        out += transfer.bytes
        let i = UInt32(index)
        out += [UInt8(i >> 24), UInt8(i >> 16 & 0xFF), UInt8(i >> 8 & 0xFF), UInt8(i & 0xFF)]
        out += bytes
        return out
    }

    /// Parses a message; the refusal names what is wrong with it.
    public init(decoding message: [UInt8]) throws(UpdateRefusal) {
        guard message.count >= Self.overhead else {
            throw UpdateRefusal(.transfer, "update_chunk is \(message.count) bytes; expected \"QWCK\", a 16-byte transfer id, a u32 index and the chunk (at least \(Self.overhead + 1) bytes)")
        }
        guard Array(message[0..<4]) == Self.magic else {
            throw UpdateRefusal(.transfer, "update_chunk does not start with \"QWCK\" (found \(Hex.encode(message[0..<4]))); expected the binary chunk frame, not JSON")
        }
        transfer = TransferID(bytes: message[4..<20])!
        index = Int(UInt32(message[20]) << 24 | UInt32(message[21]) << 16 | UInt32(message[22]) << 8 | UInt32(message[23]))
        bytes = message[Self.overhead...]
        guard !bytes.isEmpty else { throw UpdateRefusal(.transfer, "update_chunk \(index) of \(transfer) carries no bytes") }
    }
}

// MARK: - update_begin

/// The `update_begin` command's arguments.
public struct UpdateBegin: Sendable, Equatable {
    public static let chunkSizes = 1024...(1 << 20)
    /// The header is at most 64 KiB (docs/model-updates.md).
    public static let maxHeaderBytes = 64 << 10

    public var transfer: TransferID
    /// The `bundle` object's exact bytes as they came (the bundle file's header).
    public var header: [UInt8]
    public var payloadSize: Int
    public var chunkSize: Int
    /// The first 16 hex digits of each chunk's SHA-256, in order.
    public var chunks: [String]

    public init(transfer: TransferID, header: [UInt8], payloadSize: Int, chunkSize: Int, chunks: [String]) {
        self.transfer = transfer
        self.header = header
        self.payloadSize = payloadSize
        self.chunkSize = chunkSize
        self.chunks = chunks
    }

    public var chunkCount: Int { chunks.count }

    /// The byte range of chunk `index` in the payload.
    public func range(of index: Int) -> Range<Int> {
        index * chunkSize..<min(payloadSize, (index + 1) * chunkSize)
    }

    /// Parses the command's raw JSON (the `bundle` value is kept byte for byte).
    public init(json payload: [UInt8]) throws(UpdateRefusal) {
        let body: JSONValue
        do { body = try JSONDecoder().decode(JSONValue.self, from: Data(payload)) } catch {
            throw UpdateRefusal(.transfer, "update_begin is not JSON; expected {\"id\", \"transfer\", \"bundle\", \"payload_size\", \"chunk_size\", \"chunks\"}")
        }
        guard let text = body["transfer"]?.string else { throw UpdateRefusal(.transfer, "update_begin lacks \"transfer\" (32 hex digits)") }
        guard let transfer = TransferID(hex: text) else { throw UpdateRefusal(.transfer, "update_begin's transfer '\(text)' is not 32 hex digits") }
        guard case .object? = body["bundle"], let span = JSONSpan.value(of: "bundle", in: payload) else {
            throw UpdateRefusal(.transfer, "update_begin lacks \"bundle\" (the bundle's header object)")
        }
        guard span.count <= Self.maxHeaderBytes else {
            throw UpdateRefusal(.transfer, "update_begin's bundle header is \(span.count) bytes; at most \(Self.maxHeaderBytes)")
        }
        func integer(_ key: String) throws(UpdateRefusal) -> Int {
            guard let n = body[key]?.number, n == n.rounded(), n >= 1, n < 1e15 else {
                throw UpdateRefusal(.transfer, "update_begin's \"\(key)\" is \(body[key].map { "\($0)" } ?? "missing"); expected a positive integer")
            }
            return Int(n)
        }
        let payloadSize = try integer("payload_size"), chunkSize = try integer("chunk_size")
        guard Self.chunkSizes.contains(chunkSize) else {
            throw UpdateRefusal(.transfer, "update_begin's chunk_size is \(chunkSize); expected 1024 … 1048576 bytes")
        }
        guard case let .array(list)? = body["chunks"] else { throw UpdateRefusal(.transfer, "update_begin lacks \"chunks\" (one hash per chunk)") }
        let expected = (payloadSize + chunkSize - 1) / chunkSize
        guard list.count == expected else {
            throw UpdateRefusal(.transfer, "update_begin lists \(list.count) chunk hashes; \(payloadSize) bytes in chunks of \(chunkSize) make \(expected)")
        }
        var chunks: [String] = []
        chunks.reserveCapacity(list.count)
        for (i, item) in list.enumerated() {
            guard let hash = item.string, ChunkHash.isValid(hash) else {
                throw UpdateRefusal(.transfer, "update_begin's chunks[\(i)] is \(item); expected 16 lower-case hex digits (the start of the chunk's SHA-256)")
            }
            chunks.append(hash)
        }
        self.init(transfer: transfer, header: Array(payload[span]), payloadSize: payloadSize, chunkSize: chunkSize, chunks: chunks)
    }

    /// The command's JSON, the header embedded byte for byte.
    public func json(id: CommandID) -> [UInt8] {
        let idText = (try? DocumentCoding.encode(id)) ?? "\"\""
        var out = Array("{\"id\":\(idText),\"transfer\":\"\(transfer.hex)\",\"bundle\":".utf8)
        out += header
        out += Array(",\"payload_size\":\(payloadSize),\"chunk_size\":\(chunkSize),\"chunks\":[".utf8)
        out += Array(chunks.map { "\"\($0)\"" }.joined(separator: ",").utf8)
        out += Array("]}".utf8)
        return out
    }
}

/// The exact bytes of a top-level value in a JSON object (so a signed envelope travels unchanged).
enum JSONSpan {
    /// The byte range of `key`'s value in the object `json`, nil when absent or malformed.
    static func value(of key: String, in json: [UInt8]) -> Range<Int>? {
        var i = 0
        func skipSpace() { while i < json.count, [0x20, 0x09, 0x0A, 0x0D].contains(json[i]) { i += 1 } }
        /// Past a string starting at i (a quote); its raw content range.
        func skipString() -> Range<Int>? {
            guard i < json.count, json[i] == 0x22 else { return nil }
            let start = i + 1
            i += 1
            while i < json.count {
                switch json[i] {
                case 0x5C: i += 2
                case 0x22:
                    i += 1
                    return start..<(i - 1)
                default: i += 1
                }
            }
            return nil
        }
        /// Past one value (string, object, array, literal or number).
        func skipValue() -> Bool {
            skipSpace()
            guard i < json.count else { return false }
            switch json[i] {
            case 0x22: return skipString() != nil
            case 0x7B, 0x5B:
                var depth = 0
                while i < json.count {
                    switch json[i] {
                    case 0x22: if skipString() == nil { return false }; continue
                    case 0x7B, 0x5B: depth += 1
                    case 0x7D, 0x5D:
                        depth -= 1
                        if depth == 0 { i += 1; return true }
                    default: break
                    }
                    i += 1
                }
                return false
            default:
                while i < json.count, ![0x2C, 0x7D, 0x5D, 0x20, 0x09, 0x0A, 0x0D].contains(json[i]) { i += 1 }
                return true
            }
        }
        skipSpace()
        guard i < json.count, json[i] == 0x7B else { return nil }
        i += 1
        while true {
            skipSpace()
            guard let name = skipString() else { return nil }
            skipSpace()
            guard i < json.count, json[i] == 0x3A else { return nil }
            i += 1
            skipSpace()
            let start = i
            guard skipValue() else { return nil }
            // Keys with escapes never match: the transfer's keys are plain ASCII.
            if Array(json[name]) == Array(key.utf8) { return start..<i }
            skipSpace()
            guard i < json.count, json[i] == 0x2C else { return nil }
            i += 1
        }
    }
}

// MARK: - Progress

/// What a transfer's replies carry in `result`.
public struct TransferProgress: Sendable, Equatable {
    public var transfer: TransferID?
    public var state: TransferState
    public var received = 0
    public var total = 0
    public var bytesReceived = 0
    public var payloadSize = 0
    /// Missing chunks as `[first, last]` ranges (at most `maxRanges`; `moreMissing` when cut).
    public var missing: [ClosedRange<Int>] = []
    public var moreMissing = false
    public var admission: AdmissionInfo?
    /// A refusal's step and reason (state `refused`).
    public var refusal: UpdateRefusal?
    /// The installer's details (state `installed`).
    public var details: JSONValue?

    /// Missing ranges listed per reply at most (a reply stays small: a broker may limit message size).
    public static let maxRanges = 256

    public init(transfer: TransferID?, state: TransferState) {
        self.transfer = transfer
        self.state = state
    }

    /// Ranges of the indexes in 0..<count not in `received`.
    public static func ranges(missingFrom received: Set<Int>, count: Int) -> [ClosedRange<Int>] {
        var out: [ClosedRange<Int>] = []
        var start: Int?
        for i in 0..<count {
            if received.contains(i) {
                if let s = start { out.append(s...(i - 1)); start = nil }
            } else if start == nil {
                start = i
            }
        }
        if let s = start { out.append(s...(count - 1)) }
        return out
    }

    /// The reply's `result` object.
    public var json: JSONValue {
        var o: [String: JSONValue] = ["state": .string(state.rawValue)]
        if let transfer { o["transfer"] = .string(transfer.hex) }
        if state != .idle && state != .aborted {
            o["received"] = .number(Double(received))
            o["total"] = .number(Double(total))
            o["bytes_received"] = .number(Double(bytesReceived))
            o["payload_size"] = .number(Double(payloadSize))
        }
        if state == .receiving {
            o["missing"] = .array(missing.map { .array([.number(Double($0.lowerBound)), .number(Double($0.upperBound))]) })
            if moreMissing { o["more_missing"] = .bool(true) }
        }
        if let admission {
            o["name"] = .string(admission.name)
            o["version"] = .number(Double(admission.version))
            if let key = admission.keyID { o["key_id"] = .string(key) }
        }
        if let refusal {
            o["step"] = .string(refusal.step.rawValue)
            o["reason"] = .string(refusal.message)
        }
        if let details { o["details"] = details }
        return .object(o)
    }

    /// Reads a reply's `result` (the pusher's side). Nil when it is not a transfer's progress.
    public init?(json: JSONValue) {
        guard let stateText = json["state"]?.string, let state = TransferState(rawValue: stateText) else { return nil }
        self.init(transfer: json["transfer"]?.string.flatMap(TransferID.init(hex:)), state: state)
        received = Int(json["received"]?.number ?? 0)
        total = Int(json["total"]?.number ?? 0)
        bytesReceived = Int(json["bytes_received"]?.number ?? 0)
        payloadSize = Int(json["payload_size"]?.number ?? 0)
        if case let .array(items)? = json["missing"] {
            for item in items {
                if case let .array(pair) = item, pair.count == 2, let a = pair[0].number, let b = pair[1].number, a >= 0, b >= a, b < 1e9 {
                    missing.append(Int(a)...Int(b))
                }
            }
        }
        moreMissing = json["more_missing"]?.bool ?? false
        if let name = json["name"]?.string, let version = json["version"]?.number {
            admission = AdmissionInfo(name: name, version: Int(version), keyID: json["key_id"]?.string)
        }
        if let step = json["step"]?.string.flatMap(UpdateStep.init(rawValue:)), let reason = json["reason"]?.string {
            refusal = UpdateRefusal(step, reason)
        }
        details = json["details"]
    }
}

// MARK: - The pusher's side

extension UpdateBegin {
    /// The `update_begin` of a bundle file (docs/model-updates.md: "QWBUNDLE", the header's length as a
    /// u32 big-endian, the header, the payload) cut in chunks of `chunkSize`; `payloadOffset` is where the
    /// payload starts in `bundle`.
    public static func plan(bundle: [UInt8], chunkSize: Int) throws(UpdateRefusal) -> (begin: UpdateBegin, payloadOffset: Int) {
        guard chunkSizes.contains(chunkSize) else { throw UpdateRefusal(.transfer, "chunk size \(chunkSize) bytes; expected 1024 … 1048576") }
        guard bundle.count >= 12, Array(bundle[0..<8]) == Array("QWBUNDLE".utf8) else {
            throw UpdateRefusal(.manifest, "not a bundle: it does not start with \"QWBUNDLE\" (make one with quantwatch bundle create)")
        }
        let length = Int(UInt32(bundle[8]) << 24 | UInt32(bundle[9]) << 16 | UInt32(bundle[10]) << 8 | UInt32(bundle[11]))
        guard length <= maxHeaderBytes, 12 + length <= bundle.count else {
            throw UpdateRefusal(.manifest, "the bundle's header length is \(length) bytes; expected at most \(maxHeaderBytes) within the file's \(bundle.count) bytes")
        }
        let header = Array(bundle[12..<(12 + length)])
        _ = try SignedHeader.decode(header)   // the envelope's shape; the device checks the signatures
        let payload = bundle[(12 + length)...]
        guard !payload.isEmpty else { throw UpdateRefusal(.manifest, "the bundle has no payload") }
        var chunks: [String] = []
        var offset = payload.startIndex
        while offset < payload.endIndex {
            let end = min(offset + chunkSize, payload.endIndex)
            chunks.append(payload[offset..<end].withUnsafeBytes { ChunkHash.of($0) })
            offset = end
        }
        let begin = UpdateBegin(transfer: TransferID(bundle: bundle), header: header, payloadSize: payload.count, chunkSize: chunkSize, chunks: chunks)
        return (begin, 12 + length)
    }
}
