// The consumer's side: the next frame from the reader, preprocessed into the model input's buffer.
// A frame that does not fit the model is counted and reported, never fed to it.
import QuantGraph

/// Frames from a `FrameReader`, preprocessed into float32 model input. Not thread-safe: the
/// inference loop calls `next`. Allocates nothing per frame while the frames keep one format.
public final class FramePipeline {
    public enum Result: Sendable {
        /// The input buffer holds frame `sequence` of the source.
        case frame(sequence: Int)
        /// This frame does not fit the model (wrong size, crop outside it, a .npy of another shape)
        /// and was not written; counted in `rejected`.
        case rejected(FrameSourceError)
        case timedOut
        case ended
    }

    public let reader: FrameReader
    public let settings: PreprocessingSettings
    /// The model input the frames must become (float32).
    public let input: TensorType
    public private(set) var preprocessor: FramePreprocessor?
    /// Frames written to the input buffer.
    public private(set) var accepted = 0
    /// Frames that did not fit.
    public private(set) var rejected = 0
    public private(set) var lastRejection: FrameSourceError?

    /// - Parameter format: the raw frame format when the source has one (stdin, FIFO): the
    ///   preprocessor is made now, and a frame size or crop that cannot give `input` throws here,
    ///   at start, not at the first frame.
    public init(reader: FrameReader, preprocessing: PreprocessingSettings, input: TensorType, format: RawFrameFormat?) throws(FrameSourceError) {
        guard input.dataType == .float32 else {
            throw FrameSourceError(source: "preprocessing", message: "the model input is \(input); the pipeline feeds float32 inputs")
        }
        guard preprocessing.dtype == .float32 else {
            throw FrameSourceError(source: "preprocessing", message: "dtype \(preprocessing.dtype.rawValue); this model's input is float32")
        }
        self.reader = reader
        self.settings = preprocessing
        self.input = input
        if let format { preprocessor = try makePreprocessor(format, source: reader.source.name) }
    }

    private func makePreprocessor(_ format: RawFrameFormat, source: String) throws(FrameSourceError) -> FramePreprocessor {
        let p = try FramePreprocessor(settings: settings, input: format, source: source)
        guard p.outputType.shape == input.shape else {
            throw FrameSourceError(source: source, message: "a \(format.width)x\(format.height) \(format.pixelFormat.rawValue) frame preprocesses to \(p.outputType); the model input is \(input)"
                + (settings.resize == nil ? " (set preprocessing.resize to the model's size)" : ""))
        }
        return p
    }

    /// Waits at most `timeout` for a frame and writes it into `output` (`input.elementCount` floats).
    public func next(into output: UnsafeMutableBufferPointer<Float>, timeout: Duration) -> Result {
        precondition(output.count == input.elementCount, "the output buffer holds \(output.count) values; \(input) has \(input.elementCount)")
        switch reader.next(timeout: timeout) {
        case .timedOut: return .timedOut
        case .ended: return .ended
        case .frame(let frame):
            do throws(FrameSourceError) {
                try write(frame, into: output)
                accepted += 1
                return .frame(sequence: frame.sequence)
            } catch {
                rejected += 1
                let named = FrameSourceError(source: frame.file.map { "\(reader.source.name)/\($0)" } ?? "\(reader.source.name) frame \(frame.sequence)",
                                             message: error.message)
                lastRejection = named
                return .rejected(named)
            }
        }
    }

    private func write(_ frame: FrameBuffer, into output: UnsafeMutableBufferPointer<Float>) throws(FrameSourceError) {
        switch frame.content {
        case .tensor(let type):
            guard type == input else {
                throw FrameSourceError(source: "frame", message: "holds \(type); the model input is \(input)")
            }
            UnsafeMutableRawBufferPointer(output).copyMemory(from: frame.bytes)
        case .raw(let format):
            if preprocessor?.input != format {
                preprocessor = try makePreprocessor(format, source: "frame")
            }
            try preprocessor!.run(frame.bytes, into: output)
        }
    }
}
