/// A decoded greyscale (PGM) or colour (PPM) image.
///
/// Samples are stored row-major with channels interleaved (`R G B R G B …` for colour),
/// one `UInt16` per sample whatever the file's sample width, so 8-bit and 16-bit images
/// are handled alike. Every sample is in `0...maxValue`.
public struct PNMImage: Sendable, Equatable {
    /// Columns.
    public let width: Int
    /// Rows.
    public let height: Int
    /// 1 for greyscale (P2/P5), 3 for RGB (P3/P6).
    public let channels: Int
    /// The file's maxval: the sample value meaning full intensity, 1...65535.
    public let maxValue: Int
    /// `height * width * channels` samples, row-major, channels interleaved.
    public let pixels: [UInt16]

    /// Makes an image, checking that the dimensions and samples are consistent.
    /// - Throws: `FrameSourceError` (source `"PNMImage"`) if a dimension is not positive, `channels`
    ///   is not 1 or 3, `maxValue` is outside 1...65535, the pixel count is wrong, or a sample exceeds `maxValue`.
    public init(width: Int, height: Int, channels: Int, maxValue: Int, pixels: [UInt16]) throws {
        func fail(_ message: String) -> FrameSourceError {
            FrameSourceError(source: "PNMImage", message: message)
        }
        guard width > 0, height > 0 else { throw fail("width and height must be positive, got \(width)x\(height)") }
        guard channels == 1 || channels == 3 else { throw fail("channels must be 1 (greyscale) or 3 (RGB), got \(channels)") }
        guard (1...65535).contains(maxValue) else { throw fail("maxValue must be in 1...65535, got \(maxValue)") }
        let (wh, o1) = width.multipliedReportingOverflow(by: height)
        let (count, o2) = wh.multipliedReportingOverflow(by: channels)
        guard !o1, !o2, pixels.count == count else {
            throw fail("expected \(width)x\(height)x\(channels) = \(o1 || o2 ? "overflowing" : String(count)) samples, got \(pixels.count)")
        }
        if let index = pixels.firstIndex(where: { Int($0) > maxValue }) {
            throw fail("sample \(pixels[index]) at index \(index) exceeds maxValue \(maxValue)")
        }
        self.init(unchecked: width, height: height, channels: channels, maxValue: maxValue, pixels: pixels)
    }

    /// For decoders that have already validated everything.
    init(unchecked width: Int, height: Int, channels: Int, maxValue: Int, pixels: [UInt16]) {
        self.width = width
        self.height = height
        self.channels = channels
        self.maxValue = maxValue
        self.pixels = pixels
    }

    /// Bytes per sample in the binary formats: 1 when `maxValue` ≤ 255, otherwise 2 (big-endian).
    public var bytesPerSample: Int { maxValue > 255 ? 2 : 1 }

    /// The sample at column `x`, row `y`, channel `channel` (all zero-based; must be in range).
    public subscript(x x: Int, y y: Int, channel channel: Int = 0) -> UInt16 {
        precondition((0..<width).contains(x) && (0..<height).contains(y) && (0..<channels).contains(channel),
                     "pixel (\(x), \(y), channel \(channel)) outside \(width)x\(height)x\(channels) image")
        return pixels[(y * width + x) * channels + channel]
    }
}
