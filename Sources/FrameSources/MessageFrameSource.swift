// Frames handed in by another thread: tensors a local sensor process publishes to an MQTT topic,
// pushed here by the MQTT link (which owns the connection; FrameSources never touches MQTT).
#if canImport(Glibc)
import Glibc
#endif
import QuantGraph

/// A mailbox of one frame: `push` (the MQTT link's thread) decodes a `.npy` payload into it, `read`
/// (the `FrameReader`'s thread) takes it. A payload pushed before the last one was read replaces it
/// (counted in `overwritten`; the reader's queue then drops oldest-first as for any source). A payload
/// that is not a `.npy` array throws from `push`, naming the topic, and is not delivered.
public final class MessageFrameSource: FrameSource, @unchecked Sendable {
    public let name: String
    public let frameCapacity: Int
    private var pending: Tensor?
    private var cancelled = false
    private var sequence = 0
    public private(set) var overwritten = 0
    private let mutex: UnsafeMutablePointer<pthread_mutex_t>
    private let condition: UnsafeMutablePointer<pthread_cond_t>

    /// `topic` names the source in messages.
    public init(topic: String, frameCapacity: Int = 1 << 20) {
        name = topic
        self.frameCapacity = frameCapacity
        mutex = .allocate(capacity: 1)
        pthread_mutex_init(mutex, nil)
        condition = .allocate(capacity: 1)
        pthread_cond_init(condition, nil)
    }

    deinit {
        pthread_cond_destroy(condition)
        pthread_mutex_destroy(mutex)
        condition.deallocate()
        mutex.deallocate()
    }

    /// Hands in one message's payload (the bytes of a `.npy` file).
    public func push(_ payload: UnsafeRawBufferPointer) throws(FrameSourceError) {
        let tensor: Tensor
        do { tensor = try NPY.decode(payload, source: name) } catch let error as FrameSourceError { throw error } catch {
            throw FrameSourceError(source: name, message: "\(error)")
        }
        pthread_mutex_lock(mutex)
        if pending != nil { overwritten += 1 }
        pending = tensor
        pthread_cond_signal(condition)
        pthread_mutex_unlock(mutex)
    }

    public func read(into frame: FrameBuffer) throws(FrameSourceError) -> Bool {
        pthread_mutex_lock(mutex)
        while pending == nil && !cancelled { pthread_cond_wait(condition, mutex) }
        guard let tensor = pending else {
            pthread_mutex_unlock(mutex)
            return false
        }
        pending = nil
        pthread_mutex_unlock(mutex)
        frame.reserve(tensor.type.byteCount)
        tensor.withUnsafeBytes { frame.writable.copyMemory(from: $0) }
        frame.byteCount = tensor.type.byteCount
        frame.content = .tensor(tensor.type)
        frame.sequence = sequence
        frame.file = nil
        sequence += 1
        return true
    }

    public func cancel() {
        pthread_mutex_lock(mutex)
        cancelled = true
        pthread_cond_broadcast(condition)
        pthread_mutex_unlock(mutex)
    }
}

extension FrameSourceSettings {
    /// The source these settings describe (a `MessageFrameSource` for `mqtt`, which the MQTT link feeds).
    /// - Throws: `FrameSourceError` when the directory is missing or empty, the FIFO path is not a FIFO, or
    ///   the raw format is invalid.
    public func makeSource() throws -> any FrameSource {
        switch source {
        case .directory:
            return try DirectorySource(directory: path, fps: fps, loop: loop, order: order)
        case .stdin, .fifo:
            guard let raw = rawFormat else {
                throw FrameSourceError(source: source == .stdin ? "stdin" : path, message: "raw frames need format grey, rgb24 or yuv420, not npy")
            }
            return source == .stdin ? try RawStreamSource(fileDescriptor: 0, name: "stdin", format: raw) : try RawStreamSource(fifo: path, format: raw)
        case .mqtt:
            return MessageFrameSource(topic: topic)
        }
    }
}
