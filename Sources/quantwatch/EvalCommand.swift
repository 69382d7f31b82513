import ArgumentParser
import Evaluation
import FrameSources
import Foundation
import ONNXImport

struct EvalCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "eval",
        abstract: "The offline quantization report: an int8 model against its float reference on a set of frames.",
        discussion: """
            Per output: sqnr_db (mean, 5th percentile, pooled), cosine, max_abs_error, top1_agree, topk_overlap, kl.
            With --layers: every tensor the two models share by name, with its accumulated error (each model
            on its own path) and local error (the float layers re-run on the int8 model's dequantized input),
            rmse/scale, saturation and weight SQNR, worst first. Always: the sensitivity ranking — the layers
            whose float fallback recovers most, as the node names quantize_static(nodes_to_exclude=…) expects.
            PATH is a directory of .npy/.pgm/.ppm frames or one .npy of shape [N, …]; images need --preprocessing.
            """)

    @Option(name: .long, help: "The int8 ONNX model.") var model: String
    @Option(name: .long, help: "Its float reference.") var reference: String
    @Option(name: .long, help: ArgumentHelp("Frames: a directory of .npy/.pgm/.ppm or one .npy [N, …].", valueName: "PATH")) var frames: String
    @Option(name: .long, help: ArgumentHelp("Labels: 'LABEL' or 'NAME LABEL' per line.", valueName: "FILE")) var labels: String?
    @Option(name: .long, help: ArgumentHelp("How images become inputs (JSON: width, height, layout, color, scale, mean, std).", valueName: "FILE"))
    var preprocessing: String?
    @Flag(name: .long, help: "Add the per-layer table.") var layers = false
    @Option(name: .long, help: "Output format: table, json or csv.") var format: String = "table"
    @Option(name: .long, help: "Frames used for the sensitivity ranking (0 skips it).") var sensitivityFrames: Int = 32
    @Option(name: .long, help: "top-k overlap's k.") var k: Int = 5

    func validate() throws {
        guard ReportFormat(rawValue: format) != nil else { throw ValidationError("--format must be table, json or csv") }
        guard sensitivityFrames >= 0 else { throw ValidationError("--sensitivity-frames must not be negative") }
        guard k >= 1 else { throw ValidationError("--k must be at least 1") }
    }

    func run() throws {
        try withUserErrors {
            var options = EvaluationOptions()
            options.layers = layers
            options.k = k
            options.sensitivityFrames = sensitivityFrames
            if sensitivityFrames == 0 { options.sensitivityCount = 0 }
            let evaluator = try Evaluator(int8: URL(fileURLWithPath: model), reference: URL(fileURLWithPath: reference), options: options)
            let port = try ONNXModel.load(contentsOf: URL(fileURLWithPath: reference)).compile().inputs[0]
            let image = try preprocessing.map { path in
                try PreprocessingFile.read(URL(fileURLWithPath: path)).imagePreprocessing(source: path)
            }
            let loaded = try FrameLoader.load(frames, expecting: port.type, inputName: port.name, preprocessing: image)
            let frameLabels = try labels.map { try FrameLoader.labels(URL(fileURLWithPath: $0), frameNames: loaded.map(\.name)) }
            let report = try evaluator.run(frames: loaded.map(\.tensor), labels: frameLabels) { done, total in
                FileHandle.standardError.write(Data("\rframe \(done)/\(total)\(done == total ? "\n" : "")".utf8))
            }
            print(try report.formatted(ReportFormat(rawValue: format)!))
        }
    }
}
