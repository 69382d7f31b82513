import Foundation
import QuantGraph

/// One frame file found in a directory.
public struct FrameFile: Sendable, Equatable {
    /// What a frame file holds, from its extension.
    public enum Kind: String, Sendable, Equatable, CaseIterable {
        case npy, pgm, ppm
    }

    /// Where the file is.
    public let url: URL
    /// The file name (last path component), e.g. `"frame-0001.npy"`.
    public let name: String
    public let kind: Kind

    /// A frame file for `url`, or nil if its extension (case-insensitive) is not .npy, .pgm or .ppm.
    public init?(url: URL) {
        guard let kind = Kind(rawValue: url.pathExtension.lowercased()) else { return nil }
        self.url = url
        self.name = url.lastPathComponent
        self.kind = kind
    }
}

/// Finds frame files in a directory and splits stacked `.npy` batches into frames.
public enum FrameSet {
    /// The frame files (.npy, .pgm, .ppm, any letter case) directly inside `directory`, sorted by
    /// file name (Unicode scalar order, so `frame-0002` sorts before `frame-0010`). Other files,
    /// subdirectories and hidden files (names starting with `.`) are ignored.
    /// - Throws: `FrameSourceError` naming the directory if it is missing, is not a directory,
    ///   cannot be listed, or holds no frame files.
    public static func files(in directory: URL) throws -> [FrameFile] {
        let path = directory.path
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw FrameSourceError(source: path, message: "frame directory does not exist")
        }
        guard isDirectory.boolValue else {
            throw FrameSourceError(source: path, message: "expected a directory of frame files, found a file")
        }
        let entries: [URL]
        do {
            entries = try FileManager.default.contentsOfDirectory(
                at: directory, includingPropertiesForKeys: [.isRegularFileKey], options: [.skipsHiddenFiles])
        } catch {
            throw FrameSourceError(source: path, message: "cannot list frame directory: \(error.localizedDescription)")
        }
        let frames = entries.compactMap { url -> FrameFile? in
            guard !url.lastPathComponent.hasPrefix("."), let frame = FrameFile(url: url) else { return nil }
            let isRegular = (try? url.resourceValues(forKeys: [.isRegularFileKey]).isRegularFile) ?? nil
            guard isRegular ?? true else { return nil }
            return frame
        }
        .sorted { $0.name.unicodeScalars.lexicographicallyPrecedes($1.name.unicodeScalars) }
        guard !frames.isEmpty else {
            throw FrameSourceError(source: path, message: "no frame files in directory; expected files ending in .npy, .pgm or .ppm")
        }
        return frames
    }

    /// The URLs of `files(in: directory)`: frame files in sorted file-name order.
    public static func list(_ directory: URL) throws -> [URL] {
        try files(in: directory).map(\.url)
    }

    /// Reads one `.npy` file of shape `[N, …]` and splits it into N tensors of shape `[1, …]`
    /// (copies, in order).
    /// - Throws: `FrameSourceError` naming the file if it cannot be read, is a scalar, or has N = 0.
    public static func loadStacked(_ url: URL) throws -> [Tensor] {
        try split(NPY.read(contentsOf: url), source: url.path)
    }

    /// Splits a tensor of shape `[N, …]` along its first axis into N tensors of shape `[1, …]`.
    public static func split(_ stacked: Tensor, source: String) throws -> [Tensor] {
        guard let count = stacked.shape.first else {
            throw FrameSourceError(source: source, message: "expected a stacked array of shape [N, ...], found a scalar (shape ())")
        }
        guard count > 0 else {
            throw FrameSourceError(source: source, message: "stacked array \(stacked.type) holds no frames (first dimension is 0)")
        }
        let frameType = TensorType(stacked.dataType, [1] + stacked.shape.dropFirst())
        let frameBytes = frameType.byteCount
        return stacked.withUnsafeBytes { all in
            (0..<count).map { i in
                Tensor(type: frameType, bytes: UnsafeRawBufferPointer(rebasing: all[i * frameBytes..<(i + 1) * frameBytes]))
            }
        }
    }
}
