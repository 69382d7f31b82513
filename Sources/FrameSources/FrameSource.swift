// A source of frames read into reusable buffers: the directory replay, raw frames on stdin or a FIFO.
import QuantGraph

/// What a `FrameBuffer` holds.
public enum FrameContent: Sendable, Equatable {
    /// A raw image (from a stream, or a decoded .pgm/.ppm file).
    case raw(RawFrameFormat)
    /// A model input tensor as it is (a .npy file), little-endian.
    case tensor(TensorType)
}

/// One frame's bytes, in a buffer allocated once and reused frame after frame (it grows only when
/// a larger frame comes, e.g. a bigger image in a replayed directory).
public final class FrameBuffer: @unchecked Sendable {
    public private(set) var capacity: Int
    private var storage: UnsafeMutableRawPointer
    /// Bytes of the current frame.
    public internal(set) var byteCount = 0
    public internal(set) var content = FrameContent.raw(RawFrameFormat(.grey, width: 1, height: 1))
    /// The frame's number in its source, from 0.
    public internal(set) var sequence = 0
    /// The file it came from (directory replay), else nil.
    public internal(set) var file: String?

    public init(capacity: Int) {
        self.capacity = max(capacity, 1)
        storage = .allocate(byteCount: self.capacity, alignment: 64)
    }

    deinit { storage.deallocate() }

    /// The current frame's bytes (valid until the buffer is filled again).
    public var bytes: UnsafeRawBufferPointer { UnsafeRawBufferPointer(start: storage, count: byteCount) }

    /// The whole buffer, for a source to fill.
    var writable: UnsafeMutableRawBufferPointer { UnsafeMutableRawBufferPointer(start: storage, count: capacity) }

    /// Makes room for `bytes` (allocates only when it is more than the capacity).
    func reserve(_ bytes: Int) {
        guard bytes > capacity else { return }
        storage.deallocate()
        capacity = bytes
        storage = .allocate(byteCount: bytes, alignment: 64)
    }
}

/// Something frames are read from, one at a time, on the reader's thread.
public protocol FrameSource: AnyObject, Sendable {
    /// Names the source in messages ("stdin", the FIFO's or directory's path).
    var name: String { get }
    /// Bytes of the largest frame expected (the reader's buffers start this big).
    var frameCapacity: Int { get }
    /// Reads the next frame into `frame`. Returns false at the end (stdin closed, a directory played
    /// without `loop`, or `cancel()` called).
    /// - Throws: `FrameSourceError` for a frame that could not be read whole (a short read at the end
    ///   of the stream, an unreadable or malformed file). The next call goes on with the frame after
    ///   it (or returns false when the stream has ended).
    func read(into frame: FrameBuffer) throws(FrameSourceError) -> Bool
    /// Makes a `read` in progress (on another thread) return false soon, and every later one.
    func cancel()
}
