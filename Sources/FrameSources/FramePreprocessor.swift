// Raw frame → model input, as configured: crop, resize, colour conversion, per-channel mean/std,
// layout, dtype. Every table is computed when the preprocessor is made; `run` allocates nothing.
import QuantGraph

/// How a frame becomes the model's input (the `[preprocessing]` section of the daemon's configuration).
///
/// In order: `crop` (a rectangle of the frame), conversion to RGB (YUV420 → RGB by BT.601 limited
/// range, each value rounded to an integer in 0…255, as an RGB24 image would hold it), `resize`
/// (bilinear or nearest, pixel centres aligned: OpenCV's `INTER_LINEAR`, PyTorch's
/// `align_corners=False`; no antialiasing), the model's channel order `color`, then per channel
/// `(value · scale − mean[c]) / std[c]` in Float32 in that order, written in `layout` as `dtype`.
public struct PreprocessingSettings: Sendable, Equatable {
    public struct Crop: Sendable, Equatable {
        public var x: Int
        public var y: Int
        public var width: Int
        public var height: Int
        public init(x: Int = 0, y: Int = 0, width: Int, height: Int) {
            self.x = x
            self.y = y
            self.width = width
            self.height = height
        }
    }

    public struct Resize: Sendable, Equatable {
        public var width: Int
        public var height: Int
        /// Bilinear; false: nearest (the source pixel under the output pixel's centre).
        public var bilinear: Bool
        public init(width: Int, height: Int, bilinear: Bool = true) {
            self.width = width
            self.height = height
            self.bilinear = bilinear
        }
    }

    /// The channels the model expects.
    public enum Color: String, Sendable, Equatable, CaseIterable {
        case rgb, bgr
        /// One channel: BT.601 luma `0.299 R + 0.587 G + 0.114 B` rounded (a YUV420 frame's Y,
        /// expanded from limited to full range; a grey frame as it is).
        case grey
    }

    /// The element type written.
    public enum DataType: String, Sendable, Equatable, CaseIterable {
        case float32
        /// The normalised value rounded and clamped to 0…255 (for models with a uint8 input).
        case uint8
    }

    public var crop: Crop?
    public var resize: Resize?
    public var color = Color.rgb
    public var scale: Float = 1
    /// One value per channel, or one for all.
    public var mean: [Float] = [0]
    /// One value per channel, or one for all; none zero.
    public var std: [Float] = [1]
    public var layout = ImagePreprocessing.Layout.nchw
    public var dtype = DataType.float32

    public init() {}

    public var channels: Int { color == .grey ? 1 : 3 }

    /// Checks what does not depend on the frame size.
    public func validate(source: String) throws(FrameSourceError) {
        func fail(_ message: String) -> FrameSourceError { FrameSourceError(source: source, message: message) }
        if let crop {
            guard crop.x >= 0, crop.y >= 0, crop.width >= 1, crop.height >= 1 else {
                throw fail("crop \(crop.x),\(crop.y) \(crop.width)x\(crop.height): expected x, y ≥ 0 and width, height ≥ 1")
            }
        }
        if let resize {
            guard resize.width >= 1, resize.width <= 16384, resize.height >= 1, resize.height <= 16384 else {
                throw fail("resize \(resize.width)x\(resize.height) is outside 1x1 … 16384x16384")
            }
        }
        guard scale.isFinite else { throw fail("scale \(scale) is not a finite number") }
        guard mean.count == 1 || mean.count == channels else {
            throw fail("mean has \(mean.count) values; expected 1 or \(channels) (one per \(color.rawValue) channel)")
        }
        guard std.count == 1 || std.count == channels else {
            throw fail("std has \(std.count) values; expected 1 or \(channels) (one per \(color.rawValue) channel)")
        }
        guard mean.allSatisfy(\.isFinite) else { throw fail("mean \(mean) holds a value that is not finite") }
        guard std.allSatisfy({ $0.isFinite && $0 != 0 }) else { throw fail("std \(std) holds zero or a value that is not finite") }
    }
}

/// BT.601 limited-range YUV → RGB (ITU-R BT.601: Kr 0.299, Kb 0.114; luma 16…235, chroma 16…240),
/// each value rounded to the nearest integer and clamped to 0…255.
public enum BT601 {
    public static let lumaGain: Float = 255.0 / 219.0                            // 1.164383
    public static let vToR: Float = 255.0 / 224.0 * 1.402                         // 1.596027
    public static let uToG: Float = 255.0 / 224.0 * 1.772 * 0.114 / 0.587         // 0.391762
    public static let vToG: Float = 255.0 / 224.0 * 1.402 * 0.299 / 0.587         // 0.812968
    public static let uToB: Float = 255.0 / 224.0 * 1.772                         // 2.017232

    @inline(__always)
    public static func rgb(y: UInt8, u: UInt8, v: UInt8) -> (r: Float, g: Float, b: Float) {
        let l = lumaGain * (Float(y) - 16)
        let cu = Float(u) - 128, cv = Float(v) - 128
        return (clamp255(l + vToR * cv), clamp255(l - uToG * cu - vToG * cv), clamp255(l + uToB * cu))
    }

    /// Full-range grey from a limited-range luma sample.
    @inline(__always)
    public static func grey(y: UInt8) -> Float { clamp255(lumaGain * (Float(y) - 16)) }

    @inline(__always)
    static func clamp255(_ x: Float) -> Float { min(max(x.rounded(.toNearestOrAwayFromZero), 0), 255) }
}

/// Preprocesses frames of one raw format into the model's input. Made once per frame format (the
/// coordinate tables are computed here); `run` allocates nothing. Not thread-safe.
public final class FramePreprocessor {
    public let settings: PreprocessingSettings
    public let input: RawFrameFormat
    public let outputWidth: Int
    public let outputHeight: Int
    public let channels: Int
    private let crop: PreprocessingSettings.Crop
    private let means: [Float]
    private let stds: [Float]
    // Per output column / row: the two source columns / rows (within the frame) and the weight of the second.
    private let x0: [Int], x1: [Int], fx: [Float]
    private let y0: [Int], y1: [Int], fy: [Float]

    /// - Throws: `FrameSourceError` when the settings are invalid or the crop does not fit in the frame.
    public init(settings: PreprocessingSettings, input: RawFrameFormat, source: String = "preprocessing") throws(FrameSourceError) {
        try settings.validate(source: source)
        try input.validate(source: source)
        let crop = settings.crop ?? .init(x: 0, y: 0, width: input.width, height: input.height)
        guard crop.x + crop.width <= input.width, crop.y + crop.height <= input.height else {
            throw FrameSourceError(source: source, message: "crop \(crop.x),\(crop.y) \(crop.width)x\(crop.height) does not fit in a \(input.width)x\(input.height) frame")
        }
        self.settings = settings
        self.input = input
        self.crop = crop
        channels = settings.channels
        outputWidth = settings.resize?.width ?? crop.width
        outputHeight = settings.resize?.height ?? crop.height
        means = settings.mean.count == 1 ? Array(repeating: settings.mean[0], count: channels) : settings.mean
        stds = settings.std.count == 1 ? Array(repeating: settings.std[0], count: channels) : settings.std
        let bilinear = settings.resize?.bilinear ?? true
        (x0, x1, fx) = Self.table(output: outputWidth, source: crop.width, offset: crop.x, bilinear: bilinear)
        (y0, y1, fy) = Self.table(output: outputHeight, source: crop.height, offset: crop.y, bilinear: bilinear)
    }

    /// Source coordinates for each output coordinate: pixel centres aligned,
    /// `s = (o + 0.5) · source / output − 0.5`, clamped to the edge (bilinear), or the pixel under
    /// the centre `⌊(o + 0.5) · source / output⌋` (nearest).
    static func table(output: Int, source: Int, offset: Int, bilinear: Bool) -> ([Int], [Int], [Float]) {
        var a = [Int](repeating: 0, count: output), b = a, w = [Float](repeating: 0, count: output)
        let ratio = Double(source) / Double(output)
        for o in 0..<output {
            if bilinear {
                let s = min(max((Double(o) + 0.5) * ratio - 0.5, 0), Double(source - 1))
                let i = min(Int(s), source - 1)
                a[o] = offset + i
                b[o] = offset + min(i + 1, source - 1)
                w[o] = Float(s - Double(i))
            } else {
                let i = min(Int((Double(o) + 0.5) * ratio), source - 1)
                a[o] = offset + i
                b[o] = offset + i
            }
        }
        return (a, b, w)
    }

    /// The input tensor's type this produces.
    public var outputType: TensorType {
        let type: DataType = settings.dtype == .float32 ? .float32 : .uint8
        return switch settings.layout {
        case .nchw: TensorType(type, [1, channels, outputHeight, outputWidth])
        case .nhwc: TensorType(type, [1, outputHeight, outputWidth, channels])
        }
    }

    public var outputElementCount: Int { channels * outputHeight * outputWidth }

    /// Preprocesses one frame into float32 values (`dtype` must be float32).
    /// - Throws: `FrameSourceError` when `frame` is shorter than one frame of `input`, or `output`
    ///   does not hold `outputElementCount` values.
    public func run(_ frame: UnsafeRawBufferPointer, into output: UnsafeMutableBufferPointer<Float>) throws(FrameSourceError) {
        precondition(settings.dtype == .float32, "run(_:into: Float) needs dtype float32")
        try check(frame, outputBytes: output.count * 4)
        process(frame) { index, value in output[index] = value }
    }

    /// Preprocesses one frame into `output` as `dtype` (float32: 4 bytes per value; uint8: 1).
    public func run(_ frame: UnsafeRawBufferPointer, into output: UnsafeMutableRawBufferPointer) throws(FrameSourceError) {
        try check(frame, outputBytes: output.count)
        switch settings.dtype {
        case .float32:
            let floats = output.bindMemory(to: Float.self)
            process(frame) { index, value in floats[index] = value }
        case .uint8:
            let bytes = output.bindMemory(to: UInt8.self)
            process(frame) { index, value in bytes[index] = UInt8(min(max(value.rounded(.toNearestOrAwayFromZero), 0), 255)) }
        }
    }

    private func check(_ frame: UnsafeRawBufferPointer, outputBytes: Int) throws(FrameSourceError) {
        guard frame.count >= input.frameBytes else {
            throw FrameSourceError(source: "frame", message: "\(frame.count) bytes; a \(input.width)x\(input.height) \(input.pixelFormat.rawValue) frame with \(input.rowBytes) bytes per row has \(input.frameBytes)")
        }
        let expected = outputElementCount * (settings.dtype == .float32 ? 4 : 1)
        guard outputBytes == expected else {
            throw FrameSourceError(source: "preprocessing", message: "the output buffer holds \(outputBytes) bytes; \(outputType) needs \(expected)")
        }
    }

    @inline(__always)
    private func process(_ frame: UnsafeRawBufferPointer, store: (Int, Float) -> Void) {
        let bytes = frame.bindMemory(to: UInt8.self)
        let plane = outputWidth * outputHeight
        let format = input.pixelFormat, stride = input.rowBytes, chromaStride = input.chromaRowBytes
        let uPlane = stride * input.height, vPlane = uPlane + chromaStride * input.chromaRows
        let color = settings.color, scale = settings.scale, nhwc = settings.layout == .nhwc
        means.withUnsafeBufferPointer { means in
        stds.withUnsafeBufferPointer { stds in
            // One source pixel as (R, G, B), or (grey, grey, grey) when the model wants grey.
            @inline(__always) func pixel(_ x: Int, _ y: Int) -> (Float, Float, Float) {
                switch format {
                case .grey:
                    let g = Float(bytes[y * stride + x])
                    return (g, g, g)
                case .rgb24:
                    let i = y * stride + 3 * x
                    let r = Float(bytes[i]), g = Float(bytes[i + 1]), b = Float(bytes[i + 2])
                    if color == .grey {
                        let l = (0.299 * r + 0.587 * g + 0.114 * b).rounded(.toNearestOrAwayFromZero)
                        return (l, l, l)
                    }
                    return (r, g, b)
                case .yuv420:
                    let luma = bytes[y * stride + x]
                    if color == .grey {
                        let l = BT601.grey(y: luma)
                        return (l, l, l)
                    }
                    let c = (y >> 1) * chromaStride + (x >> 1)
                    let p = BT601.rgb(y: luma, u: bytes[uPlane + c], v: bytes[vPlane + c])
                    return (p.r, p.g, p.b)
                }
            }
            for oy in 0..<outputHeight {
                let sy0 = y0[oy], sy1 = y1[oy], wy = fy[oy]
                for ox in 0..<outputWidth {
                    let sx0 = x0[ox], sx1 = x1[ox], wx = fx[ox]
                    let p00 = pixel(sx0, sy0), p10 = pixel(sx1, sy0), p01 = pixel(sx0, sy1), p11 = pixel(sx1, sy1)
                    @inline(__always) func lerp(_ a: Float, _ b: Float, _ c: Float, _ d: Float) -> Float {
                        let top = a + (b - a) * wx, bottom = c + (d - c) * wx
                        return top + (bottom - top) * wy
                    }
                    let r = lerp(p00.0, p10.0, p01.0, p11.0)
                    let p = oy * outputWidth + ox
                    if color == .grey {
                        let scaled: Float = r * scale
                        store(p, (scaled - means[0]) / stds[0])
                        continue
                    }
                    let g = lerp(p00.1, p10.1, p01.1, p11.1)
                    let b = lerp(p00.2, p10.2, p01.2, p11.2)
                    let first = color == .rgb ? r : b, third = color == .rgb ? b : r
                    let s0: Float = first * scale, s1: Float = g * scale, s2: Float = third * scale
                    let v0 = (s0 - means[0]) / stds[0], v1 = (s1 - means[1]) / stds[1], v2 = (s2 - means[2]) / stds[2]
                    if nhwc {
                        store(3 * p, v0); store(3 * p + 1, v1); store(3 * p + 2, v2)
                    } else {
                        store(p, v0); store(plane + p, v1); store(2 * plane + p, v2)
                    }
                }
            }
        }
        }
    }
}
