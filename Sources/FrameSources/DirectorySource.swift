// Frames replayed from a directory of .npy / .pgm / .ppm files, at a given rate, in name or shuffled
// order, once or in a loop. (Decoding a file allocates; this is the replay path, not the camera path.)
import Foundation
import QuantGraph
import Synchronization

/// Replays a directory's frame files (`FrameSet.files`: .npy, .pgm, .ppm, sorted by name).
///
/// A .pgm/.ppm image becomes a raw grey / RGB24 frame (8-bit images only) for the preprocessor; a
/// .npy array is passed on as the tensor it holds (it must already be the model's input). A file
/// that cannot be read throws a `FrameSourceError` naming it, and the next read goes on with the
/// next file. With `fps` > 0 frames are released `1/fps` apart (a late frame is not made up for
/// by bursts); 0 releases them as fast as they are taken.
public final class DirectorySource: FrameSource, @unchecked Sendable {
    public let name: String
    public let files: [FrameFile]
    /// Frames per second (0: as fast as taken). Settable from any thread (a SIGHUP reload); the next frame uses it.
    public var fps: Double {
        get { Double(bitPattern: fpsBits.load(ordering: .relaxed)) }
        set { fpsBits.store(max(0, newValue.isFinite ? newValue : 0).bitPattern, ordering: .relaxed) }
    }
    private let fpsBits = Atomic<UInt64>(0)
    public let loop: Bool
    public let order: FrameOrder
    public let frameCapacity: Int
    private var playlist: [Int]
    private var position = 0
    private var sequence = 0
    private var nextDue: ContinuousClock.Instant?
    private let clock = ContinuousClock()
    private let cancelled = Atomic<Bool>(false)
    private var generator = SystemRandomNumberGenerator()

    /// - Parameter frameCapacity: the buffer size to start with (e.g. the largest image expected).
    /// - Throws: when the directory is missing or holds no frame files, or `fps` is negative.
    public init(directory: String, fps: Double = 0, loop: Bool = false, order: FrameOrder = .name, frameCapacity: Int = 1 << 20) throws {
        guard fps >= 0, fps.isFinite else { throw FrameSourceError(source: directory, message: "fps \(fps); expected frames per second ≥ 0 (0 = as fast as taken)") }
        name = directory
        files = try FrameSet.files(in: URL(fileURLWithPath: directory))
        fpsBits.store(fps.bitPattern, ordering: .relaxed)
        self.loop = loop
        self.order = order
        self.frameCapacity = frameCapacity
        playlist = Array(files.indices)
        if order == .shuffle { playlist.shuffle(using: &generator) }
    }

    public func cancel() { cancelled.store(true, ordering: .relaxed) }

    public func read(into frame: FrameBuffer) throws(FrameSourceError) -> Bool {
        if position == playlist.count {
            guard loop else { return false }
            position = 0
            if order == .shuffle { playlist.shuffle(using: &generator) }
        }
        guard waitUntilDue() else { return false }
        let file = files[playlist[position]]
        position += 1
        let number = sequence
        sequence += 1
        frame.file = file.name
        frame.sequence = number
        do {
            switch file.kind {
            case .npy:
                let tensor = try NPY.read(contentsOf: file.url)
                frame.reserve(tensor.type.byteCount)
                tensor.withUnsafeBytes { frame.writable.copyMemory(from: $0) }
                frame.byteCount = tensor.type.byteCount
                frame.content = .tensor(tensor.type)
            case .pgm, .ppm:
                let image = try PNM.read(contentsOf: file.url)
                guard image.maxValue <= 255 else {
                    throw FrameSourceError(source: file.url.path, message: "\(image.maxValue + 1)-level samples; the frame sources take 8-bit images (maxval ≤ 255)")
                }
                let count = image.pixels.count
                frame.reserve(count)
                let out = frame.writable.bindMemory(to: UInt8.self)
                image.pixels.withUnsafeBufferPointer { pixels in
                    // Samples are scaled to 0…255 when the file's maxval is below 255.
                    if image.maxValue == 255 {
                        for i in 0..<count { out[i] = UInt8(pixels[i]) }
                    } else {
                        for i in 0..<count { out[i] = UInt8((Int(pixels[i]) * 255 + image.maxValue / 2) / image.maxValue) }
                    }
                }
                frame.byteCount = count
                frame.content = .raw(RawFrameFormat(image.channels == 1 ? .grey : .rgb24, width: image.width, height: image.height))
            }
        } catch let error as FrameSourceError {
            throw error
        } catch {
            throw FrameSourceError(source: file.url.path, message: "\(error)")
        }
        return true
    }

    /// Sleeps until the next frame is due (in short steps, so `cancel` is seen); false when cancelled.
    private func waitUntilDue() -> Bool {
        if cancelled.load(ordering: .relaxed) { return false }
        let fps = self.fps
        guard fps > 0 else { return true }
        let now = clock.now
        let period = Duration.nanoseconds(Int64(1e9 / fps))
        guard let due = nextDue, due > now else {
            nextDue = now + period
            return true
        }
        var remaining = due - now
        while remaining > .zero {
            if cancelled.load(ordering: .relaxed) { return false }
            let step = min(remaining, .milliseconds(100))
            let (s, a) = step.components
            var request = timespec(tv_sec: Int(s), tv_nsec: Int(a / 1_000_000_000))
            nanosleep(&request, nil)
            remaining = due - clock.now
        }
        nextDue = due + period
        return true
    }
}
