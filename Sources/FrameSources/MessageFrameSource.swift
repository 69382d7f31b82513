// Frames handed in by another thread: tensors a local sensor process publishes to an MQTT topic,
// pushed here by the MQTT link (which owns the connection; FrameSources never touches MQTT).
#if canImport(Glibc)
import Glibc
#endif
import QuantGraph

/// A mailbox of one frame: `push` (the MQTT link's thread) copies a payload into it, `read` (the
/// `FrameReader`'s thread) takes it. A payload is a `.npy` array; or, without the `.npy` header, raw
/// bytes of exactly one configured raw frame (`raw`: grey, rgb24 or yuv420 of the configured size, to be
/// preprocessed) or of the model input (`expectedTensor`: little-endian float32 of its shape). A payload
/// pushed before the last one was read replaces it (counted in `overwritten`; the reader's queue then
/// drops oldest-first as for any source). Anything else throws from `push`, naming the topic and the
/// sizes it takes, and is not delivered. The mailbox's buffer is reused: no allocation per frame once it
/// has held the largest payload (a `.npy` payload is decoded through one temporary tensor).
public final class MessageFrameSource: FrameSource, @unchecked Sendable {
    public let name: String
    public let frameCapacity: Int
    /// Raw frames without a header are this format (nil: none accepted).
    public let raw: RawFrameFormat?
    /// Raw float32 payloads without a header are this model input (set by the daemon once the model is loaded).
    public var expectedTensor: TensorType? {
        get { locked { expected } }
        set { locked { expected = newValue } }
    }
    private var expected: TensorType?
    private var pending: UnsafeMutableRawPointer
    private var pendingCapacity: Int
    private var pendingBytes = 0
    private var pendingContent: FrameContent?
    private var cancelled = false
    private var sequence = 0
    public private(set) var overwritten = 0
    private let mutex: UnsafeMutablePointer<pthread_mutex_t>
    private let condition: UnsafeMutablePointer<pthread_cond_t>

    static let npyMagic: [UInt8] = [0x93, 0x4E, 0x55, 0x4D, 0x50, 0x59]

    /// `topic` names the source in messages.
    public init(topic: String, raw: RawFrameFormat? = nil, expectedTensor: TensorType? = nil, frameCapacity: Int = 1 << 20) {
        name = topic
        self.raw = raw
        expected = expectedTensor
        self.frameCapacity = frameCapacity
        pendingCapacity = max(raw?.frameBytes ?? 0, 1)
        pending = .allocate(byteCount: pendingCapacity, alignment: 64)
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
        pending.deallocate()
    }

    private func locked<R>(_ body: () -> R) -> R {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        return body()
    }

    /// Hands in one message's payload.
    public func push(_ payload: UnsafeRawBufferPointer) throws(FrameSourceError) {
        if payload.count >= 6, zip(payload.prefix(6), Self.npyMagic).allSatisfy({ $0 == $1 }) {
            let tensor: Tensor
            do { tensor = try NPY.decode(payload, source: name) } catch let error as FrameSourceError { throw error } catch {
                throw FrameSourceError(source: name, message: "\(error)")
            }
            tensor.withUnsafeBytes { store($0, as: .tensor(tensor.type)) }
            return
        }
        let expected = expectedTensor
        if let raw, payload.count == raw.frameBytes {
            store(payload, as: .raw(raw))
        } else if let expected, expected.dataType == .float32, payload.count == expected.byteCount {
            store(payload, as: .tensor(expected))
        } else {
            var takes = ["a .npy array"]
            if let raw { takes.append("\(raw.frameBytes) bytes of one \(raw.width)x\(raw.height) \(raw.pixelFormat.rawValue) frame") }
            if let expected { takes.append("\(expected.byteCount) bytes of float32 \(expected.shape) (the model input, little-endian)") }
            throw FrameSourceError(source: name, message: "a payload of \(payload.count) bytes without a .npy header; this topic takes " + takes.joined(separator: ", or "))
        }
    }

    private func store(_ bytes: UnsafeRawBufferPointer, as content: FrameContent) {
        pthread_mutex_lock(mutex)
        if pendingContent != nil { overwritten += 1 }
        if bytes.count > pendingCapacity {
            pending.deallocate()
            pendingCapacity = bytes.count
            pending = .allocate(byteCount: pendingCapacity, alignment: 64)
        }
        if let base = bytes.baseAddress { pending.copyMemory(from: base, byteCount: bytes.count) }
        pendingBytes = bytes.count
        pendingContent = content
        pthread_cond_signal(condition)
        pthread_mutex_unlock(mutex)
    }

    public func read(into frame: FrameBuffer) throws(FrameSourceError) -> Bool {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        while pendingContent == nil && !cancelled { pthread_cond_wait(condition, mutex) }
        guard let content = pendingContent else { return false }
        pendingContent = nil
        frame.reserve(pendingBytes)
        frame.writable.copyMemory(from: UnsafeRawBufferPointer(start: pending, count: pendingBytes))
        frame.byteCount = pendingBytes
        frame.content = content
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
            return MessageFrameSource(topic: topic, raw: rawFormat)
        }
    }
}
