// Recent model inputs the inference loop keeps for canaries: a fixed ring allocated once, one frame
// copied in at most every `interval` frames (a copy of the input, no allocation).
import Synchronization

public final class RecentFrames: Sendable {
    public let capacity: Int
    public let elementCount: Int
    private struct Ring {
        var values: [Float]
        var count = 0
        var next = 0
    }
    private let ring: Mutex<Ring>

    public init(capacity: Int, elementCount: Int) {
        self.capacity = capacity
        self.elementCount = elementCount
        ring = Mutex(Ring(values: [Float](repeating: 0, count: capacity * elementCount)))
    }

    /// Copies one frame in (overwrites the oldest when full). Frames of another size are ignored.
    public func keep(_ frame: UnsafeBufferPointer<Float>) {
        guard capacity > 0, frame.count == elementCount else { return }
        ring.withLock { r in
            let start = r.next * elementCount
            r.values.withUnsafeMutableBufferPointer { v in
                _ = UnsafeMutableBufferPointer(rebasing: v[start..<start + elementCount]).initialize(from: frame)
            }
            r.next = (r.next + 1) % capacity
            r.count = min(r.count + 1, capacity)
        }
    }

    /// A copy of the frames held, oldest first.
    public func snapshot() -> [[Float]] {
        ring.withLock { r in
            let first = r.count < capacity ? 0 : r.next
            return (0..<r.count).map { i in
                let slot = (first + i) % capacity
                return Array(r.values[slot * elementCount..<(slot + 1) * elementCount])
            }
        }
    }

    public var count: Int { ring.withLock { $0.count } }
}
