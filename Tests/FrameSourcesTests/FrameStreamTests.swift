import AllocationCounter
import Foundation
import Glibc
import Testing
@testable import FrameSources
import QuantGraph

/// A child process that copies `file` into `fifo` (`cat FILE > FIFO`): a writer that is not this process.
func startWriter(_ file: URL, into fifo: String) throws -> Process {
    let child = Process()
    child.executableURL = URL(fileURLWithPath: "/bin/sh")
    child.arguments = ["-c", "cat \"$0\" > \"$1\"", file.path, fifo]
    try child.run()
    return child
}

/// `count` frames of `format` whose Y samples are 16 + frame index, chroma 128, padding 0xEE.
func yuvFrames(_ count: Int, width: Int, height: Int, stride: Int, first: Int = 0) -> [UInt8] {
    (0..<count).flatMap { i in
        i420(width: width, height: height, stride: stride, y: { _, _ in UInt8(16 + first + i) }, u: { _, _ in 128 }, v: { _, _ in 128 })
    }
}

func pgm(_ width: Int, _ height: Int, value: UInt8) -> Data {
    Data("P5\n\(width) \(height)\n255\n".utf8) + Data(repeating: value, count: width * height)
}

@Suite struct FrameStreamTests {
    @Test func aFIFOFedByAChildWithStridePaddedYUV420GivesEveryFrameAndReportsAShortLastOne() throws {
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        // 704 pixels wide arrive 768 bytes per Y row (the Pi camera's 64-byte alignment).
        let format = RawFrameFormat(.yuv420, width: 704, height: 4, stride: 768)
        let fifo = dir.appendingPathComponent("frames").path
        let source = try RawStreamSource(fifo: fifo, format: format)   // creates the FIFO
        var status = stat()
        #expect(stat(fifo, &status) == 0 && status.st_mode & S_IFMT == S_IFIFO)

        let bytes = yuvFrames(3, width: 704, height: 4, stride: 768) + [UInt8](repeating: 200, count: 1000)
        let file = dir.appendingPathComponent("stream.yuv")
        try Data(bytes).write(to: file)
        let writer = try startWriter(file, into: fifo)
        let frame = FrameBuffer(capacity: source.frameCapacity)
        var settings = PreprocessingSettings()
        settings.color = .grey
        settings.resize = .init(width: 8, height: 2)
        let preprocessor = try FramePreprocessor(settings: settings, input: format)
        var input = [Float](repeating: 0, count: preprocessor.outputElementCount)
        for i in 0..<3 {
            #expect(try source.read(into: frame))
            #expect(frame.byteCount == format.frameBytes && frame.sequence == i && frame.content == .raw(format))
            try input.withUnsafeMutableBufferPointer { try preprocessor.run(frame.bytes, into: $0) }
            // Y = 16 + i is 255/219·i in full range: the padding (0xEE) never leaks in.
            let expected = (255.0 / 219.0 * Float(i)).rounded()
            #expect(input.allSatisfy { $0 == expected }, "frame \(i): \(input)")
        }
        let error = #expect(throws: FrameSourceError.self) { try source.read(into: frame) }
        #expect(error?.message.contains("short read at end of stream: frame 3 has 1000 of \(format.frameBytes) bytes") == true)
        writer.waitUntilExit()

        // The camera process restarts: the FIFO is reopened and frames resume from its first byte.
        let next = dir.appendingPathComponent("next.yuv")
        try Data(yuvFrames(1, width: 704, height: 4, stride: 768, first: 50)).write(to: next)
        let second = try startWriter(next, into: fifo)
        #expect(try source.read(into: frame))
        #expect(frame.bytes[0] == 66 && frame.bytes[703] == 66 && frame.bytes[704] == 0xEE)
        second.waitUntilExit()
        source.cancel()
        #expect(try source.read(into: frame) == false)
    }

    @Test func stdinEndingMidFrameReportsTheShortReadThenEnds() throws {
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let format = RawFrameFormat(.rgb24, width: 4, height: 2)
        let file = dir.appendingPathComponent("in.rgb")
        try Data([UInt8](repeating: 7, count: 24 * 2 + 10)).write(to: file)
        let fd = open(file.path, O_RDONLY)
        defer { close(fd) }
        let source = try RawStreamSource(fileDescriptor: fd, name: "stdin", format: format)
        let frame = FrameBuffer(capacity: 24)
        #expect(try source.read(into: frame))
        #expect(try source.read(into: frame))
        let error = #expect(throws: FrameSourceError.self) { try source.read(into: frame) }
        #expect(error?.source == "stdin")
        #expect(error?.message.hasPrefix("short read at end of stream: frame 2 has 10 of 24 bytes (4x2 rgb24, 12 bytes per row)") == true)
        #expect(try source.read(into: frame) == false)
    }

    @Test func framesArrivingFasterThanInferenceAreDroppedOldestFirstAndCounted() throws {
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        for i in 0..<6 { try pgm(4, 4, value: UInt8(i * 10)).write(to: dir.appendingPathComponent("f\(i).pgm")) }
        let reader = FrameReader(source: try DirectorySource(directory: dir.path), capacity: 2)
        reader.start()
        while !reader.statistics.ended { usleep(1000) }   // nobody takes frames while the source plays
        let stats = reader.statistics
        #expect(stats.read == 6 && stats.dropped == 4 && stats.failed == 0)
        var files: [String] = []
        loop: while true {
            switch reader.next(timeout: .milliseconds(100)) {
            case .frame(let f): files.append(f.file ?? "?")
            case .timedOut: Issue.record("timed out"); break loop
            case .ended: break loop
            }
        }
        #expect(files == ["f4.pgm", "f5.pgm"])
        reader.stop()
    }

    @Test func aFrameThatDoesNotFitTheModelIsCountedAndReportedNeverFed() throws {
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        try pgm(4, 4, value: 9).write(to: dir.appendingPathComponent("a.pgm"))
        try pgm(5, 5, value: 9).write(to: dir.appendingPathComponent("b.pgm"))
        try Data("P5\n4 4\n255\n".utf8).write(to: dir.appendingPathComponent("c.pgm"))   // truncated
        try pgm(4, 4, value: 3).write(to: dir.appendingPathComponent("d.pgm"))
        let reader = FrameReader(source: try DirectorySource(directory: dir.path), capacity: 8)
        var settings = PreprocessingSettings()
        settings.color = .grey
        let pipeline = try FramePipeline(reader: reader, preprocessing: settings, input: TensorType(.float32, [1, 1, 4, 4]), format: nil)
        reader.start()
        var input = [Float](repeating: -1, count: 16)
        var results: [String] = []
        loop: while true {
            switch input.withUnsafeMutableBufferPointer({ pipeline.next(into: $0, timeout: .seconds(5)) }) {
            case .frame(let n): results.append("frame \(n) \(input[0])")
            case .rejected(let e): results.append("rejected \(e.source)"); #expect(e.message.contains("5x5 grey frame"))
            case .timedOut: Issue.record("timed out"); break loop
            case .ended: break loop
            }
        }
        #expect(results == ["frame 0 9.0", "rejected \(dir.path)/b.pgm", "frame 3 3.0"])
        #expect(pipeline.accepted == 2 && pipeline.rejected == 1)
        #expect(reader.statistics.failed == 1 && reader.statistics.lastError?.source.hasSuffix("c.pgm") == true)
        // A raw stream whose size cannot give the model's input is refused at start.
        #expect(throws: FrameSourceError.self) {
            try FramePipeline(reader: reader, preprocessing: settings, input: TensorType(.float32, [1, 1, 4, 4]), format: RawFrameFormat(.grey, width: 8, height: 8))
        }
    }

    @Test func readingRawFramesAndPreprocessingThemAllocatesNothing() throws {
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let format = RawFrameFormat(.yuv420, width: 64, height: 48, stride: 128)
        let file = dir.appendingPathComponent("in.yuv")
        try Data(yuvFrames(60, width: 64, height: 48, stride: 128)).write(to: file)
        var settings = PreprocessingSettings()
        settings.resize = .init(width: 32, height: 32)
        settings.crop = .init(x: 8, y: 0, width: 48, height: 48)
        settings.mean = [0.5, 0.4, 0.3]

        // The source and the preprocessor on this thread.
        let fd = open(file.path, O_RDONLY)
        defer { close(fd) }
        let source = try RawStreamSource(fileDescriptor: fd, format: format)
        let frame = FrameBuffer(capacity: source.frameCapacity)
        let preprocessor = try FramePreprocessor(settings: settings, input: format)
        var input = [Float](repeating: 0, count: preprocessor.outputElementCount)
        _ = try source.read(into: frame)
        try input.withUnsafeMutableBufferPointer { out in
            qw_allocations_begin()
            for _ in 0..<20 {
                _ = try source.read(into: frame)
                try preprocessor.run(frame.bytes, into: out)
            }
            let allocations = qw_allocations_end()
            #expect(allocations == 0)
        }

        // The consumer's side of the queue, with the reader thread filling it.
        let reader = FrameReader(source: try RawStreamSource(fileDescriptor: open(file.path, O_RDONLY), format: format), capacity: 2)
        let pipeline = try FramePipeline(reader: reader, preprocessing: settings, input: preprocessor.outputType, format: format)
        reader.start()
        var frames = 0
        input.withUnsafeMutableBufferPointer { out in
            _ = pipeline.next(into: out, timeout: .seconds(5))
            qw_allocations_begin()
            loop: for _ in 0..<20 {
                switch pipeline.next(into: out, timeout: .seconds(5)) {
                case .frame: frames += 1
                default: break loop
                }
            }
            let allocations = qw_allocations_end()
            #expect(allocations == 0)
        }
        #expect(frames > 0)
        reader.stop()
    }
}

@Suite struct MessageFrameSourceTests {
    @Test func pushedTensorsAreReadInOrderAndGarbageIsRefusedNamingTheTopic() throws {
        var settings = FrameSourceSettings()
        settings.source = .mqtt
        settings.topic = "sensors/cam0/frames"
        let source = try #require(try settings.makeSource() as? MessageFrameSource)
        let reader = FrameReader(source: source, capacity: 2)
        let pipeline = try FramePipeline(reader: reader, preprocessing: PreprocessingSettings(), input: TensorType(.float32, [1, 2]), format: nil)
        reader.start()
        let error = #expect(throws: FrameSourceError.self) { try [UInt8]([1, 2, 3]).withUnsafeBytes { try source.push($0) } }
        #expect(error?.source == "sensors/cam0/frames")
        try NPY.encode(Tensor(shape: [1, 2], values: [Float(1.5), 2.5])).withUnsafeBytes { try source.push($0) }
        var input = [Float](repeating: 0, count: 2)
        let result = input.withUnsafeMutableBufferPointer { pipeline.next(into: $0, timeout: .seconds(5)) }
        guard case .frame(0) = result else { Issue.record("\(result)"); return }
        #expect(input == [1.5, 2.5])
        try NPY.encode(Tensor(shape: [1, 3], values: [Float(1), 2, 3])).withUnsafeBytes { try source.push($0) }
        let wrong = input.withUnsafeMutableBufferPointer { pipeline.next(into: $0, timeout: .seconds(5)) }
        guard case .rejected(let e) = wrong else { Issue.record("\(wrong)"); return }
        #expect(e.source == "sensors/cam0/frames frame 1")
        reader.stop()
        #expect(reader.statistics.ended)
    }

    @Test func settingsMakeTheSourceTheyDescribe() throws {
        var settings = FrameSourceSettings()
        settings.source = .stdin
        #expect(try settings.makeSource() is RawStreamSource)
        settings.format = .npy
        #expect(throws: FrameSourceError.self) { try settings.makeSource() }
        settings.source = .directory
        settings.path = "/nonexistent/frames"
        #expect(throws: FrameSourceError.self) { try settings.makeSource() }
    }
}
