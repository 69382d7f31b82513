import Foundation
import QuantGraph

/// How images become model inputs, as a JSON file (Fixtures/patches/preprocessing.json is one):
/// `{"layout": "NCHW", "color": "RGB", "width": 96, "height": 96, "scale": 0.0039215…, "mean": […], "std": […]}`.
public struct PreprocessingFile: Decodable, Sendable {
    public var layout: String?
    public var scale: Float?
    public var mean: [Float]?
    public var std: [Float]?
    public var input: String?
    public var width: Int
    public var height: Int
    public var color: String?

    public static func read(_ url: URL) throws -> PreprocessingFile {
        let data: Data
        do { data = try Data(contentsOf: url) } catch {
            throw FrameSourceError(source: url.path, message: "cannot read the preprocessing file: \(error.localizedDescription)")
        }
        do { return try JSONDecoder().decode(PreprocessingFile.self, from: data) } catch {
            throw FrameSourceError(source: url.path, message: "not a preprocessing JSON object with width, height and optional layout, color, scale, mean, std, input (\(error))")
        }
    }

    public func imagePreprocessing(source: String) throws -> ImagePreprocessing {
        let layoutName = (layout ?? "NCHW").lowercased()
        guard let layout = ImagePreprocessing.Layout(rawValue: layoutName) else {
            throw FrameSourceError(source: source, message: "layout '\(self.layout!)' is not NCHW or NHWC")
        }
        let channels: Int
        switch (color ?? "RGB").uppercased() {
        case "RGB": channels = 3
        case "GRAY", "GREY", "L": channels = 1
        default: throw FrameSourceError(source: source, message: "color '\(color!)' is not RGB or GRAY")
        }
        return ImagePreprocessing(layout: layout, width: width, height: height, channels: channels,
                                  scale: scale ?? 1, mean: mean ?? [0], std: std ?? [1])
    }
}

/// Loads a frame set for offline tools: a directory of .npy/.pgm/.ppm frames (sorted by name) or
/// one .npy stacking N frames, each checked against the model input it will fill.
public enum FrameLoader {
    /// The frames and their names (file names; "NAME[i]" for frames of a stacked file).
    public static func load(_ path: String, expecting type: TensorType, inputName: String,
                            preprocessing: ImagePreprocessing?) throws -> [(name: String, tensor: Tensor)] {
        var frames: [(name: String, tensor: Tensor)] = []
        for file in try files(at: path) {
            switch file.kind {
            case .npy:
                let tensor = try NPY.read(contentsOf: file.url)
                switch try frameCount(tensor.type, expecting: type, file: file, inputName: inputName) {
                case nil: frames.append((file.name, tensor))
                default: frames += try FrameSet.split(tensor, source: file.url.path).enumerated().map { ("\(file.name)[\($0.offset)]", $0.element) }
                }
            case .pgm, .ppm:
                frames.append((file.name, try imageFrame(file, preprocessing: preprocessing, expecting: type, inputName: inputName)))
            }
        }
        guard !frames.isEmpty else { throw FrameSourceError(source: path, message: "no frames") }
        return frames
    }

    /// The frame files at `path`: a directory's (sorted by name, `FrameSet.files`) or the one file.
    static func files(at path: String) throws -> [FrameFile] {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw FrameSourceError(source: path, message: "no such file or directory; expected a directory of .npy/.ppm/.pgm frames or one .npy file")
        }
        if isDirectory.boolValue { return try FrameSet.files(in: URL(fileURLWithPath: path)) }
        guard let file = FrameFile(url: URL(fileURLWithPath: path)) else {
            throw FrameSourceError(source: path, message: "unsupported file type; expected a directory of .npy/.ppm/.pgm frames or one .npy file")
        }
        return [file]
    }

    /// nil when a .npy holding `fileType` is one frame of `type`; its first dimension N when it is a
    /// stack [N, …] of such frames (N may be 0: the caller refuses it); otherwise an error.
    static func frameCount(_ fileType: TensorType, expecting type: TensorType, file: FrameFile, inputName: String) throws -> Int? {
        if fileType == type { return nil }
        guard fileType.dataType == type.dataType, fileType.rank == type.rank,
              Array(fileType.shape.dropFirst()) == Array(type.shape.dropFirst()), type.shape.first == 1,
              let count = fileType.shape.first else {
            throw FrameSourceError(source: file.url.path, message: "holds \(fileType); input '\(inputName)' expects \(type) (or a stack [N,…] of such frames)")
        }
        return count
    }

    /// An image frame, decoded, preprocessed and checked against `type`.
    static func imageFrame(_ file: FrameFile, preprocessing: ImagePreprocessing?, expecting type: TensorType,
                           inputName: String) throws -> Tensor {
        guard let preprocessing else {
            throw FrameSourceError(source: file.url.path, message: "image frames need a preprocessing file (--preprocessing FILE: a JSON like Fixtures/patches/preprocessing.json)")
        }
        let tensor = try preprocessing.tensor(from: PNM.read(contentsOf: file.url), source: file.url.path)
        guard tensor.type == type else {
            throw FrameSourceError(source: file.url.path, message: "preprocessed to \(tensor.type); input '\(inputName)' expects \(type)")
        }
        return tensor
    }

    /// Labels for frames: one per line, either `LABEL` (in frame order) or `NAME LABEL` (matched by
    /// file name, or in order for stacked frames). Returns one label per frame.
    public static func labels(_ url: URL, frameNames: [String]) throws -> [Int] {
        let text: String
        do { text = try String(contentsOf: url, encoding: .utf8) } catch {
            throw FrameSourceError(source: url.path, message: "cannot read the labels: \(error.localizedDescription)")
        }
        var byName: [String: Int] = [:], inOrder: [Int] = []
        for (number, line) in text.split(separator: "\n", omittingEmptySubsequences: true).enumerated() {
            let fields = line.split(separator: " ", omittingEmptySubsequences: true)
            guard let last = fields.last, let label = Int(last), fields.count <= 2 else {
                throw FrameSourceError(source: url.path, message: "line \(number + 1) '\(line)' is not 'LABEL' or 'NAME LABEL' with an integer label")
            }
            inOrder.append(label)
            if fields.count == 2 { byName[String(fields[0])] = label }
        }
        if !byName.isEmpty, frameNames.allSatisfy({ byName[$0] != nil }) { return frameNames.map { byName[$0]! } }
        guard inOrder.count >= frameNames.count else {
            throw FrameSourceError(source: url.path, message: "has \(inOrder.count) labels for \(frameNames.count) frames")
        }
        return Array(inOrder.prefix(frameNames.count))
    }
}
