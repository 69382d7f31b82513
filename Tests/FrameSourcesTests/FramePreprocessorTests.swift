import Testing
@testable import FrameSources
import QuantGraph

/// Runs a preprocessor over `frame` and returns the floats.
func preprocess(_ frame: [UInt8], _ format: RawFrameFormat, _ settings: PreprocessingSettings) throws -> [Float] {
    let p = try FramePreprocessor(settings: settings, input: format)
    var out = [Float](repeating: .nan, count: p.outputElementCount)
    try frame.withUnsafeBytes { bytes in try out.withUnsafeMutableBufferPointer { try p.run(bytes, into: $0) } }
    return out
}

/// An I420 frame: Y rows of `stride` bytes (padding 0xEE), then U and V rows of `stride / 2` (padding 0xEE).
func i420(width: Int, height: Int, stride: Int, y: (Int, Int) -> UInt8, u: (Int, Int) -> UInt8, v: (Int, Int) -> UInt8) -> [UInt8] {
    var bytes: [UInt8] = []
    for row in 0..<height { bytes += (0..<stride).map { $0 < width ? y($0, row) : 0xEE } }
    let cw = (width + 1) / 2, ch = (height + 1) / 2
    for row in 0..<ch { bytes += (0..<(stride / 2)).map { $0 < cw ? u($0, row) : 0xEE } }
    for row in 0..<ch { bytes += (0..<(stride / 2)).map { $0 < cw ? v($0, row) : 0xEE } }
    return bytes
}

@Suite struct FramePreprocessorTests {
    /// BT.601 limited range, by hand: l = 255/219·(Y−16); R = l + 1.596027·(V−128);
    /// G = l − 0.391762·(U−128) − 0.812968·(V−128); B = l + 2.017232·(U−128); rounded, clamped.
    /// (81, 90, 240): l = 75.685, R = 75.685 + 178.755 = 254.44 → 254, G = −0.48 → 0, B = −0.97 → 0.
    /// (145, 54, 34): l = 150.205, R = 0.18 → 0, G = 255.61 → 255, B = 0.93 → 1.
    /// (200, 100, 150): l = 214.247, R = 249.36 → 249, G = 207.33 → 207, B = 157.76 → 158.
    /// (16, 128, 128) → 0, 0, 0; (235, 128, 128) → 255, 255, 255; (126, 128, 128) → 128.08 → 128.
    @Test func yuv420ToRGBIsBT601LimitedRangeAsHandComputed() throws {
        #expect(BT601.rgb(y: 81, u: 90, v: 240) == (254, 0, 0))
        #expect(BT601.rgb(y: 145, u: 54, v: 34) == (0, 255, 1))
        #expect(BT601.rgb(y: 200, u: 100, v: 150) == (249, 207, 158))
        #expect(BT601.rgb(y: 16, u: 128, v: 128) == (0, 0, 0))
        #expect(BT601.rgb(y: 235, u: 128, v: 128) == (255, 255, 255))
        #expect(BT601.rgb(y: 126, u: 128, v: 128) == (128, 128, 128))
    }

    @Test func aStridedYUV420FrameBecomesRGBSkippingTheRowPadding() throws {
        // 4x2 pixels, Y stride 8 (chroma stride 4): the left 2x2 block red, the right one green.
        let frame = i420(width: 4, height: 2, stride: 8, y: { x, _ in x < 2 ? 81 : 145 },
                         u: { x, _ in x == 0 ? 90 : 54 }, v: { x, _ in x == 0 ? 240 : 34 })
        #expect(frame.count == 8 * 2 + 2 * 4 * 1)
        let format = RawFrameFormat(.yuv420, width: 4, height: 2, stride: 8)
        #expect(format.frameBytes == frame.count)
        var settings = PreprocessingSettings()
        settings.layout = .nhwc
        let out = try preprocess(frame, format, settings)
        let red: [Float] = [254, 0, 0], green: [Float] = [0, 255, 1]
        #expect(out == red + red + green + green + red + red + green + green)

        settings.layout = .nchw
        settings.color = .bgr
        let planar = try preprocess(frame, format, settings)
        #expect(planar == [0, 0, 1, 1, 0, 0, 1, 1] + [0, 0, 255, 255, 0, 0, 255, 255] + [254, 254, 0, 0, 254, 254, 0, 0])

        settings.color = .grey   // Y expanded to full range: 255/219·(81−16) = 75.68 → 76; (145−16) → 150.2 → 150
        #expect(try preprocess(frame, format, settings) == [76, 76, 150, 150, 76, 76, 150, 150])
    }

    @Test func thePiCamerasPaddedRowsAreSizedFromTheStride() {
        let pi = RawFrameFormat(.yuv420, width: 704, height: 480, stride: 768)
        #expect(pi.frameBytes == 768 * 480 + 2 * 384 * 240)
        #expect(pi.chromaRowBytes == 384)
        #expect(RawFrameFormat(.yuv420, width: 5, height: 3).frameBytes == 15 + 2 * 3 * 2)
        #expect(RawFrameFormat(.rgb24, width: 4, height: 2).frameBytes == 24)
        #expect(throws: FrameSourceError.self) { try RawFrameFormat(.yuv420, width: 704, height: 480, stride: 700).validate(source: "t") }
        #expect(throws: FrameSourceError.self) { try RawFrameFormat(.yuv420, width: 704, height: 480, stride: 705).validate(source: "t") }
    }

    /// Pixel centres aligned: source x = (o + 0.5)·(2/4) − 0.5 = −0.25 → 0, 0.25, 0.75, 1.25 → 1 (edge).
    /// Rows the same. Top row at those x: 0, 25, 75, 100; bottom row: 200, 160, 80, 40; rows between
    /// mix them 0.25 and 0.75.
    @Test func bilinearResizeMatchesAHandComputedCase() throws {
        var settings = PreprocessingSettings()
        settings.color = .grey
        settings.resize = .init(width: 4, height: 4)
        let out = try preprocess([0, 100, 200, 40], RawFrameFormat(.grey, width: 2, height: 2), settings)
        #expect(out == [0, 25, 75, 100,
                        50, 58.75, 76.25, 85,
                        150, 126.25, 78.75, 55,
                        200, 160, 80, 40])
        // Halving: x = (o + 0.5)·2 − 0.5 = 0.5, 2.5: each output is the mean of a 2x2 block.
        let big: [UInt8] = [0, 10, 20, 30,
                            40, 50, 60, 70,
                            80, 90, 100, 110,
                            120, 130, 140, 150]
        settings.resize = .init(width: 2, height: 2)
        #expect(try preprocess(big, RawFrameFormat(.grey, width: 4, height: 4), settings) == [25, 45, 105, 125])
        // Nearest: the pixel under the centre, ⌊(o + 0.5)·0.5⌋ = 0, 0, 1, 1.
        settings.resize = .init(width: 4, height: 2, bilinear: false)
        #expect(try preprocess([0, 100, 200, 40], RawFrameFormat(.grey, width: 2, height: 2), settings) == [0, 0, 100, 100, 200, 200, 40, 40])
    }

    @Test func cropThenPerChannelMeanAndStdInFloat32Order() throws {
        // RGB24 3x2, packed: pixel (x, y) = (10x + y, 100 + x, 200 − y).
        var frame: [UInt8] = []
        for y in 0..<2 { for x in 0..<3 { frame += [UInt8(10 * x + y), UInt8(100 + x), UInt8(200 - y)] } }
        var settings = PreprocessingSettings()
        settings.crop = .init(x: 1, y: 0, width: 2, height: 2)
        settings.scale = 0.5
        settings.mean = [1, 2, 3]
        settings.std = [2, 4, 8]
        let out = try preprocess(frame, RawFrameFormat(.rgb24, width: 3, height: 2), settings)
        // Crop columns 1, 2. R: 10, 20, 11, 21 → (v·0.5 − 1)/2; G: 101, 102, 101, 102 → (v·0.5 − 2)/4; B: 200, 200, 199, 199 → (v·0.5 − 3)/8.
        let r: [Float] = [10, 20, 11, 21].map { ($0 * 0.5 - 1) / 2 }
        let g: [Float] = [101, 102, 101, 102].map { ($0 * 0.5 - 2) / 4 }
        let b: [Float] = [200, 200, 199, 199].map { ($0 * 0.5 - 3) / 8 }
        #expect(out == r + g + b)
    }

    @Test func aCropOutsideTheFrameOrAShortFrameIsAnErrorNotACrash() throws {
        var settings = PreprocessingSettings()
        settings.crop = .init(x: 2, y: 0, width: 4, height: 2)
        #expect(throws: FrameSourceError.self) { try FramePreprocessor(settings: settings, input: RawFrameFormat(.grey, width: 4, height: 2)) }
        let p = try FramePreprocessor(settings: PreprocessingSettings(), input: RawFrameFormat(.grey, width: 4, height: 2))
        var out = [Float](repeating: 0, count: p.outputElementCount * 3)
        let error = #expect(throws: FrameSourceError.self) {
            try [UInt8](repeating: 0, count: 5).withUnsafeBytes { b in try out.withUnsafeMutableBufferPointer { try p.run(b, into: UnsafeMutableBufferPointer(rebasing: $0[0..<24])) } }
        }
        #expect(error?.message.contains("5 bytes") == true)
    }

    @Test func uint8OutputIsRoundedAndClamped() throws {
        var settings = PreprocessingSettings()
        settings.color = .grey
        settings.dtype = .uint8
        settings.scale = 2
        settings.mean = [10]
        let p = try FramePreprocessor(settings: settings, input: RawFrameFormat(.grey, width: 3, height: 1))
        #expect(p.outputType == TensorType(.uint8, [1, 1, 1, 3]))
        var out = [UInt8](repeating: 0, count: 3)
        try [UInt8]([3, 100, 200]).withUnsafeBytes { b in try out.withUnsafeMutableBytes { try p.run(b, into: $0) } }
        #expect(out == [0, 190, 255])
    }
}
