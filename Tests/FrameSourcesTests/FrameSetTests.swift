import Foundation
import Testing
@testable import FrameSources
import QuantGraph

@Suite("Frame directories and stacked frames")
struct FrameSetTests {
    @Test("lists .npy/.pgm/.ppm files in file-name order, ignoring the rest")
    func listing() throws {
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        for name in ["frame-0010.npy", "frame-0002.ppm", "frame-0001.pgm", "B.NPY", "notes.txt", ".hidden.npy", "frame.npy.bak"] {
            try Data([0]).write(to: dir.appendingPathComponent(name))
        }
        try FileManager.default.createDirectory(at: dir.appendingPathComponent("subdir.npy"), withIntermediateDirectories: false)
        let urls = try FrameSet.list(dir)
        #expect(urls.map(\.lastPathComponent) == ["B.NPY", "frame-0001.pgm", "frame-0002.ppm", "frame-0010.npy"])
        let files = try FrameSet.files(in: dir)
        #expect(files.map(\.kind) == [.npy, .pgm, .ppm, .npy])
        #expect(files.map(\.name) == urls.map(\.lastPathComponent))
        #expect(FrameFile(url: URL(fileURLWithPath: "/x/y.txt")) == nil)
    }

    @Test("missing, non-directory and empty directories are errors")
    func errors() throws {
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        expectFrameError("no frame files", ".npy, .pgm or .ppm", source: dir.path) { try FrameSet.list(dir) }
        try Data([0]).write(to: dir.appendingPathComponent("readme.md"))
        expectFrameError("no frame files") { try FrameSet.list(dir) }
        let missing = dir.appendingPathComponent("nope")
        expectFrameError("does not exist", source: missing.path) { try FrameSet.list(missing) }
        expectFrameError("expected a directory") { try FrameSet.list(dir.appendingPathComponent("readme.md")) }
    }

    @Test("loadStacked splits a numpy-written [3,2,2] array into three [1,2,2] frames")
    func stackedFromNumpy() throws {
        let frames = try FrameSet.loadStacked(resourcesDirectory.appendingPathComponent("numpy_u8_stack_3x2x2.npy"))
        #expect(frames.count == 3)
        for (i, frame) in frames.enumerated() {
            #expect(frame.type == TensorType(.uint8, [1, 2, 2]))
            #expect(frame.scalars(as: UInt8.self) == (0..<4).map { UInt8(4 * i + $0) })
        }
    }

    @Test("loadStacked on a 1-D array gives [1] scalars-per-frame; scalars and empty stacks are errors")
    func stackedEdges() throws {
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let vector = dir.appendingPathComponent("v.npy")
        try NPY.write(Tensor(shape: [3], values: [Float(1), 2, 3]), to: vector)
        let frames = try FrameSet.loadStacked(vector)
        #expect(frames.map(\.shape) == [[1], [1], [1]])
        #expect(frames.map { $0.scalars(as: Float.self) } == [[1], [2], [3]])

        expectFrameError("found a scalar") {
            try FrameSet.loadStacked(resourcesDirectory.appendingPathComponent("numpy_i64_scalar.npy"))
        }
        let empty = dir.appendingPathComponent("e.npy")
        try NPY.write(Tensor(zeros: TensorType(.float32, [0, 3])), to: empty)
        expectFrameError("holds no frames", source: empty.path) { try FrameSet.loadStacked(empty) }
        expectFrameError("cannot read") { try FrameSet.loadStacked(dir.appendingPathComponent("missing.npy")) }
    }
}
