import Foundation
import Testing
@testable import FrameSources
import QuantGraph

/// The directory of numpy-written fixtures next to this file.
let resourcesDirectory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Resources")

/// Asserts that `body` throws a `FrameSourceError` whose message contains every one of `needles`.
func expectFrameError(
    _ needles: String..., source: String? = nil,
    sourceLocation: SourceLocation = #_sourceLocation, _ body: () throws -> Any
) {
    let error = #expect(throws: FrameSourceError.self, sourceLocation: sourceLocation) { _ = try body() }
    guard let error else { return }
    for needle in needles {
        #expect(error.message.contains(needle), "message \"\(error.message)\" lacks \"\(needle)\"", sourceLocation: sourceLocation)
    }
    if let source {
        #expect(error.source == source, sourceLocation: sourceLocation)
    }
}

/// A `.npy` file assembled by hand: magic, version, little-endian header length, header text, data.
/// `declaredLength` overrides the header length field (to fake truncation).
func npyFile(major: UInt8 = 1, minor: UInt8 = 0, header: String, data: [UInt8] = [], declaredLength: Int? = nil) -> Data {
    var bytes: [UInt8] = [0x93] + Array("NUMPY".utf8) + [major, minor]
    let headerBytes = Array(header.utf8)
    let length = declaredLength ?? headerBytes.count
    let fieldSize = major == 1 ? 2 : 4
    for i in 0..<fieldSize { bytes.append(UInt8(truncatingIfNeeded: length >> (8 * i))) }
    return Data(bytes + headerBytes + data)
}

/// A fresh empty temporary directory; the caller removes it.
func makeTemporaryDirectory() throws -> URL {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("frames-tests-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    return url
}

/// The raw bytes of a tensor.
func bytes(of tensor: Tensor) -> [UInt8] { tensor.withUnsafeBytes { Array($0) } }
