// The device's checks after a transfer, the A/B slots, probation and rollback — on the real fixture
// models, real files and real signatures (docs/model-updates.md).
import Crypto
import Documents
import Foundation
import ModelUpdate
import ONNXProto
import QuantGraph
import SwiftProtobuf
import Testing
import TestSupport

/// A device's state directory with the patches QOperator pair configured as its factory model (version 1).
struct Device {
    let dir: String
    let keyPath: String
    let slots: ModelSlots
    var installer: UpdateInstaller

    static let patchesInput = TensorType(.float32, [1, 3, 96, 96])

    init(canary: CanaryThresholds = CanaryThresholds(minSQNR: 10, minAgreement: 0.5, maxSaturation: 0.2),
         pipelineInput: TensorType = Device.patchesInput, preprocessing: [String: JSONValue] = [:]) throws {
        dir = try UpdateFixtures.temporaryDirectory()
        keyPath = try KeyFiles.generate(base: dir + "/release").privatePath
        let configured = ServingModel(slot: .configured, name: "patches", version: 1, int8Path: UpdateFixtures.path("patches/model.int8.qop.onnx"),
                                      floatPath: UpdateFixtures.path("patches/model.fp32.onnx"))
        slots = try ModelSlots(stateDirectory: dir + "/state", configured: configured)
        let policy = UpdatePolicy(trustedKeys: [TrustedKey(try KeyFiles.readPublic(path: keyPath), source: keyPath)], canary: canary,
                                  pipelineInput: pipelineInput, preprocessing: preprocessing)
        let (serving, record, _) = slots.resolve()
        installer = UpdateInstaller(slots: slots, policy: policy, recent: nil, serving: serving, record: record)
    }

    /// Reopens the state directory as a restarted daemon does.
    func restarted() -> (serving: ServingModel, record: ActiveRecord?, notes: [String]) { slots.resolve() }

    func bundle(version: Int, int8: String = "patches/model.int8.qdq.onnx", canary: Manifest.Canary? = nil, downgrade: Bool = false) throws -> BundleFile {
        try BundleFile.open(path: UpdateFixtures.bundle(in: dir, version: version, key: keyPath, int8: int8, canary: canary, downgrade: downgrade).path)
    }

    func install(_ bundle: BundleFile, nowMs: Int64 = 1_000) throws -> UpdateCandidate {
        let candidate = try installer.prepare(headerBytes: bundle.headerBytes, payloadPath: bundle.path, payloadOffset: bundle.payloadOffset)
        _ = try installer.commit(candidate, reference: ProbationReference(sqnrDb: 30, agreement: 1, source: "test"), nowMs: nowMs)
        return candidate
    }

    func remove() { try? FileManager.default.removeItem(atPath: dir) }
}

func refusal(_ step: UpdateStep, containing text: String, _ body: () throws -> Void, sourceLocation: SourceLocation = #_sourceLocation) {
    do {
        try body()
        Issue.record("expected a refusal at \(step.rawValue) containing '\(text)'", sourceLocation: sourceLocation)
    } catch let r as UpdateRefusal {
        #expect(r.step == step && r.message.contains(text), "got \(r)", sourceLocation: sourceLocation)
    } catch {
        Issue.record("expected an UpdateRefusal, got \(error)", sourceLocation: sourceLocation)
    }
}

@Suite struct InstallerTests {
    @Test func aGoodBundleIsInstalledIntoTheInactiveSlotAndSurvivesARestart() throws {
        let device = try Device()
        defer { device.remove() }
        let bundle = try device.bundle(version: 2)
        #expect(try device.installer.admit(headerBytes: bundle.headerBytes, payloadSize: bundle.payloadSize).manifest.version == 2)
        let candidate = try device.install(bundle)
        #expect(candidate.serving.slot == .a && candidate.serving.version == 2)
        #expect(candidate.figures.frames == 4)   // the bundled frames (no recent ones here)
        #expect(candidate.figures.meanSQNR > 10)
        #expect(device.installer.serving == candidate.serving)
        let (serving, record, notes) = device.restarted()
        #expect(serving == candidate.serving && notes.isEmpty)
        #expect(record?.slot == .a && record?.previous == .configured && record?.probation?.untilMs == 1_000 + ProbationPolicy().periodMs)
        // The next install goes to the other slot; the one serving stays.
        let next = try device.install(try device.bundle(version: 3))
        #expect(next.serving.slot == .b)
        #expect(device.restarted().record?.previous == .a)
    }

    @Test func anOlderOrEqualVersionIsRefusedUnlessASignedDowngradeAllowsIt() throws {
        let device = try Device()
        defer { device.remove() }
        _ = try device.install(try device.bundle(version: 5))
        for version in [4, 5] {
            let old = try device.bundle(version: version)
            refusal(.version, containing: "version \(version) of 'patches' is not newer than the installed patches version 5") {
                _ = try device.installer.admit(headerBytes: old.headerBytes, payloadSize: old.payloadSize)
            }
        }
        let downgrade = try device.bundle(version: 4, downgrade: true)
        #expect(try device.install(downgrade).serving.version == 4)
    }

    @Test func anUnsupportedOperatorIsRefusedAtLoadAndTheSlotIsNotLeftBehind() throws {
        let device = try Device()
        defer { device.remove() }
        // The QDQ model with one Conv turned into an operator this runtime does not have.
        var proto = try Onnx_ModelProto(serializedBytes: Data(contentsOf: URL(fileURLWithPath: UpdateFixtures.path("patches/model.int8.qdq.onnx"))))
        let index = try #require(proto.graph.node.firstIndex { $0.opType == "Conv" })
        proto.graph.node[index].opType = "DeformConv"
        let broken = device.dir + "/broken.int8.onnx"
        try proto.serializedData().write(to: URL(fileURLWithPath: broken))
        let bundle = try signedBundle(device: device, int8: broken, version: 2)
        refusal(.load, containing: "DeformConv") {
            _ = try device.installer.prepare(headerBytes: bundle.headerBytes, payloadPath: bundle.path, payloadOffset: bundle.payloadOffset)
        }
        #expect(device.installer.serving.slot == .configured)
        #expect(throws: UpdateRefusal.self) { try device.slots.model(in: .a) }   // discarded: never served, never rolled back to
        #expect(device.restarted().serving.slot == .configured)
    }

    @Test func aCanaryThatMissesTheManifestsThresholdIsRefusedNamingTheFigures() throws {
        let device = try Device()
        defer { device.remove() }
        let bundle = try device.bundle(version: 2, canary: Manifest.Canary(minSQNR: 80))
        refusal(.canary, containing: "is below the threshold 80.00 dB") {
            _ = try device.installer.prepare(headerBytes: bundle.headerBytes, payloadPath: bundle.path, payloadOffset: bundle.payloadOffset)
        }
        #expect(device.restarted().serving.slot == .configured)
    }

    @Test func aModelThatDoesNotFitThePipelineIsRefused() throws {
        let device = try Device(pipelineInput: TensorType(.float32, [1, 1, 8, 8]))
        defer { device.remove() }
        let bundle = try device.bundle(version: 2)
        refusal(.load, containing: "the configured pipeline (frames and [preprocessing]) produces") {
            _ = try device.installer.prepare(headerBytes: bundle.headerBytes, payloadPath: bundle.path, payloadOffset: bundle.payloadOffset)
        }
    }

    @Test func aPreprocessingMismatchNamesTheKey() throws {
        let device = try Device(preprocessing: ["color": .string("bgr"), "scale": .number(1)])
        defer { device.remove() }
        var request = BundleRequest(int8: UpdateFixtures.path("patches/model.int8.qdq.onnx"), float: UpdateFixtures.path("patches/model.fp32.onnx"),
                                    name: "patches", version: 2, keyPath: device.keyPath, output: device.dir + "/pre.qwb")
        request.frames = UpdateFixtures.path("patches/tensors")
        request.preprocessing = ["color": .string("rgb"), "scale": .array([.number(1)])]
        _ = try BundleBuilder.create(request)
        let bundle = try BundleFile.open(path: request.output)
        refusal(.load, containing: "the model expects preprocessing.color = \"rgb\"; this device is configured with \"bgr\"") {
            _ = try device.installer.prepare(headerBytes: bundle.headerBytes, payloadPath: bundle.path, payloadOffset: bundle.payloadOffset)
        }
    }

    @Test func aDamagedSlotIsNeverServedTheDeviceFallsBackToACompleteOne() throws {
        let device = try Device()
        defer { device.remove() }
        _ = try device.install(try device.bundle(version: 2))      // slot a
        let second = try device.install(try device.bundle(version: 3))   // slot b, previous a
        #expect(second.serving.slot == .b)
        // Power lost while slot b's int8 file was being rewritten: its bytes no longer match the manifest.
        let handle = try #require(FileHandle(forWritingAtPath: second.serving.int8Path))
        try handle.truncate(atOffset: 1000)
        try handle.close()
        let (serving, record, notes) = device.restarted()
        #expect(serving.slot == .a && serving.version == 2)
        #expect(record?.probation == nil)
        #expect(notes.contains { $0.contains("slot b cannot serve") && $0.contains("model.int8.onnx") })
        // A half-written record file is ignored, not trusted.
        try Data("{\"slot\": \"b\", ".utf8).write(to: URL(fileURLWithPath: device.slots.recordPath))
        #expect(device.restarted().serving.slot == .configured)
    }

    @Test func rollbackReturnsToThePreviousSlotAndAnOverwrittenPreviousIsNotOffered() throws {
        let device = try Device()
        defer { device.remove() }
        _ = try device.install(try device.bundle(version: 2))   // a, previous configured
        _ = try device.install(try device.bundle(version: 3))   // b, previous a
        let (target, models) = try device.installer.rollbackTarget()
        #expect(target.slot == .a && target.version == 2 && models.int8.inputs[0].type == Device.patchesInput)
        try device.installer.commitRollback(to: target, nowMs: 5_000)
        #expect(device.restarted().serving.slot == .a && device.restarted().record?.previous == nil)
        refusal(.install, containing: "has no previous model") { _ = try device.installer.rollbackTarget() }
    }

    /// A bundle signed by hand (BundleBuilder would refuse to make one that does not load).
    func signedBundle(device: Device, int8: String, version: Int) throws -> BundleFile {
        let float = UpdateFixtures.path("patches/model.fp32.onnx")
        var files: [Manifest.File] = []
        for (role, name, path) in [(Manifest.Role.int8, "model.int8.onnx", int8), (.float, "model.float.onnx", float)] {
            let size = try FileManager.default.attributesOfItem(atPath: path)[.size] as! Int
            files.append(Manifest.File(role: role, name: name, size: size, sha256: try BundleFile.sha256(path: path, offset: 0, count: size)))
        }
        let manifest = Manifest(name: "patches", version: version, created: "2026-11-29T00:00:00Z", files: files,
                                input: Manifest.Input(shape: [1, 3, 96, 96], dtype: "float32"))
        let header = try SignedHeader.signing(try manifest.encoded(), with: try KeyFiles.readPrivate(path: device.keyPath))
        let path = device.dir + "/hand-\(version).qwb"
        try BundleFile.write(path: path, header: header, sources: [int8, float])
        return try BundleFile.open(path: path)
    }
}

@Suite struct ProbationTests {
    let record = ProbationRecord(startedMs: 0, untilMs: 60_000, reference: ProbationReference(sqnrDb: 30, agreement: 0.98, source: "drift baseline"))
    let policy = ProbationPolicy(periodMs: 60_000, minShadows: 10, marginDb: 3, marginAgreement: 0.05, maxFailures: 3)

    @Test func aModelAsGoodAsThePreviousPassesWhenThePeriodEnds() {
        var p = Probation(record: record, policy: policy)
        for _ in 0..<20 { p.observe(sqnrDb: 29, top1Agree: 1) }
        #expect(p.verdict(nowMs: 59_999) == .pending)
        guard case let .passed(message) = p.verdict(nowMs: 60_000) else { Issue.record("expected a pass"); return }
        #expect(message.contains("20 shadowed frames") && message.contains("mean SQNR 29.00 dB"))
    }

    @Test func aModelWorseByMoreThanTheMarginFailsAsSoonAsEnoughFramesAreShadowed() {
        var p = Probation(record: record, policy: policy)
        for _ in 0..<9 { p.observe(sqnrDb: 20, top1Agree: 1) }
        #expect(p.verdict(nowMs: 1_000) == .pending)   // too few to judge
        p.observe(sqnrDb: 20, top1Agree: 1)
        guard case let .failed(reason) = p.verdict(nowMs: 1_000) else { Issue.record("expected a failure"); return }
        #expect(reason.contains("mean SQNR 20.00 dB over 10 shadowed frames is more than 3.00 dB below the previous model's 30.00 dB"))
        var q = Probation(record: record, policy: policy)
        for i in 0..<10 { q.observe(sqnrDb: 31, top1Agree: i < 8 ? 1 : 0) }
        guard case let .failed(why) = q.verdict(nowMs: 1_000) else { Issue.record("expected a failure"); return }
        #expect(why.contains("top-1 agreement 0.800"))
    }

    @Test func aModelThatFailsToRunIsRolledBackAfterConsecutiveFailures() {
        var p = Probation(record: record, policy: policy)
        p.failed(); p.failed(); p.ran(); p.failed(); p.failed()
        #expect(p.verdict(nowMs: 1) == .pending)
        p.failed()
        #expect(p.verdict(nowMs: 1) == .failed("the new model failed to run 3 frames in a row"))
    }
}
