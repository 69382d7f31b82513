import Foundation
import FrameSources
import Testing
import TestSupport

/// `quantwatch push` against `quantwatch run` on a real broker: the daemon's update commands are wired,
/// a refusal comes back with its reason and a non-zero exit; no answer is a time-out; a file that is not a
/// bundle is named.
@Suite(.serialized) struct PushTests {
    @Test func pushToARunningDaemonEndsWithItsVerdictAndExit1WhenRefused() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("qw-push-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir.appendingPathComponent("frames"), withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let frames = try FrameSet.loadStacked(URL(fileURLWithPath: CLIRun.fixture("digits/heldout.npy")))
        for (i, t) in frames.prefix(20).enumerated() { try NPY.write(t, to: dir.appendingPathComponent("frames/f\(i).npy")) }
        let broker = try MosquittoBroker(extraConfiguration: ["message_size_limit 102400"])
        let config = dir.appendingPathComponent("quantwatch.toml")
        try """
            [device]
            id = "push-e2e"
            [model]
            int8 = "\(CLIRun.fixture("digits/model.int8.qop.onnx"))"
            float = "\(CLIRun.fixture("digits/model.fp32.onnx"))"
            [frames]
            source = "directory"
            path = "frames"
            fps = 50
            loop = true
            [store]
            path = "metrics.db"
            [mqtt]
            url = "\(broker.url)"
            [update]
            state_dir = "state"
            """.write(to: config, atomically: true, encoding: .utf8)
        let daemon = try Child(CLIRun.binary.path, ["run", "--config", config.path])
        defer { daemon.kill() }
        let bundle = dir.appendingPathComponent("b.qwb")
        try Data(TransferBundle.make(payloadSize: 300_000)).write(to: bundle)

        let push = try CLIRun("push", "--broker", broker.url, "--device", "push-e2e", "--timeout", "30", bundle.path)
        // An unsigned bundle: refused at the signature step, before any chunk.
        #expect(push.status == 1, "\(push.stdout)\(push.stderr)")
        #expect(push.stdout.contains("push-e2e: refused — signature: the bundle is not signed"), "\(push.stdout)")
        #expect(push.stdout.contains("0 chunks sent"), "\(push.stdout)")
        let left = (try? FileManager.default.contentsOfDirectory(atPath: dir.appendingPathComponent("state/transfer").path)) ?? []
        #expect(left.isEmpty, "a refused push left \(left)")

        let nobody = try CLIRun("push", "--broker", broker.url, "--device", "nobody", "--timeout", "2", bundle.path)
        #expect(nobody.status == 1 && nobody.stdout.contains("nobody: timed out — no answer"), "\(nobody.stdout)\(nobody.stderr)")

        let notBundle = try CLIRun("push", "--broker", broker.url, "--device", "push-e2e", config.path)
        #expect(notBundle.status != 0 && notBundle.stderr.contains("not a bundle"), "\(notBundle.stderr)")
        let both = try CLIRun("push", "--broker", broker.url, "--device", "a", "--group", "g", bundle.path)
        #expect(both.status != 0 && both.stderr.contains("exactly one of --device ID or --group G"))
        kill(daemon.process.processIdentifier, SIGTERM)
        let (status, _, stderr) = daemon.wait()
        #expect(status == 0, "\(stderr)")
    }
}
