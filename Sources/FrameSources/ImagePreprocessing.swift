import QuantGraph

/// Turns a decoded image into a float32 model input tensor by per-channel normalisation.
///
/// Each sample becomes `(Float(sample) * scale - mean[c]) / std[c]`, evaluated in Float32 in
/// exactly that order, so the result matches numpy bit for bit:
/// `(img.astype(np.float32) * np.float32(scale) - mean32) / std32`.
/// A one-element `mean` or `std` applies to every channel.
///
/// The image must already have the configured size and channel count: resizing and cropping
/// are not done here.
public struct ImagePreprocessing: Sendable, Equatable {
    /// Axis order of the produced tensor.
    public enum Layout: String, Sendable, Equatable, CaseIterable {
        /// `[1, C, H, W]`.
        case nchw
        /// `[1, H, W, C]`.
        case nhwc
    }

    public var layout: Layout
    /// Expected image width in pixels.
    public var width: Int
    /// Expected image height in pixels.
    public var height: Int
    /// Expected channel count: 1 (greyscale) or 3 (RGB).
    public var channels: Int
    /// Multiplier applied to each raw sample first (e.g. `1/255`).
    public var scale: Float
    /// Subtracted after scaling; one value per channel, or one for all.
    public var mean: [Float]
    /// Divisor applied last; one value per channel, or one for all.
    public var std: [Float]

    public init(
        layout: Layout = .nchw, width: Int, height: Int, channels: Int = 3,
        scale: Float = 1, mean: [Float] = [0], std: [Float] = [1]
    ) {
        self.layout = layout
        self.width = width
        self.height = height
        self.channels = channels
        self.scale = scale
        self.mean = mean
        self.std = std
    }

    /// The type of the tensors this produces: float32 `[1, C, H, W]` or `[1, H, W, C]`.
    public var outputType: TensorType {
        switch layout {
        case .nchw: TensorType(.float32, [1, channels, height, width])
        case .nhwc: TensorType(.float32, [1, height, width, channels])
        }
    }

    /// Normalises `image` into a float32 tensor of `outputType`.
    /// - Parameter source: names the image in error messages (e.g. its path).
    /// - Throws: `FrameSourceError` if the image size or channel count differ from the configured
    ///   ones, or `mean`/`std` have the wrong number of entries or `std` contains zero.
    public func tensor(from image: PNMImage, source: String = "image") throws -> Tensor {
        func fail(_ message: String) -> FrameSourceError {
            FrameSourceError(source: source, message: message)
        }
        guard image.width == width, image.height == height else {
            throw fail("image is \(image.width)x\(image.height), expected \(width)x\(height) (resizing is not supported)")
        }
        guard image.channels == channels else {
            throw fail("image has \(image.channels) channel\(image.channels == 1 ? "" : "s"), expected \(channels)")
        }
        guard mean.count == 1 || mean.count == channels else {
            throw fail("preprocessing mean has \(mean.count) values, expected 1 or \(channels) (one per channel)")
        }
        guard std.count == 1 || std.count == channels else {
            throw fail("preprocessing std has \(std.count) values, expected 1 or \(channels) (one per channel)")
        }
        if let zero = std.firstIndex(of: 0) {
            throw fail("preprocessing std[\(zero)] is 0; expected a non-zero divisor")
        }
        let means = mean.count == 1 ? Array(repeating: mean[0], count: channels) : mean
        let stds = std.count == 1 ? Array(repeating: std[0], count: channels) : std
        let type = outputType
        let tensor = Tensor(zeros: type)
        let out = tensor.storage.pointer.bindMemory(to: Float.self, capacity: type.elementCount)
        let planeSize = width * height
        image.pixels.withUnsafeBufferPointer { pixels in
            for p in 0..<planeSize {
                for c in 0..<channels {
                    let sample = Float(pixels[p * channels + c])
                    let scaled: Float = sample * scale
                    let centred: Float = scaled - means[c]
                    let value: Float = centred / stds[c]
                    switch layout {
                    case .nchw: out[c * planeSize + p] = value
                    case .nhwc: out[p * channels + c] = value
                    }
                }
            }
        }
        return tensor
    }
}
