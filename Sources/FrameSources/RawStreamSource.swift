// Raw frames of a fixed size from standard input or a named pipe: what `rpicam-vid --codec yuv420 -o -`,
// GStreamer (`… ! video/x-raw,format=I420 ! fdsink`) or `ffmpeg -f rawvideo` write, frame after frame.
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Synchronization

/// Reads raw frames of one `RawFrameFormat` from a file descriptor (stdin) or a FIFO.
///
/// A FIFO is created (mode 0660) when the path does not exist, opened without waiting for a writer,
/// and reopened when its writer goes away (the camera process restarted): frames resume at the next
/// writer's first byte. A short read at the end of a stream — the writer stopped mid-frame — throws a
/// `FrameSourceError` saying how many bytes came; the partial frame is never returned. On stdin the
/// end of the stream is the end of the source. Reads wait in `poll` with a 100 ms timeout, so
/// `cancel()` takes effect within that. Reading allocates nothing.
public final class RawStreamSource: FrameSource, @unchecked Sendable {
    public let name: String
    public let format: RawFrameFormat
    private let fifoPath: String?
    private var descriptor: Int32
    private let ownsDescriptor: Bool
    private var sequence = 0
    private var ended = false
    private let cancelled = Atomic<Bool>(false)

    public var frameCapacity: Int { format.frameBytes }

    /// Frames from an open file descriptor (0: standard input), which the source does not close.
    public init(fileDescriptor: Int32 = 0, name: String = "stdin", format: RawFrameFormat) throws(FrameSourceError) {
        try format.validate(source: name)
        self.name = name
        self.format = format
        fifoPath = nil
        descriptor = fileDescriptor
        ownsDescriptor = false
    }

    /// Frames from the named pipe at `path`, created when missing.
    /// - Throws: when the path exists and is not a FIFO, or cannot be created or opened.
    public init(fifo path: String, format: RawFrameFormat) throws(FrameSourceError) {
        try format.validate(source: path)
        self.name = path
        self.format = format
        fifoPath = path
        ownsDescriptor = true
        var status = stat()
        if stat(path, &status) == 0 {
            guard status.st_mode & S_IFMT == S_IFIFO else {
                throw FrameSourceError(source: path, message: "exists and is not a FIFO; expected a named pipe (mkfifo) or no file (one is created)")
            }
        } else if mkfifo(path, 0o660) != 0 || chmod(path, 0o660) != 0 {
            // chmod: the group (the camera process's) may write whatever the umask (the unit's is 0027).
            throw FrameSourceError(source: path, message: "cannot create the FIFO: \(Self.errorText(errno))")
        }
        descriptor = -1
        try openFIFO()
    }

    deinit {
        if ownsDescriptor, descriptor >= 0 { close(descriptor) }
    }

    public func cancel() { cancelled.store(true, ordering: .relaxed) }

    private var isCancelled: Bool { cancelled.load(ordering: .relaxed) }

    private func openFIFO() throws(FrameSourceError) {
        guard let path = fifoPath else { return }
        // Non-blocking open: succeeds at once with or without a writer; poll then waits for one.
        let fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC)
        guard fd >= 0 else { throw FrameSourceError(source: path, message: "cannot open the FIFO: \(Self.errorText(errno))") }
        descriptor = fd
    }

    public func read(into frame: FrameBuffer) throws(FrameSourceError) -> Bool {
        let total = format.frameBytes
        frame.reserve(total)
        let buffer = frame.writable.baseAddress!
        while true {
            if ended || isCancelled { return false }
            if descriptor < 0 { try openFIFO() }
            var got = 0
            while got < total {
                var pfd = pollfd(fd: descriptor, events: Int16(POLLIN), revents: 0)
                let ready = poll(&pfd, 1, 100)
                if isCancelled { return false }
                if ready == 0 { continue }
                if ready < 0 {
                    if errno == EINTR { continue }
                    throw FrameSourceError(source: name, message: "poll failed: \(Self.errorText(errno))")
                }
                let n = Glibc.read(descriptor, buffer + got, total - got)
                if n > 0 {
                    got += n
                } else if n == 0 {
                    // End of stream: the writer closed (FIFO) or stdin ended.
                    let number = sequence
                    if fifoPath != nil {
                        close(descriptor)
                        descriptor = -1
                    } else {
                        ended = true
                    }
                    if got > 0 {
                        sequence += 1
                        throw FrameSourceError(source: name, message: "short read at end of stream: frame \(number) has \(got) of \(total) bytes "
                            + "(\(format.width)x\(format.height) \(format.pixelFormat.rawValue), \(format.rowBytes) bytes per row); dropped")
                    }
                    if fifoPath == nil { return false }
                    break   // reopen and wait for the next writer
                } else {
                    let e = errno
                    if e == EINTR || e == EAGAIN || e == EWOULDBLOCK { continue }
                    throw FrameSourceError(source: name, message: "read failed: \(Self.errorText(e))")
                }
            }
            if got == total {
                frame.byteCount = total
                frame.content = .raw(format)
                frame.sequence = sequence
                frame.file = nil
                sequence += 1
                return true
            }
        }
    }

    static func errorText(_ code: Int32) -> String { String(cString: strerror(code)) }
}
