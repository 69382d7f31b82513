import Foundation
import QuantGraph

#if canImport(Glibc)
import Glibc
#endif

/// A frame set (as `FrameLoader.load` takes it) delivered one frame at a time into a caller's
/// buffer, so memory holds one frame however many there are (`quantwatch bench`).
///
/// Every frame is checked against `type` when the feed is made, with `FrameLoader`'s messages. A
/// `.npy` frame is then read from its file at each `fill` (one `pread` at the offset its header
/// gave; a stacked `[N, …]` file is N frames at consecutive offsets); an image is decoded and
/// preprocessed again at each `fill`. The values are exactly those `FrameLoader.load` returns.
public final class FrameFeed {
    enum Entry {
        /// One frame (`type.byteCount` bytes) at byte `offset` of the file at `path`, laid out as `header` says.
        case npy(path: String, offset: Int, header: NPYHeader)
        case image(FrameFile)
    }

    /// The frames' names, in order (file names; "NAME[i]" for frames of a stacked file).
    public let names: [String]
    /// The type every frame has (the input it fills).
    public let type: TensorType
    let entries: [Entry]
    let preprocessing: ImagePreprocessing?
    let inputName: String

    /// Frames from `path`: a directory of .npy/.pgm/.ppm files (sorted by name) or one .npy file,
    /// each of `type` or a stack `[N, …]` of such frames.
    public init(_ path: String, expecting type: TensorType, inputName: String, preprocessing: ImagePreprocessing?) throws {
        var names: [String] = []
        var entries: [Entry] = []
        for file in try FrameLoader.files(at: path) {
            switch file.kind {
            case .npy:
                // Only the header is read here (the file is mapped, its data pages untouched).
                let layout: NPY.Layout
                do {
                    let data = try Data(contentsOf: file.url, options: .alwaysMapped)
                    layout = try data.withUnsafeBytes { try NPY.layout($0, source: file.url.path) }
                } catch let error as FrameSourceError {
                    throw error
                } catch {
                    throw FrameSourceError(source: file.url.path, message: "cannot read .npy file: \(error.localizedDescription)")
                }
                guard let count = try FrameLoader.frameCount(layout.type, expecting: type, file: file, inputName: inputName) else {
                    names.append(file.name)
                    entries.append(.npy(path: file.url.path, offset: layout.dataStart, header: layout.header))
                    continue
                }
                guard count > 0 else {
                    throw FrameSourceError(source: file.url.path, message: "stacked array \(layout.type) holds no frames (first dimension is 0)")
                }
                for index in 0..<count {
                    names.append("\(file.name)[\(index)]")
                    entries.append(.npy(path: file.url.path, offset: layout.dataStart + index * type.byteCount, header: layout.header))
                }
            case .pgm, .ppm:
                _ = try FrameLoader.imageFrame(file, preprocessing: preprocessing, expecting: type, inputName: inputName)
                names.append(file.name)
                entries.append(.image(file))
            }
        }
        guard !entries.isEmpty else { throw FrameSourceError(source: path, message: "no frames") }
        self.names = names
        self.type = type
        self.entries = entries
        self.preprocessing = preprocessing
        self.inputName = inputName
    }

    /// The number of frames.
    public var count: Int { entries.count }

    /// Writes frame `index` (`type.byteCount` bytes) to `destination`.
    /// - Throws: `FrameSourceError` naming the file if it can no longer be read as it was checked.
    public func fill(_ index: Int, into destination: UnsafeMutableRawPointer) throws {
        let byteCount = type.byteCount
        switch entries[index] {
        case let .npy(path, offset, header):
            let descriptor = open(path, O_RDONLY | O_CLOEXEC)
            guard descriptor >= 0 else {
                throw FrameSourceError(source: path, message: "cannot open .npy file: \(String(cString: strerror(errno)))")
            }
            defer { close(descriptor) }
            var done = 0
            while done < byteCount {
                let n = pread(descriptor, destination + done, byteCount - done, off_t(offset + done))
                if n < 0 && errno == EINTR { continue }
                guard n > 0 else {
                    let reason = n < 0 ? String(cString: strerror(errno)) : "the file ended early (it changed since it was checked)"
                    throw FrameSourceError(source: path, message: "cannot read frame data at byte \(offset + done): \(reason)")
                }
                done += n
            }
            NPY.normalize(destination, count: type.elementCount, header: header)
        case let .image(file):
            let tensor = try FrameLoader.imageFrame(file, preprocessing: preprocessing, expecting: type, inputName: inputName)
            tensor.withUnsafeBytes { destination.copyMemory(from: $0.baseAddress!, byteCount: byteCount) }
        }
    }
}
