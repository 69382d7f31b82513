import Foundation
import Testing

/// `quantwatch bench` run as a subprocess (see `CLIRun` in CLITests.swift). No timing thresholds:
/// only the report's shape, its internal order and the allocation count are checked.
@Suite struct BenchCommandTests {
    static let keys = [
        "model", "input", "frames", "frames_source", "counters", "activation_floors", "activation_ceilings", "int8_kernels", "warmup", "iterations", "load_ms", "plan_ms", "latency_ms",
        "frames_per_second", "peak_rss_bytes", "rss_bytes", "arena_bytes", "scratch_bytes", "steps",
        "allocations", "allocations_per_inference",
    ]

    static func report(_ run: CLIRun) throws -> [String: Any] {
        try #require(run.status == 0, "\(run.stderr)")
        return try #require(JSONSerialization.jsonObject(with: Data(run.stdout.utf8)) as? [String: Any], "\(run.stdout)")
    }

    @Test func jsonReportHasEveryKeyOrderedPercentilesAndNoAllocationPerInference() throws {
        let run = try CLIRun("bench", "--model", CLIRun.fixture("digits/model.fp32.onnx"), "--frames", CLIRun.fixture("digits/heldout.npy"),
                             "--iterations", "30", "--warmup", "3", "--json")
        let json = try Self.report(run)
        #expect(Set(json.keys) == Set(Self.keys), "\(json.keys.sorted())")
        let latency = try #require(json["latency_ms"] as? [String: Double])
        #expect(Set(latency.keys) == ["p50", "p95", "p99", "max", "mean"])
        let (p50, p95, p99, max) = (latency["p50"]!, latency["p95"]!, latency["p99"]!, latency["max"]!)
        #expect(p50 > 0 && p50 <= p95 && p95 <= p99 && p99 <= max, "\(latency)")
        #expect(latency["mean"]! > 0 && latency["mean"]! <= max)
        #expect(json["frames"] as? Int == 450)
        #expect(json["iterations"] as? Int == 30)
        #expect(json["warmup"] as? Int == 3)
        #expect(json["input"] as? String == "input: float32[1,1,8,8]")
        #expect(json["allocations"] as? Int == 0)
        #expect(json["allocations_per_inference"] as? Double == 0)
        #expect(json["steps"] as? Int == 5)
        #expect((json["arena_bytes"] as? Int ?? 0) > 0)
        #expect((json["peak_rss_bytes"] as? Int ?? 0) > 0)
        #expect((json["rss_bytes"] as? Int ?? 0) > 0)
        #expect((json["frames_per_second"] as? Double ?? 0) > 0)
    }

    @Test func framesFromADirectoryOfImagesAreCountedWithPreprocessing() throws {
        let run = try CLIRun("bench", "--model", CLIRun.fixture("patches/model.fp32.onnx"), "--frames", CLIRun.fixture("patches/drift/blur-1"),
                             "--preprocessing", CLIRun.fixture("patches/preprocessing.json"), "--iterations", "3", "--warmup", "1", "--json")
        let json = try Self.report(run)
        #expect(json["frames"] as? Int == 24)
        #expect(json["input"] as? String == "input: float32[1,3,96,96]")
    }

    @Test func withoutFramesTheInputIsZerosAndTheTextReportIsReadable() throws {
        let run = try CLIRun("bench", "--model", CLIRun.fixture("digits/model.fp32.onnx"), "--iterations", "5", "--warmup", "1")
        #expect(run.status == 0, "\(run.stderr)")
        #expect(run.stdout.contains("frames       1 (zeros)"), "\(run.stdout)")
        #expect(run.stdout.contains("latency ms   p50 "))
        #expect(run.stdout.contains("allocations  0 per inference"))
    }

    @Test func missingModelFileIsAClearError() throws {
        let missing = FileManager.default.temporaryDirectory.appendingPathComponent("qw-missing-\(UUID().uuidString).onnx").path
        let run = try CLIRun("bench", "--model", missing, "--iterations", "2", "--json")
        #expect(run.status != 0)
        #expect(run.stdout.isEmpty)
        #expect(run.stderr.contains(missing) && run.stderr.contains("cannot read the model"), "\(run.stderr)")
    }

    @Test func missingFramesPathIsAClearError() throws {
        let missing = FileManager.default.temporaryDirectory.appendingPathComponent("qw-no-frames-\(UUID().uuidString)").path
        let run = try CLIRun("bench", "--model", CLIRun.fixture("digits/model.fp32.onnx"), "--frames", missing, "--json")
        #expect(run.status != 0)
        #expect(run.stderr.contains(missing) && run.stderr.contains("no such file or directory"), "\(run.stderr)")
    }

    @Test func misShapedFramesNameWhatTheInputExpects() throws {
        // patches frames are [1,3,96,96]; the digits model takes [1,1,8,8].
        let run = try CLIRun("bench", "--model", CLIRun.fixture("digits/model.fp32.onnx"), "--frames", CLIRun.fixture("patches/tensors"))
        #expect(run.status != 0)
        #expect(run.stderr.contains("input 'input' expects float32[1,1,8,8]"), "\(run.stderr)")
    }

    @Test func imageFramesWithoutPreprocessingAreAClearError() throws {
        let run = try CLIRun("bench", "--model", CLIRun.fixture("patches/model.fp32.onnx"), "--frames", CLIRun.fixture("patches/frames"))
        #expect(run.status != 0)
        #expect(run.stderr.contains("need a preprocessing file (--preprocessing FILE"), "\(run.stderr)")
    }

    /// Without warm-up the first inference is timed and counted, and it is the one that may
    /// allocate (lazy runtime initialisation): the report shows it rather than hiding it.
    @Test func withoutWarmUpTheFirstInferenceIsCounted() throws {
        let json = try Self.report(CLIRun("bench", "--model", CLIRun.fixture("digits/model.fp32.onnx"), "--iterations", "2", "--warmup", "0", "--json"))
        #expect(json["warmup"] as? Int == 0)
        #expect(json["iterations"] as? Int == 2)
        #expect(json["allocations"] as? Int != nil)
    }

    /// --no-counters plans the model without saturation counters (the counter-cost benchmark);
    /// --reference takes the float model's folded activations' floors and ceilings, as `run` and `eval` do.
    @Test func countersCanBeTurnedOffAndFloorsComeFromTheReference() throws {
        let model = CLIRun.fixture("patches/model.int8.qop.onnx"), frames = CLIRun.fixture("patches/tensors")
        let on = try Self.report(CLIRun("bench", "--model", model, "--frames", frames, "--iterations", "3", "--warmup", "1", "--json"))
        #expect(on["counters"] as? Bool == true)
        #expect(on["activation_floors"] as? Int == 0)
        let off = try Self.report(CLIRun("bench", "--model", model, "--frames", frames, "--iterations", "3", "--warmup", "1",
                                         "--no-counters", "--json"))
        #expect(off["counters"] as? Bool == false)
        #expect(off["allocations"] as? Int == 0)
        let floors = try Self.report(CLIRun("bench", "--model", model, "--frames", frames, "--iterations", "3", "--warmup", "1",
                                            "--reference", CLIRun.fixture("patches/model.fp32.onnx"), "--json"))
        #expect(floors["activation_floors"] as? Int == 12)
        #expect(floors["activation_ceilings"] as? Int == 11)
        #expect(on["activation_ceilings"] as? Int == 0)
        let portable = try Self.report(CLIRun("bench", "--model", model, "--frames", frames, "--iterations", "3", "--warmup", "1",
                                              "--portable-kernels", "--json"))
        #expect(portable["int8_kernels"] as? String == "portable")
        #expect(["portable", "vnni"].contains(on["int8_kernels"] as? String ?? ""))
    }

    /// Frames are read one at a time (FrameFeed), not held: 96 patches frames (10.6 MB as float32)
    /// add little to the peak RSS of a run on one frame. A loose bound (half the frames' size), not a timing.
    @Test func framesAreNotHeldInMemory() throws {
        let model = CLIRun.fixture("patches/model.int8.qop.onnx")
        let one = try Self.report(CLIRun("bench", "--model", model, "--iterations", "3", "--warmup", "1", "--json"))
        let all = try Self.report(CLIRun("bench", "--model", model, "--frames", CLIRun.fixture("patches/frames"),
                                         "--preprocessing", CLIRun.fixture("patches/preprocessing.json"), "--iterations", "96", "--warmup", "0", "--json"))
        #expect(all["frames"] as? Int == 96)
        let growth = (all["peak_rss_bytes"] as? Int ?? 0) - (one["peak_rss_bytes"] as? Int ?? 0)
        #expect(growth < 96 * 3 * 96 * 96 * 4 / 2, "peak RSS grew by \(growth) bytes with 96 frames")
    }

    @Test func nonPositiveIterationsAreRefused() throws {
        let run = try CLIRun("bench", "--model", CLIRun.fixture("digits/model.fp32.onnx"), "--iterations", "0")
        #expect(run.status != 0)
        #expect(run.stderr.contains("--iterations must be at least 1"), "\(run.stderr)")
    }
}
