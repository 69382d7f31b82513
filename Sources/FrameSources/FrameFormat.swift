// What a frame source delivers and how it is read: plain settings (the daemon fills them from its
// configuration file; nothing here parses files).

/// The pixel layout of a raw frame: what `rpicam-vid --codec yuv420 -o -`, GStreamer's `rawvideoparse`
/// or `ffmpeg -f rawvideo -pix_fmt gray|rgb24|yuv420p` write, one frame after the other.
public enum PixelFormat: String, Sendable, Equatable, CaseIterable {
    /// 8-bit luma, one byte per pixel (`GRAY8`, `gray`).
    case grey
    /// 8-bit R, G, B interleaved, three bytes per pixel (`RGB`, `rgb24`).
    case rgb24
    /// Planar YUV 4:2:0 (`I420`, `yuv420p`): a Y plane, then U, then V at half width and height,
    /// BT.601 limited range (16…235 luma, 16…240 chroma) as the Raspberry Pi camera delivers.
    case yuv420
}

/// The size and layout of one raw frame in a stream.
///
/// Rows may be padded: `stride` is the bytes from one row's start to the next (of the Y plane for
/// YUV420, whose U and V planes then have `stride / 2`). The Raspberry Pi camera aligns the Y
/// stride to 64 bytes, so a 704-pixel-wide YUV420 frame arrives with 768 bytes per Y row. `stride`
/// 0 means packed rows (`width` · bytes per pixel).
public struct RawFrameFormat: Sendable, Equatable {
    public var pixelFormat: PixelFormat
    public var width: Int
    public var height: Int
    /// Bytes per row (Y row for YUV420); 0 = packed.
    public var stride: Int

    public init(_ pixelFormat: PixelFormat, width: Int, height: Int, stride: Int = 0) {
        self.pixelFormat = pixelFormat
        self.width = width
        self.height = height
        self.stride = stride
    }

    /// Bytes of one packed row (of the Y plane for YUV420).
    public var packedRowBytes: Int {
        switch pixelFormat {
        case .grey, .yuv420: width
        case .rgb24: width * 3
        }
    }

    /// Bytes per row in the stream (of the Y plane for YUV420).
    public var rowBytes: Int { stride == 0 ? packedRowBytes : stride }

    /// Bytes per row of the U and V planes (YUV420 only): half the Y stride, or the packed chroma
    /// width `(width + 1) / 2` when rows are packed.
    public var chromaRowBytes: Int { stride == 0 ? (width + 1) / 2 : stride / 2 }

    /// Rows of the U and V planes (YUV420 only).
    public var chromaRows: Int { (height + 1) / 2 }

    /// Bytes of one whole frame in the stream.
    public var frameBytes: Int {
        switch pixelFormat {
        case .grey, .rgb24: rowBytes * height
        case .yuv420: rowBytes * height + 2 * chromaRowBytes * chromaRows
        }
    }

    /// Channels of the decoded image: 1 for grey, 3 otherwise.
    public var channels: Int { pixelFormat == .grey ? 1 : 3 }

    /// Checks the sizes; the message says what is allowed.
    public func validate(source: String) throws(FrameSourceError) {
        func fail(_ message: String) -> FrameSourceError { FrameSourceError(source: source, message: message) }
        guard width >= 1, width <= 16384, height >= 1, height <= 16384 else {
            throw fail("frame size \(width)x\(height) is outside 1x1 … 16384x16384")
        }
        guard stride == 0 || stride >= packedRowBytes else {
            throw fail("stride \(stride) is shorter than one \(pixelFormat.rawValue) row of \(width) pixels (\(packedRowBytes) bytes); expected 0 (packed) or ≥ \(packedRowBytes)")
        }
        if pixelFormat == .yuv420, stride != 0 {
            guard stride % 2 == 0, stride / 2 >= (width + 1) / 2 else {
                throw fail("YUV420 stride \(stride) must be even (the U and V planes have stride / 2 bytes per row)")
            }
        }
    }
}

/// Where frames come from.
public enum FrameSourceKind: String, Sendable, Equatable, CaseIterable {
    /// .npy / .pgm / .ppm files replayed from a directory.
    case directory
    /// Raw frames on standard input.
    case stdin
    /// Raw frames from a named pipe (created when missing; reopened when its writer goes away).
    case fifo
    /// Tensors published to an MQTT topic by a local sensor process (read by the MQTT link).
    case mqtt
}

/// What the frames of a stream are.
public enum FrameFormat: String, Sendable, Equatable, CaseIterable {
    /// A `.npy` array of the model input's shape (directory and MQTT sources).
    case npy
    case grey
    case rgb24
    case yuv420

    /// The raw pixel format, nil for `.npy`.
    public var pixelFormat: PixelFormat? { PixelFormat(rawValue: rawValue) }
}

/// The order a directory's frames play in.
public enum FrameOrder: String, Sendable, Equatable, CaseIterable {
    /// Sorted by file name.
    case name
    /// A new random order on every pass.
    case shuffle
}

/// A frame source's settings (the `[frames]` section of the daemon's configuration).
public struct FrameSourceSettings: Sendable, Equatable {
    public var source: FrameSourceKind = .fifo
    /// The directory (directory), or the named pipe (fifo); unused for stdin and mqtt.
    public var path: String = "/run/quantwatch/frames"
    /// Directory replay: frames per second (0 = as fast as they are taken). Streams are paced by
    /// their writer.
    public var fps: Double = 10
    /// Directory replay: start again after the last frame.
    public var loop = true
    public var order = FrameOrder.name
    /// Raw streams (stdin, fifo): the pixel format; mqtt: `npy`. A directory's files say their own.
    public var format = FrameFormat.yuv420
    public var width = 640
    public var height = 480
    /// Bytes per row (Y row for YUV420); 0 = packed.
    public var stride = 0
    /// Frames held between the reader and inference; when full, the oldest is dropped.
    public var queue = 2
    /// The MQTT topic (mqtt).
    public var topic = ""

    public init() {}

    /// The raw layout of stdin and FIFO frames (nil for `npy`).
    public var rawFormat: RawFrameFormat? {
        format.pixelFormat.map { RawFrameFormat($0, width: width, height: height, stride: stride) }
    }
}
