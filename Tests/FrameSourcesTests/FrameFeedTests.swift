import Foundation
import Testing
@testable import FrameSources
import QuantGraph

/// FrameFeed (what `quantwatch bench` reads frames with): one frame at a time into a buffer, the
/// same values and names as FrameLoader.load, the same refusals.
@Suite("Frames fed one at a time")
struct FrameFeedTests {
    static func fed(_ feed: FrameFeed) throws -> [[UInt8]] {
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: feed.type.byteCount, alignment: 64)
        defer { buffer.deallocate() }
        return try (0..<feed.count).map { index in
            try feed.fill(index, into: buffer.baseAddress!)
            return Array(buffer)
        }
    }

    @Test("a directory of single and stacked .npy frames gives FrameLoader's frames, in order")
    func npyDirectory() throws {
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let type = TensorType(.float32, [1, 2, 2])
        try NPY.write(Tensor(shape: [1, 2, 2], values: [Float](arrayLiteral: 1, 2, 3, 4)), to: dir.appendingPathComponent("a.npy"))
        try NPY.write(Tensor(shape: [3, 2, 2], values: (0..<12).map { Float($0) * 0.5 - 2 }), to: dir.appendingPathComponent("b.npy"))
        let loaded = try FrameLoader.load(dir.path, expecting: type, inputName: "x", preprocessing: nil)
        let feed = try FrameFeed(dir.path, expecting: type, inputName: "x", preprocessing: nil)
        #expect(feed.names == loaded.map(\.name))
        #expect(feed.names == ["a.npy", "b.npy[0]", "b.npy[1]", "b.npy[2]"])
        #expect(try Self.fed(feed) == loaded.map { bytes(of: $0.tensor) })
    }

    @Test("big-endian .npy frames are converted like NPY.read does")
    func bigEndian() throws {
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let url = dir.appendingPathComponent("be.npy")
        try npyFile(header: "{'descr': '>f4', 'fortran_order': False, 'shape': (2, 2)}",
                    data: [0x3F, 0x80, 0, 0, 0xC0, 0, 0, 0, 0x40, 0x40, 0, 0, 0, 0, 0, 0]).write(to: url)
        let feed = try FrameFeed(url.path, expecting: TensorType(.float32, [1, 2]), inputName: "x", preprocessing: nil)
        let loaded = try FrameLoader.load(url.path, expecting: TensorType(.float32, [1, 2]), inputName: "x", preprocessing: nil)
        #expect(try Self.fed(feed) == loaded.map { bytes(of: $0.tensor) })
        #expect(loaded.count == 2 && loaded[0].tensor.scalars(as: Float.self) == [1, -2])
    }

    @Test("images are decoded and preprocessed at each fill, as FrameLoader does once")
    func images() throws {
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        for (i, base) in [UInt16(0), 200].enumerated() {
            let image = try PNMImage(width: 2, height: 2, channels: 3, maxValue: 255, pixels: (0..<12).map { base + UInt16($0) * 3 })
            try PNM.write(image, to: dir.appendingPathComponent("f\(i).ppm"))
        }
        let preprocessing = ImagePreprocessing(layout: .nchw, width: 2, height: 2, channels: 3, scale: 1 / 255,
                                               mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225])
        let loaded = try FrameLoader.load(dir.path, expecting: preprocessing.outputType, inputName: "x", preprocessing: preprocessing)
        let feed = try FrameFeed(dir.path, expecting: preprocessing.outputType, inputName: "x", preprocessing: preprocessing)
        #expect(feed.names == ["f0.ppm", "f1.ppm"])
        #expect(try Self.fed(feed) == loaded.map { bytes(of: $0.tensor) })
    }

    @Test("a mis-shaped or truncated .npy is refused when the feed is made, with FrameLoader's message")
    func refusals() throws {
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let url = dir.appendingPathComponent("x.npy")
        try NPY.write(Tensor(shape: [1, 3], values: [Float](arrayLiteral: 1, 2, 3)), to: url)
        expectFrameError("holds float32[1,3]; input 'x' expects float32[1,2]", source: url.path) {
            _ = try FrameFeed(url.path, expecting: TensorType(.float32, [1, 2]), inputName: "x", preprocessing: nil)
        }
        try npyFile(header: "{'descr': '<f4', 'fortran_order': False, 'shape': (1, 2)}", data: [0, 0, 0x80]).write(to: url)
        expectFrameError("truncated .npy data", source: url.path) {
            _ = try FrameFeed(url.path, expecting: TensorType(.float32, [1, 2]), inputName: "x", preprocessing: nil)
        }
    }
}
