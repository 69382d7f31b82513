// The bounded queue between the thread that reads frames and the one that runs inference: frames
// arriving faster than inference takes them are dropped oldest-first, and counted.
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation

/// Counters of a `FrameReader`.
public struct FrameReaderStatistics: Sendable, Equatable {
    /// Frames the source delivered whole.
    public var read = 0
    /// Frames dropped because the queue was full (the oldest went).
    public var dropped = 0
    /// Frames the source could not read whole (a short read at the end of a stream, a bad file).
    public var failed = 0
    /// The last of those errors.
    public var lastError: FrameSourceError?
    /// Whether the source has ended.
    public var ended = false
}

/// Reads a `FrameSource` on its own thread into `capacity` + 2 buffers allocated once: one being
/// filled, one lent to the consumer, up to `capacity` waiting. When a frame is read and `capacity`
/// are already waiting, the oldest waiting one is dropped. The consumer takes frames with `next`;
/// the frame it got stays valid until it calls `next` again. After `start`, neither side allocates
/// (unless a directory replays an image larger than any before).
public final class FrameReader: @unchecked Sendable {
    public enum Next {
        case frame(FrameBuffer)
        /// Nothing came within the timeout (the consumer can close windows, ping the watchdog).
        case timedOut
        /// The source ended (or the reader was stopped) and every frame was taken.
        case ended
    }

    public let source: any FrameSource
    public let capacity: Int
    private let slots: [FrameBuffer]
    // Guarded by `mutex`:
    private var free: [Int]                 // a stack
    private var waiting: [Int]              // a ring of `capacity`
    private var waitingHead = 0, waitingCount = 0
    private var lent: Int?
    private var stats = FrameReaderStatistics()
    private var running = false, finished = false
    private let mutex: UnsafeMutablePointer<pthread_mutex_t>
    private let condition: UnsafeMutablePointer<pthread_cond_t>

    public init(source: any FrameSource, capacity: Int = 2) {
        precondition(capacity >= 1, "a frame queue holds at least one frame")
        self.source = source
        self.capacity = capacity
        slots = (0..<(capacity + 2)).map { _ in FrameBuffer(capacity: source.frameCapacity) }
        free = Array(slots.indices)
        waiting = Array(repeating: -1, count: capacity)
        mutex = .allocate(capacity: 1)
        pthread_mutex_init(mutex, nil)
        condition = .allocate(capacity: 1)
        var attributes = pthread_condattr_t()
        pthread_condattr_init(&attributes)
        pthread_condattr_setclock(&attributes, CLOCK_MONOTONIC)
        pthread_cond_init(condition, &attributes)
        pthread_condattr_destroy(&attributes)
    }

    deinit {
        stop()
        pthread_cond_destroy(condition)
        pthread_mutex_destroy(mutex)
        condition.deallocate()
        mutex.deallocate()
    }

    /// Starts the reading thread.
    public func start() {
        pthread_mutex_lock(mutex)
        precondition(!running && !finished, "a FrameReader starts once")
        running = true
        pthread_mutex_unlock(mutex)
        let thread = Thread { [self] in readLoop() }
        thread.name = "quantwatch-frames"
        thread.start()
    }

    /// Cancels the source and waits for the reading thread to end.
    public func stop() {
        source.cancel()
        pthread_mutex_lock(mutex)
        while running && !finished { pthread_cond_wait(condition, mutex) }
        pthread_mutex_unlock(mutex)
    }

    public var statistics: FrameReaderStatistics {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        return stats
    }

    private func readLoop() {
        pthread_mutex_lock(mutex)
        var slot = free.removeLast()
        pthread_mutex_unlock(mutex)
        while true {
            let delivered: Bool
            var failure: FrameSourceError?
            do { delivered = try source.read(into: slots[slot]) } catch {
                delivered = true
                failure = error
            }
            pthread_mutex_lock(mutex)
            if let failure {
                stats.failed += 1
                stats.lastError = failure
            } else if delivered {
                stats.read += 1
                if waitingCount == capacity {
                    free.append(waiting[waitingHead])   // drop the oldest
                    waitingHead = (waitingHead + 1) % capacity
                    waitingCount -= 1
                    stats.dropped += 1
                }
                waiting[(waitingHead + waitingCount) % capacity] = slot
                waitingCount += 1
                slot = free.removeLast()
            }
            if !delivered {
                free.append(slot)
                stats.ended = true
                finished = true
            }
            pthread_cond_broadcast(condition)
            pthread_mutex_unlock(mutex)
            if !delivered { return }
        }
    }

    /// The next frame, waiting at most `timeout` for one. Returns the previously lent frame's buffer
    /// to the pool.
    public func next(timeout: Duration) -> Next {
        var deadline = timespec()
        clock_gettime(CLOCK_MONOTONIC, &deadline)
        let (seconds, attoseconds) = timeout.components
        var nanoseconds = Int(deadline.tv_nsec) + Int(attoseconds / 1_000_000_000)
        deadline.tv_sec += Int(seconds) + nanoseconds / 1_000_000_000
        nanoseconds %= 1_000_000_000
        deadline.tv_nsec = nanoseconds
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        if let index = lent {
            free.append(index)
            lent = nil
        }
        while waitingCount == 0 && !finished {
            if pthread_cond_timedwait(condition, mutex, &deadline) == ETIMEDOUT { break }
        }
        guard waitingCount > 0 else { return finished ? .ended : .timedOut }
        let index = waiting[waitingHead]
        waitingHead = (waitingHead + 1) % capacity
        waitingCount -= 1
        lent = index
        return .frame(slots[index])
    }
}
