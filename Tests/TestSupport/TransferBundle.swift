// A bundle file's layout (docs/model-updates.md) around pseudo-random bytes, for transfer tests: the
// transfer never looks inside the header or the payload, so no key signs it and no model is in it.
import Foundation

public enum TransferBundle {
    /// "QWBUNDLE", the header's length (u32 big-endian), a header (an envelope with an unsigned manifest),
    /// `payloadSize` bytes from SplitMix64(`seed`).
    public static func make(payloadSize: Int, seed: UInt64 = 1) -> [UInt8] {
        let manifest = Data(#"{"format":1,"name":"transfer-test","version":2}"#.utf8).base64EncodedString()
        let header = Array(#"{"manifest":"\#(manifest)","signatures":[]}"#.utf8)
        var random = SplitMix64(seed: seed)
        var payload = [UInt8](repeating: 0, count: payloadSize)
        for i in stride(from: 0, to: payloadSize, by: 8) {
            let bits = random.next()
            for j in 0..<min(8, payloadSize - i) { payload[i + j] = UInt8(truncatingIfNeeded: bits >> (8 * UInt64(j))) }
        }
        let n = UInt32(header.count)
        return Array("QWBUNDLE".utf8) + [UInt8(n >> 24), UInt8(n >> 16 & 0xFF), UInt8(n >> 8 & 0xFF), UInt8(n & 0xFF)] + header + payload
    }

    /// The payload of a bundle `make` made.
    public static func payload(of bundle: [UInt8]) -> [UInt8] {
        let n = Int(bundle[8]) << 24 | Int(bundle[9]) << 16 | Int(bundle[10]) << 8 | Int(bundle[11])
        return Array(bundle[(12 + n)...])
    }
}
