import Foundation
import Testing
import TestSupport
@testable import FrameSources

@Suite("PNM (PGM/PPM) reading and writing")
struct PNMTests {
    static func file(_ header: String, _ raster: [UInt8] = []) -> Data { Data(Array(header.utf8) + raster) }

    @Test func p5EightBit() throws {
        let image = try PNM.decode(Self.file("P5\n3 2\n255\n", [0, 1, 2, 253, 254, 255]), source: "g.pgm")
        #expect(image.width == 3 && image.height == 2 && image.channels == 1 && image.maxValue == 255)
        #expect(image.pixels == [0, 1, 2, 253, 254, 255])
        #expect(image[x: 2, y: 1] == 255)
        #expect(image.bytesPerSample == 1)
    }

    @Test func p6EightBit() throws {
        let image = try PNM.decode(Self.file("P6 2 1 200 ", [10, 20, 30, 40, 50, 200]), source: "c.ppm")
        #expect(image.channels == 3 && image.maxValue == 200)
        #expect(image.pixels == [10, 20, 30, 40, 50, 200])
        #expect(image[x: 1, y: 0, channel: 2] == 200)
    }

    @Test("16-bit samples are big-endian")
    func sixteenBit() throws {
        let gray = try PNM.decode(Self.file("P5\n2 1\n65535\n", [0x12, 0x34, 0xFF, 0xFE]), source: "g16")
        #expect(gray.pixels == [0x1234, 0xFFFE])
        #expect(gray.bytesPerSample == 2)
        let color = try PNM.decode(Self.file("P6\n1 1\n1023\n", [0x03, 0xFF, 0x00, 0x01, 0x02, 0x00]), source: "c16")
        #expect(color.pixels == [1023, 1, 512])
        expectFrameError("sample 1024", "exceeds maxval 1023") {
            try PNM.decode(Self.file("P6\n1 1\n1023\n", [0x04, 0x00, 0, 0, 0, 0]), source: "c16")
        }
    }

    @Test("comments and arbitrary whitespace in the header")
    func commentsAndWhitespace() throws {
        let header = "P5 # a comment right after the magic\n# full-line comment\n\t 2 \r\n#another\n  2# glued comment\n\n 255\n"
        let image = try PNM.decode(Self.file(header, [1, 2, 3, 4]), source: "c")
        #expect(image.width == 2 && image.height == 2)
        #expect(image.pixels == [1, 2, 3, 4])
        // A comment directly after maxval runs to its newline; the raster starts after it.
        let tail = try PNM.decode(Self.file("P5 1 1 255#comment\n", [7]), source: "c")
        #expect(tail.pixels == [7])
        // The single whitespace byte after maxval may be any whitespace; the raster may begin with whitespace bytes.
        let ws = try PNM.decode(Self.file("P5 2 1 255\t", [0x20, 0x0A]), source: "c")
        #expect(ws.pixels == [0x20, 0x0A])
    }

    @Test("bytes after the raster are ignored")
    func trailingData() throws {
        let image = try PNM.decode(Self.file("P5 1 1 255\n", [9, 1, 2, 3]), source: "t")
        #expect(image.pixels == [9])
    }

    @Test func plainVariants() throws {
        let gray = try PNM.decode(Self.file("P2\n# plain\n3 1\n15\n0 7\n  15\n"), source: "p2")
        #expect(gray.channels == 1 && gray.pixels == [0, 7, 15])
        let color = try PNM.decode(Self.file("P3 1 2 65535 1 2 3\n65535 0 9"), source: "p3")
        #expect(color.channels == 3 && color.pixels == [1, 2, 3, 65535, 0, 9])
        expectFrameError("truncated P2 pixel data", "needs 3 samples", "found 2") {
            try PNM.decode(Self.file("P2 3 1 15 1 2"), source: "p2")
        }
        expectFrameError("sample 16", "exceeds maxval 15") { try PNM.decode(Self.file("P2 1 1 15 16"), source: "p2") }
        expectFrameError("expected a decimal number") { try PNM.decode(Self.file("P2 1 1 15 x"), source: "p2") }
    }

    @Test("round trips through encode", arguments: [false, true])
    func roundTrip(plain: Bool) throws {
        let images = [
            try PNMImage(width: 2, height: 2, channels: 1, maxValue: 255, pixels: [0, 64, 128, 255]),
            try PNMImage(width: 1, height: 2, channels: 3, maxValue: 255, pixels: [1, 2, 3, 4, 5, 6]),
            try PNMImage(width: 2, height: 1, channels: 1, maxValue: 4095, pixels: [4095, 256]),
            try PNMImage(width: 1, height: 1, channels: 3, maxValue: 65535, pixels: [65535, 0, 258]),
        ]
        for image in images {
            #expect(try PNM.decode(PNM.encode(image, plain: plain), source: "rt") == image)
        }
        let binary = [UInt8](PNM.encode(images[3]))
        #expect(binary == Array("P6\n1 1\n65535\n".utf8) + [0xFF, 0xFF, 0, 0, 0x01, 0x02])
    }

    @Test("write then read a file")
    func fileRoundTrip() throws {
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let image = try PNMImage(width: 2, height: 1, channels: 3, maxValue: 255, pixels: [1, 2, 3, 4, 5, 6])
        let url = dir.appendingPathComponent("x.ppm")
        try PNM.write(image, to: url)
        #expect(try PNM.read(contentsOf: url) == image)
    }

    @Test("truncated pixel data names expected and actual bytes")
    func truncated() {
        expectFrameError("truncated P5 pixel data", "needs 6 bytes", "found 5", source: "t.pgm") {
            try PNM.decode(Self.file("P5\n3 2\n255\n", [1, 2, 3, 4, 5]), source: "t.pgm")
        }
        expectFrameError("truncated P6 pixel data", "needs 24 bytes", "found 0") {
            try PNM.decode(Self.file("P6\n2 2\n256\n"), source: "t.ppm")
        }
        expectFrameError("truncated P6 pixel data", "needs 3 bytes", "found 0") {
            try PNM.decode(Self.file("P6\n1 1\n255"), source: "t.ppm")
        }
        expectFrameError("needs 4294705156 bytes", "found 2") {
            try PNM.decode(Self.file("P5 65534 65534 255\n", [0, 0]), source: "huge")
        }
    }

    @Test func malformedHeaders() {
        expectFrameError("not a PNM file") { try PNM.decode(Data("GIF89a".utf8), source: "x") }
        expectFrameError("not a PNM file") { try PNM.decode(Data(), source: "x") }
        expectFrameError("not a PNM file", "P9") { try PNM.decode(Data("P9 1 1 1\n".utf8), source: "x") }
        expectFrameError("P4", "PBM") { try PNM.decode(Data("P4 1 1\n\0".utf8), source: "x") }
        expectFrameError("P7", "PAM") { try PNM.decode(Data("P7\nWIDTH 1\n".utf8), source: "x") }
        expectFrameError("expected whitespace after magic") { try PNM.decode(Data("P55 1 1 255\n\0".utf8), source: "x") }
        expectFrameError("truncated PNM header", "height") { try PNM.decode(Data("P5 2".utf8), source: "x") }
        expectFrameError("truncated PNM header", "maxval") { try PNM.decode(Data("P5 2 2 # no maxval".utf8), source: "x") }
        expectFrameError("expected a decimal number for the width") { try PNM.decode(Data("P5 -2 2 255\n".utf8), source: "x") }
        expectFrameError("width", "followed by 'x'") { try PNM.decode(Data("P5 2x2 255\n".utf8), source: "x") }
        expectFrameError("invalid PNM width 0") { try PNM.decode(Data("P5 0 2 255\n".utf8), source: "x") }
        expectFrameError("invalid PNM height 0") { try PNM.decode(Data("P5 2 0 255\n".utf8), source: "x") }
        expectFrameError("invalid PNM maxval 0", "1...65535") { try PNM.decode(Data("P5 1 1 0\n\0".utf8), source: "x") }
        expectFrameError("invalid PNM maxval 65536") { try PNM.decode(Data("P5 1 1 65536\n\0\0".utf8), source: "x") }
        expectFrameError("too large") { try PNM.decode(Data("P5 99999999999999999999 1 255\n".utf8), source: "x") }
        expectFrameError("exceeds maxval 100") { try PNM.decode(Self.file("P5 2 1 100\n", [100, 101]), source: "x") }
    }

    @Test("PNMImage validates its fields")
    func imageValidation() {
        expectFrameError("channels must be 1") { try PNMImage(width: 1, height: 1, channels: 2, maxValue: 255, pixels: [0, 0]) }
        expectFrameError("expected 2x2x1 = 4 samples, got 3") { try PNMImage(width: 2, height: 2, channels: 1, maxValue: 255, pixels: [0, 0, 0]) }
        expectFrameError("exceeds maxValue 10") { try PNMImage(width: 1, height: 1, channels: 1, maxValue: 10, pixels: [11]) }
        expectFrameError("positive") { try PNMImage(width: 0, height: 1, channels: 1, maxValue: 10, pixels: []) }
    }

    @Test("truncations and byte flips throw or decode, never trap")
    func mutations() throws {
        let valid = PNM.encode(try PNMImage(width: 3, height: 2, channels: 3, maxValue: 1000, pixels: (0..<18).map { UInt16($0 * 50) }))
        for length in 0..<valid.count {
            #expect(throws: FrameSourceError.self) { try PNM.decode(valid.prefix(length), source: "cut") }
        }
        var rng = SplitMix64(seed: 7)
        for _ in 0..<3000 {
            var bytes = [UInt8](valid)
            for _ in 0..<Int.random(in: 1...4, using: &rng) {
                bytes[Int.random(in: 0..<bytes.count, using: &rng)] = UInt8.random(in: 0...255, using: &rng)
            }
            _ = try? PNM.decode(Data(bytes), source: "fuzz")
        }
    }
}
