import Foundation
import FrameSources
import QuantGraph
import Testing
@testable import quantwatch

/// Runs the built `quantwatch` binary (beside the test bundle) and captures its output.
struct CLIRun {
    var status: Int32
    var stdout: String
    var stderr: String

    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static func fixture(_ path: String) -> String { repository.appendingPathComponent("Fixtures/\(path)").path }

    static var binary: URL {
        let beside = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        let candidates = [beside, beside.deletingLastPathComponent()].map { $0.appendingPathComponent("quantwatch") }
        return candidates.first { FileManager.default.isExecutableFile(atPath: $0.path) } ?? candidates[0]
    }

    init(_ arguments: String...) throws { try self.init(arguments) }

    init(_ arguments: [String]) throws {
        let process = Process()
        process.executableURL = Self.binary
        process.arguments = arguments
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        let outData = out.fileHandleForReading.readDataToEndOfFile()
        let errData = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        status = process.terminationStatus
        stdout = String(decoding: outData, as: UTF8.self)
        stderr = String(decoding: errData, as: UTF8.self)
    }
}

@Suite struct CLITests {
    @Test func inspectListsInputsOutputsOperatorsAndParameters() throws {
        let run = try CLIRun("inspect", CLIRun.fixture("digits/model.fp32.onnx"))
        #expect(run.status == 0, "\(run.stderr)")
        #expect(run.stdout.contains("input  float32[N,1,8,8]"))
        #expect(run.stdout.contains("probabilities  float32[N,10]"))
        #expect(run.stdout.contains("BatchNormalization"))
        #expect(run.stdout.contains("parameters "))
    }

    @Test func inspectJSONReportsPerChannelQuantizationOfTheQDQModel() throws {
        let run = try CLIRun("inspect", "--json", CLIRun.fixture("digits/model.int8.qdq.onnx"))
        #expect(run.status == 0, "\(run.stderr)")
        let json = try JSONSerialization.jsonObject(with: Data(run.stdout.utf8)) as! [String: Any]
        let quantized = json["quantizedTensors"] as! [[String: Any]]
        let perChannel = quantized.filter { ($0["scale"] as! [Double]).count > 1 }
        #expect(!perChannel.isEmpty)
        #expect(perChannel.allSatisfy { $0["axis"] as? Int != nil })
        #expect(quantized.contains { $0["zeroPointType"] as? String == "int8" })
    }

    @Test func inferPrintsTopClassesWithLabels() throws {
        let run = try CLIRun("infer", CLIRun.fixture("digits/model.fp32.onnx"), "--input", CLIRun.fixture("digits/frames/0000.npy"),
                             "--top", "2", "--labels", CLIRun.fixture("digits/classes.txt"))
        #expect(run.status == 0, "\(run.stderr)")
        let labels = try String(contentsOfFile: CLIRun.fixture("digits/labels.txt"), encoding: .utf8)
        let first = labels.split(separator: "\n")[0].split(separator: " ")[1]
        #expect(run.stdout.contains(" 1. class \(first) "), "\(run.stdout)")
        #expect(run.stdout.contains(" 2. class "))
    }

    @Test func inferSavesEachOutputAsNpyMatchingOnnxruntime() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("qw-cli-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: directory) }
        let run = try CLIRun("infer", CLIRun.fixture("digits/model.fp32.onnx"), "--input", "input=" + CLIRun.fixture("digits/frames/0000.npy"),
                             "--save", directory.path)
        #expect(run.status == 0, "\(run.stderr)")
        let saved = try NPY.read(contentsOf: directory.appendingPathComponent("probabilities.npy"))
        let recorded = try NPY.read(contentsOf: URL(fileURLWithPath: CLIRun.fixture("digits/ort/fp32/heldout.npy"))).floatValues()!
        #expect(saved.shape == [1, 10])
        for (ours, theirs) in zip(saved.floatValues()!, recorded.prefix(10)) {
            #expect(abs(ours - theirs) <= 1e-4 * abs(theirs) + 1e-6)
        }
    }

    @Test func inferReadsTensorProtoInputsByTheirStoredName() throws {
        let directory = "conformance/test_relu"
        let run = try CLIRun("infer", CLIRun.fixture("\(directory)/model.onnx"), "--input", CLIRun.fixture("\(directory)/test_data_set_0/input_0.pb"))
        #expect(run.status == 0, "\(run.stderr)")
        #expect(run.stdout.contains("y  float32[3,4,5]"))
    }

    @Test func misShapedInputNamesWhatTheModelExpects() throws {
        let run = try CLIRun("infer", CLIRun.fixture("digits/model.fp32.onnx"), "--input", CLIRun.fixture("digits/heldout.npy"))
        #expect(run.status != 0)
        #expect(run.stderr.contains("input 'input' expects float32[1,1,8,8]"), "\(run.stderr)")
    }

    @Test func misnamedInputListsTheModelsInputs() throws {
        let run = try CLIRun("infer", CLIRun.fixture("digits/model.fp32.onnx"), "--input", "image=" + CLIRun.fixture("digits/frames/0000.npy"))
        #expect(run.status != 0)
        #expect(run.stderr.contains("no input named 'image'"), "\(run.stderr)")
        #expect(run.stderr.contains("input: float32[1,1,8,8]"), "\(run.stderr)")
    }

    @Test func missingInputIsAnError() throws {
        let run = try CLIRun("infer", CLIRun.fixture("conformance/test_add/model.onnx"), "--input", CLIRun.fixture("conformance/test_add/test_data_set_0/input_0.pb"))
        #expect(run.status != 0)
        #expect(run.stderr.contains("missing input(s): y: float32[3,4,5]"), "\(run.stderr)")
    }

    @Test func malformedModelIsAnErrorNotACrash() throws {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("qw-bad-\(UUID().uuidString).onnx")
        try Data("this is not a model".utf8).write(to: file)
        defer { try? FileManager.default.removeItem(at: file) }
        let run = try CLIRun("infer", file.path, "--input", CLIRun.fixture("digits/frames/0000.npy"))
        #expect(run.status == 1)
        #expect(run.stderr.contains(file.path) && run.stderr.contains("not a valid ONNX model"), "\(run.stderr)")
    }

    @Test func savedFileNamesReplaceCharactersOutsideThePortableSet() {
        #expect(OutputFormatting.fileName(for: "probabilities") == "probabilities")
        #expect(OutputFormatting.fileName(for: "/fc2/Gemm_output_0") == "_fc2_Gemm_output_0")
        #expect(OutputFormatting.fileName(for: "scores:0 (raw)") == "scores_0__raw_")
        #expect(OutputFormatting.fileName(for: "a.b-c_d") == "a.b-c_d")
    }
}

@Suite struct CLIProfileTests {
    @Test func profileListsEveryPlannedStepWithItsNode() throws {
        let run = try CLIRun("infer", CLIRun.fixture("digits/model.fp32.onnx"), "--input", CLIRun.fixture("digits/frames/0000.npy"),
                             "--repeat", "3", "--profile")
        #expect(run.status == 0, "\(run.stderr)")
        #expect(run.stdout.contains("mean latency"))
        // digits: Conv+BN+Relu twice, Gemm+Relu, Gemm, Softmax = 5 steps after folding and fusion.
        #expect(run.stdout.contains("profile: 5 steps"), "\(run.stdout)")
        #expect(run.stdout.contains("/conv1/Conv+/bn1/BatchNormalization+/relu1/Relu"))
    }

    /// --reference plans the int8 model as `run` and `eval` do: the patches Relu6 outputs' floors
    /// and (all but the stem's) ceilings are not counted; the profile then shows what counting costs.
    @Test func profileWithTheReferenceSkipsFoldedActivationBounds() throws {
        let model = CLIRun.fixture("patches/model.int8.qop.onnx"), input = CLIRun.fixture("patches/tensors/0000.npy")
        let planned = try CLIRun("infer", model, "--input", input, "--profile", "--reference", CLIRun.fixture("patches/model.fp32.onnx"))
        #expect(planned.status == 0, "\(planned.stderr)")
        #expect(planned.stdout.contains("saturation counters on (12 activation floors, 11 ceilings not counted)"), "\(planned.stdout)")
        let alone = try CLIRun("infer", model, "--input", input, "--profile", "--no-counters")
        #expect(alone.stdout.contains("saturation counters off\n"), "\(alone.stdout)")
        let missing = try CLIRun("infer", model, "--input", input, "--reference", "/nonexistent/float.onnx")
        #expect(missing.status != 0 && missing.stderr.contains("/nonexistent/float.onnx"), "\(missing.stderr)")
    }
}

@Suite struct CLIEvalTests {
    @Test func evalPrintsTheReportWithTheExclusionList() throws {
        let run = try CLIRun("eval", "--model", CLIRun.fixture("digits/model.int8.qdq.onnx"), "--reference", CLIRun.fixture("digits/model.fp32.onnx"),
                             "--frames", CLIRun.fixture("digits/heldout.npy"), "--labels", CLIRun.fixture("digits/labels.txt"),
                             "--layers", "--sensitivity-frames", "8")
        #expect(run.status == 0, "\(run.stderr)")
        #expect(run.stdout.contains("accuracy  int8 98.22%"), "\(run.stdout)")
        #expect(run.stdout.contains("nodes_to_exclude=['"))
        #expect(run.stderr.contains("frame 450/450"))
    }

    @Test func evalOfImageFramesWithoutPreprocessingSaysWhatIsMissing() throws {
        let run = try CLIRun("eval", "--model", CLIRun.fixture("patches/model.int8.qop.onnx"), "--reference", CLIRun.fixture("patches/model.fp32.onnx"),
                             "--frames", CLIRun.fixture("patches/frames"))
        #expect(run.status != 0)
        #expect(run.stderr.contains("image frames need a preprocessing file"), "\(run.stderr)")
    }
}
