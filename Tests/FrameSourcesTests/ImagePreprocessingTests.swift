import Foundation
import Testing
@testable import FrameSources
import QuantGraph

@Suite("Image preprocessing")
struct ImagePreprocessingTests {
    /// 2x2 RGB, pixels (row-major) R G B: (10,20,30) (40,50,60) / (70,80,90) (100,110,120).
    static let image = try! PNMImage(width: 2, height: 2, channels: 3, maxValue: 255,
                                     pixels: [10, 20, 30, 40, 50, 60, 70, 80, 90, 100, 110, 120])

    @Test("NCHW values computed by hand")
    func nchwByHand() throws {
        let p = ImagePreprocessing(layout: .nchw, width: 2, height: 2, channels: 3, scale: 0.5, mean: [1, 2, 3], std: [2, 4, 0.5])
        let t = try p.tensor(from: Self.image)
        #expect(t.type == TensorType(.float32, [1, 3, 2, 2]))
        // R: (v*0.5 - 1)/2   G: (v*0.5 - 2)/4   B: (v*0.5 - 3)/0.5
        #expect(t.scalars(as: Float.self) == [
            2, 9.5, 17, 24.5,
            2, 5.75, 9.5, 13.25,
            24, 54, 84, 114,
        ])
    }

    @Test("NHWC keeps channels interleaved")
    func nhwcByHand() throws {
        let p = ImagePreprocessing(layout: .nhwc, width: 2, height: 2, channels: 3, scale: 0.5, mean: [1, 2, 3], std: [2, 4, 0.5])
        let t = try p.tensor(from: Self.image)
        #expect(t.type == TensorType(.float32, [1, 2, 2, 3]))
        #expect(t.scalars(as: Float.self) == [2, 2, 24, 9.5, 5.75, 54, 17, 9.5, 84, 24.5, 13.25, 114])
    }

    @Test("greyscale with broadcast mean/std")
    func grey() throws {
        let g = try PNMImage(width: 2, height: 2, channels: 1, maxValue: 65535, pixels: [0, 1, 2, 65535])
        let p = ImagePreprocessing(width: 2, height: 2, channels: 1, scale: 2, mean: [1], std: [0.5])
        #expect(try p.tensor(from: g).scalars(as: Float.self) == [-2, 2, 6, 262_138])
        #expect(p.outputType == TensorType(.float32, [1, 1, 2, 2]))
    }

    @Test("matches numpy float32 bit for bit (ImageNet constants)")
    func numpyBits() throws {
        // Expected bits from: (img.astype(np.float32) * np.float32(1/255) - mean32) / std32, transposed to CHW.
        let image = try PNMImage(width: 2, height: 2, channels: 3, maxValue: 255,
                                 pixels: [0, 128, 255, 17, 200, 3, 99, 1, 254, 64, 64, 64])
        let p = ImagePreprocessing(layout: .nchw, width: 2, height: 2, channels: 3,
                                   scale: Float(bitPattern: 0x3B80_8081), mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225])
        let bits = try p.tensor(from: image).scalars(as: Float.self).map(\.bitPattern)
        #expect(bits == [0xC007_8BBD, 0xBFE9_D408, 0xBED8_58E5, 0xBF82_CE44, 0x3E52_1B48, 0x3FBB_9B9E,
                         0xC001_2A4F, 0xBF6A_4EE0, 0x4028_F5C3, 0xBFE0_46AD, 0x4027_D834, 0xBF30_60BA])
    }

    @Test("mismatches name expected and actual")
    func mismatches() {
        let p = ImagePreprocessing(width: 4, height: 2, channels: 3)
        expectFrameError("image is 2x2, expected 4x2", source: "cam.ppm") { try p.tensor(from: Self.image, source: "cam.ppm") }
        let grey = ImagePreprocessing(width: 2, height: 2, channels: 1)
        expectFrameError("image has 3 channels, expected 1") { try grey.tensor(from: Self.image) }
        let badMean = ImagePreprocessing(width: 2, height: 2, channels: 3, mean: [1, 2])
        expectFrameError("mean has 2 values, expected 1 or 3") { try badMean.tensor(from: Self.image) }
        let badStd = ImagePreprocessing(width: 2, height: 2, channels: 3, std: [1, 1, 1, 1])
        expectFrameError("std has 4 values, expected 1 or 3") { try badStd.tensor(from: Self.image) }
        let zeroStd = ImagePreprocessing(width: 2, height: 2, channels: 3, std: [1, 0, 1])
        expectFrameError("std[1] is 0") { try zeroStd.tensor(from: Self.image) }
    }
}
