// The `.qwb` file: "QWBUNDLE", the header's length (u32 big-endian), the header, the payload (the
// manifest's files concatenated in order). docs/model-updates.md.
import Crypto
import Foundation

public struct BundleFile: Sendable {
    public static let magic = Array("QWBUNDLE".utf8)

    public let path: String
    public let headerBytes: [UInt8]
    public let header: SignedHeader
    /// Where the payload starts in the file, and its size.
    public let payloadOffset: Int
    public let payloadSize: Int

    /// Reads the layout (not the payload) and decodes the header; nothing is verified yet.
    public static func open(path: String) throws(UpdateRefusal) -> BundleFile {
        guard let handle = FileHandle(forReadingAtPath: path) else { throw UpdateRefusal(.transfer, "\(path): cannot be opened for reading") }
        defer { try? handle.close() }
        let prefix = (try? handle.read(upToCount: 12)).map { Array($0) } ?? []
        guard prefix.count == 12, Array(prefix.prefix(8)) == magic else {
            throw UpdateRefusal(.manifest, "\(path): not a QuantWatch bundle (expected the 8 bytes 'QWBUNDLE' first)")
        }
        let length = prefix[8..<12].reduce(0) { $0 << 8 | Int($1) }
        guard length <= SignedHeader.maxBytes else { throw UpdateRefusal(.manifest, "\(path): header of \(length) bytes; at most \(SignedHeader.maxBytes)") }
        let headerBytes = (try? handle.read(upToCount: length)).map { Array($0) } ?? []
        guard headerBytes.count == length else { throw UpdateRefusal(.manifest, "\(path): truncated in its header (\(headerBytes.count) of \(length) bytes)") }
        let size = Int((try? handle.seekToEnd()) ?? 0)
        return BundleFile(path: path, headerBytes: headerBytes, header: try SignedHeader.decode(headerBytes),
                          payloadOffset: 12 + length, payloadSize: size - 12 - length)
    }

    /// Writes a bundle: the header, then each file's bytes (from `sources`, in manifest order).
    public static func write(path: String, header: SignedHeader, sources: [String]) throws {
        let headerBytes = try header.encoded()
        let tmp = path + ".tmp"
        _ = FileManager.default.createFile(atPath: tmp, contents: nil)
        guard let out = FileHandle(forWritingAtPath: tmp) else { throw UpdateRefusal(.install, "\(tmp): cannot be created") }
        do {
            let n = UInt32(headerBytes.count)
            try out.write(contentsOf: magic + [UInt8(n >> 24), UInt8(n >> 16 & 255), UInt8(n >> 8 & 255), UInt8(n & 255)] + headerBytes)
            for source in sources { try out.write(contentsOf: try Data(contentsOf: URL(fileURLWithPath: source))) }
            try out.synchronize()
            try out.close()
        } catch {
            try? out.close()
            try? FileManager.default.removeItem(atPath: tmp)
            throw error
        }
        guard rename(tmp, path) == 0 else { throw UpdateRefusal(.install, "\(path): cannot be written (rename failed, errno \(errno))") }
    }

    /// The first 16 bytes of the SHA-256 of the whole file, as 32 hex digits: the transfer's id.
    public func transferID() throws -> String {
        String(try Self.sha256(path: path, offset: 0, count: 12 + headerBytes.count + payloadSize).prefix(32))
    }

    /// SHA-256 (hex) of `count` bytes of a file from `offset`, read 1 MiB at a time.
    public static func sha256(path: String, offset: Int, count: Int) throws -> String {
        guard let handle = FileHandle(forReadingAtPath: path) else { throw UpdateRefusal(.hashes, "\(path): cannot be opened for reading") }
        defer { try? handle.close() }
        try handle.seek(toOffset: UInt64(offset))
        var hasher = SHA256(), left = count
        while left > 0 {
            guard let data = try handle.read(upToCount: min(left, 1 << 20)), !data.isEmpty else { break }
            hasher.update(data: data)
            left -= data.count
        }
        guard left == 0 else { throw UpdateRefusal(.hashes, "\(path): ends \(left) bytes early") }
        return Hex.encode(hasher.finalize())
    }
}

/// The payload's files against the manifest: sizes and hashes, written out when they match.
public enum Payload {
    /// Checks the payload's size and every file's hash; names the first file that differs.
    public static func verify(_ manifest: Manifest, path: String, offset: Int, size: Int) throws(UpdateRefusal) {
        guard size == manifest.payloadSize else {
            throw UpdateRefusal(.hashes, "the payload is \(size) bytes; the manifest's files add up to \(manifest.payloadSize)")
        }
        for (file, start) in zip(manifest.files, manifest.offsets) {
            let digest: String
            do { digest = try BundleFile.sha256(path: path, offset: offset + start, count: file.size) } catch {
                throw UpdateRefusal(.hashes, "\(file.name): \(error)")
            }
            guard digest == file.sha256 else {
                throw UpdateRefusal(.hashes, "\(file.name) (\(file.role.rawValue), \(file.size) bytes) has sha256 \(digest); the manifest says \(file.sha256)")
            }
        }
    }

    /// Copies each file of the payload into `directory` (written, fsynced, renamed), checking each
    /// hash on the way; the directory is fsynced at the end.
    public static func extract(_ manifest: Manifest, path: String, offset: Int, into directory: String) throws(UpdateRefusal) {
        do {
            guard let input = FileHandle(forReadingAtPath: path) else { throw UpdateRefusal(.install, "\(path): cannot be opened for reading") }
            defer { try? input.close() }
            for (file, start) in zip(manifest.files, manifest.offsets) {
                try input.seek(toOffset: UInt64(offset + start))
                let target = directory + "/" + file.name, tmp = target + ".tmp"
                _ = FileManager.default.createFile(atPath: tmp, contents: nil)
                guard let out = FileHandle(forWritingAtPath: tmp) else { throw UpdateRefusal(.install, "\(tmp): cannot be created") }
                var hasher = SHA256(), left = file.size
                do {
                    while left > 0 {
                        guard let data = try input.read(upToCount: min(left, 1 << 20)), !data.isEmpty else { break }
                        hasher.update(data: data)
                        try out.write(contentsOf: data)
                        left -= data.count
                    }
                    try out.synchronize()
                    try out.close()
                } catch {
                    try? out.close()
                    throw error
                }
                let digest = Hex.encode(hasher.finalize())
                guard left == 0, digest == file.sha256 else {
                    try? FileManager.default.removeItem(atPath: tmp)
                    throw UpdateRefusal(.hashes, left > 0 ? "\(file.name): the payload ends \(left) bytes early"
                                        : "\(file.name) has sha256 \(digest); the manifest says \(file.sha256)")
                }
                guard rename(tmp, target) == 0 else { throw UpdateRefusal(.install, "\(target): rename failed (errno \(errno))") }
            }
            try FileSystem.syncDirectory(directory)
        } catch let refusal as UpdateRefusal {
            throw refusal
        } catch {
            throw UpdateRefusal(.install, "writing into \(directory): \(error)")
        }
    }
}

/// Durable file operations (write, fsync, rename, fsync the directory).
public enum FileSystem {
    public static func syncDirectory(_ path: String) throws(UpdateRefusal) {
        let fd = open(path, O_RDONLY | O_DIRECTORY)
        guard fd >= 0 else { throw UpdateRefusal(.install, "\(path): cannot be opened to sync (errno \(errno))") }
        defer { close(fd) }
        guard fsync(fd) == 0 else { throw UpdateRefusal(.install, "\(path): fsync failed (errno \(errno))") }
    }

    /// Replaces `path` with `bytes` atomically: a temporary file written and fsynced, renamed over it,
    /// the directory fsynced. A crash leaves the old file or the new one, never a mix.
    public static func writeAtomically(_ bytes: [UInt8], to path: String) throws(UpdateRefusal) {
        let tmp = path + ".tmp"
        let fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        guard fd >= 0 else { throw UpdateRefusal(.install, "\(tmp): cannot be created (errno \(errno))") }
        var written = 0
        while written < bytes.count {
            let n = bytes.withUnsafeBytes { write(fd, $0.baseAddress! + written, bytes.count - written) }
            guard n > 0 else { close(fd); throw UpdateRefusal(.install, "\(tmp): write failed (errno \(errno))") }
            written += n
        }
        guard fsync(fd) == 0 else { close(fd); throw UpdateRefusal(.install, "\(tmp): fsync failed (errno \(errno))") }
        close(fd)
        guard rename(tmp, path) == 0 else { throw UpdateRefusal(.install, "\(path): rename failed (errno \(errno))") }
        try syncDirectory((path as NSString).deletingLastPathComponent)
    }
}
