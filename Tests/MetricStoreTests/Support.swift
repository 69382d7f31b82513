import Foundation
@testable import MetricStore

/// A fresh directory under the system temporary directory, removed when released.
final class TemporaryDirectory {
    let url: URL

    init() throws {
        url = FileManager.default.temporaryDirectory.appendingPathComponent("qw-store-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    }

    deinit { try? FileManager.default.removeItem(at: url) }

    func path(_ name: String) -> String { url.appendingPathComponent(name).path }

    /// The names of the files in the directory, sorted.
    var files: [String] { ((try? FileManager.default.contentsOfDirectory(atPath: url.path)) ?? []).sorted() }
}

/// A clock the tests set.
final class TestClock: @unchecked Sendable {
    private let lock = NSLock()
    private var ms: Int64

    init(_ ms: Int64 = 1_795_000_000_000) { self.ms = ms }

    var now: @Sendable () -> Int64 { { [self] in lock.withLock { ms } } }

    func advance(_ delta: Int64) { lock.withLock { ms += delta } }
}

extension MetricStore.Batch {
    /// A window with `documents` metric documents of about `payloadBytes` each, whose text names its seq.
    static func window(_ index: Int, documents: Int = 1, payloadBytes: Int = 100, at ms: Int64? = nil) -> MetricStore.Batch {
        let end = ms ?? 1_795_000_000_000 + Int64(index) * 1000
        let padding = String(repeating: "p", count: max(0, payloadBytes - 40))
        return MetricStore.Batch(
            window: .init(startMs: end - 1000, endMs: end, modelSHA256: "sha-a", json: #"{"window":\#(index)}"#),
            documents: (0..<documents).map { _ in
                MetricStore.Document(topic: "metrics", tsMs: end) { seq in #"{"seq":\#(seq),"pad":"\#(padding)"}"# }
            })
    }
}

/// Reads a value straight from a database file with a connection of its own.
func query(_ path: String, _ sql: String) throws -> String? {
    let connection = try SQLiteConnection(path: path, create: false)
    defer { connection.close() }
    return try connection.text(sql)
}

func fileBytes(_ path: String) -> Int64 { fileSize(path) ?? -1 }

/// Writes `bytes` into the file at `offset` (without truncating it).
func overwrite(_ path: String, at offset: UInt64, with bytes: [UInt8]) throws {
    let handle = try FileHandle(forUpdating: URL(fileURLWithPath: path))
    defer { try? handle.close() }
    try handle.seek(toOffset: offset)
    try handle.write(contentsOf: Data(bytes))
    try handle.synchronize()
}

func randomBytes(_ count: Int, seed: UInt64) -> [UInt8] {
    var state = seed
    return (0..<count).map { _ in
        state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
        return UInt8(truncatingIfNeeded: state >> 56)
    }
}
