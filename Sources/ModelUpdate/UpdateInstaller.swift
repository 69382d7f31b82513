// The device's side of an update, in the order of docs/model-updates.md: signature, manifest, version
// (at admission, before any payload byte), then hashes, slot, load and fit, canary; then the switch
// record, probation and rollback. Knows no MQTT and no SQLite: the daemon carries messages and events.
import Documents
import Foundation
import FrameSources
import Monitor
import QuantGraph

/// What a device accepts.
public struct UpdatePolicy: Sendable {
    public var trustedKeys: [TrustedKey]
    public var canary: CanaryThresholds
    public var probation: ProbationPolicy
    /// The model input the configured pipeline produces.
    public var pipelineInput: TensorType
    /// The configured `[preprocessing]` values, keys without the `preprocessing.` prefix.
    public var preprocessing: [String: JSONValue]
    /// The largest payload accepted.
    public var maxBundleBytes: Int

    public init(trustedKeys: [TrustedKey], canary: CanaryThresholds = CanaryThresholds(), probation: ProbationPolicy = ProbationPolicy(),
                pipelineInput: TensorType, preprocessing: [String: JSONValue] = [:], maxBundleBytes: Int = 64 << 20) {
        self.trustedKeys = trustedKeys
        self.canary = canary
        self.probation = probation
        self.pipelineInput = pipelineInput
        self.preprocessing = preprocessing
        self.maxBundleBytes = maxBundleBytes
    }
}

/// A bundle written into a slot, loaded, checked and measured: ready to switch to.
public struct UpdateCandidate: @unchecked Sendable {
    public let models: MonitoredModels
    public let serving: ServingModel
    public let manifest: Manifest
    public let signer: String
    public let figures: CanaryFigures
    public let thresholds: CanaryThresholds
}

/// Confined to one caller at a time (the daemon's update actor).
public final class UpdateInstaller: @unchecked Sendable {
    public let slots: ModelSlots
    public var policy: UpdatePolicy
    public let recent: RecentFrames?
    public private(set) var serving: ServingModel
    public private(set) var record: ActiveRecord?

    public init(slots: ModelSlots, policy: UpdatePolicy, recent: RecentFrames?, serving: ServingModel, record: ActiveRecord?) {
        self.slots = slots
        self.policy = policy
        self.recent = recent
        self.serving = serving
        self.record = record
    }

    /// The signed header of the serving slot's bundle (nil for the configured pair).
    public var servingHeader: [UInt8]? {
        serving.slot == .configured ? nil : FileManager.default.contents(atPath: slots.path(of: serving.slot) + "/header.json").map { Array($0) }
    }

    /// Admission (at `update_begin`, before any payload): the signature, the manifest, the payload's
    /// size, the version.
    public func admit(headerBytes: [UInt8], payloadSize: Int) throws(UpdateRefusal) -> (manifest: Manifest, signer: String) {
        let (manifest, key) = try SignedHeader.decode(headerBytes).verify(trusted: policy.trustedKeys)
        guard payloadSize == manifest.payloadSize else {
            throw UpdateRefusal(.manifest, "the payload is announced as \(payloadSize) bytes; the manifest's files add up to \(manifest.payloadSize)")
        }
        guard manifest.payloadSize <= policy.maxBundleBytes else {
            throw UpdateRefusal(.transfer, "the bundle's files are \(manifest.payloadSize) bytes; this device takes at most \(policy.maxBundleBytes) (update.max_bundle_mb)")
        }
        guard manifest.version > serving.version || manifest.downgrade else {
            throw UpdateRefusal(.version, "version \(manifest.version) of '\(manifest.name)' is not newer than the installed \(serving.name) version \(serving.version)"
                                + " (a downgrade needs a bundle signed with --downgrade)")
        }
        return (manifest, key.id)
    }

    /// Everything after the transfer, up to the switch: admission again (the keys or the installed
    /// version may have changed meanwhile), the hashes, the inactive slot written, both models loaded
    /// and fitted to the pipeline, the canary. The serving model is untouched whatever happens.
    public func prepare(headerBytes: [UInt8], payloadPath: String, payloadOffset: Int = 0) throws(UpdateRefusal) -> UpdateCandidate {
        let size = ((try? FileManager.default.attributesOfItem(atPath: payloadPath)[.size] as? Int) ?? 0) - payloadOffset
        let (manifest, signer) = try admit(headerBytes: headerBytes, payloadSize: size)
        // Hashed here and again while extracting: a payload that does not match never touches the slots
        // (nor makes the previous model's slot forgotten below).
        try Payload.verify(manifest, path: payloadPath, offset: payloadOffset, size: size)
        try checkPreprocessing(manifest)
        let slot = serving.slot == .a ? Slot.b : .a
        if var r = record, r.previous == slot {
            // The previous model's slot is about to be overwritten: it can no longer be rolled back to.
            r.previous = nil
            try slots.saveRecord(r)
            record = r
        }
        let model = try slots.write(headerBytes: headerBytes, manifest: manifest, payloadPath: payloadPath, payloadOffset: payloadOffset, into: slot)
        do {
            return try check(model, manifest: manifest, signer: signer)
        } catch {
            slots.discard(slot)   // a refused model is never left where a rollback could find it
            throw error
        }
    }

    func check(_ model: ServingModel, manifest: Manifest, signer: String) throws(UpdateRefusal) -> UpdateCandidate {
        let models = try Self.load(model)
        let input = models.int8.inputs[0].type
        let announced = TensorType(input.dataType, manifest.input.shape)
        guard input.shape == manifest.input.shape, input.dataType.rawValue == manifest.input.dtype else {
            throw UpdateRefusal(.load, "the models take \(input); the manifest says \(manifest.input.dtype) \(manifest.input.shape)")
        }
        guard input == policy.pipelineInput else {
            throw UpdateRefusal(.load, "the models take \(announced); the configured pipeline (frames and [preprocessing]) produces \(policy.pipelineInput)")
        }
        let thresholds = policy.canary.overridden(by: manifest.canary)
        let frames = (recent?.snapshot() ?? []) + (try Canary.frames(files: model.framePaths, input: input))
        let figures = Canary.measure(models, frames: frames)
        try Canary.check(figures, thresholds)
        return UpdateCandidate(models: models, serving: model, manifest: manifest, signer: signer, figures: figures, thresholds: thresholds)
    }

    /// The switch: `active.json` names the candidate's slot, the serving one becomes previous, a
    /// probation held to `reference` starts. After this returns, a restart serves the candidate.
    public func commit(_ candidate: UpdateCandidate, reference: ProbationReference, nowMs: Int64) throws(UpdateRefusal) -> ActiveRecord {
        let probation = policy.probation.periodMs > 0
            ? ProbationRecord(startedMs: nowMs, untilMs: nowMs + policy.probation.periodMs, reference: reference) : nil
        let next = ActiveRecord(slot: candidate.serving.slot, previous: serving.slot, name: candidate.serving.name,
                                version: candidate.serving.version, installedMs: nowMs, probation: probation)
        try slots.saveRecord(next)
        record = next
        serving = candidate.serving
        return next
    }

    /// The model to roll back to (the previous slot, or the configured pair), checked and loaded.
    public func rollbackTarget() throws(UpdateRefusal) -> (model: ServingModel, models: MonitoredModels) {
        guard let previous = record?.previous else {
            throw UpdateRefusal(.install, "nothing to roll back to: \(serving.name) version \(serving.version) (slot \(serving.slot.rawValue)) has no previous model")
        }
        let model = try slots.model(in: previous)
        return (model, try Self.load(model))
    }

    /// Records the rollback: the previous model serves, with no probation and nothing behind it.
    public func commitRollback(to model: ServingModel, nowMs: Int64) throws(UpdateRefusal) {
        let next: ActiveRecord? = model.slot == .configured ? nil
            : ActiveRecord(slot: model.slot, previous: nil, name: model.name, version: model.version, installedMs: nowMs, probation: nil)
        try slots.saveRecord(next)
        record = next
        serving = model
    }

    /// Probation passed: the record keeps the previous slot (for a `rollback` on request) but no probation.
    public func endProbation() throws(UpdateRefusal) {
        guard var r = record, r.probation != nil else { return }
        r.probation = nil
        try slots.saveRecord(r)
        record = r
    }

    /// Loads and pairs a slot's models; a refusal names the file and what the importer said.
    public static func load(_ model: ServingModel) throws(UpdateRefusal) -> MonitoredModels {
        do {
            return try MonitoredModels.load(int8: URL(fileURLWithPath: model.int8Path), float: URL(fileURLWithPath: model.floatPath), output: model.output)
        } catch {
            throw UpdateRefusal(.load, "\(model.name) version \(model.version) does not load: \(error)")
        }
    }

    /// Every `[preprocessing]` key the manifest names must hold the same value here.
    func checkPreprocessing(_ manifest: Manifest) throws(UpdateRefusal) {
        for (key, wanted) in (manifest.preprocessing ?? [:]).sorted(by: { $0.key < $1.key }) {
            guard let have = policy.preprocessing[key] else {
                throw UpdateRefusal(.load, "the manifest's preprocessing names '\(key)', which is not a [preprocessing] key; known: \(policy.preprocessing.keys.sorted().joined(separator: ", "))")
            }
            guard Self.same(have, wanted) else {
                throw UpdateRefusal(.load, "the model expects preprocessing.\(key) = \(Self.render(wanted)); this device is configured with \(Self.render(have))")
            }
        }
    }

    static func same(_ a: JSONValue, _ b: JSONValue) -> Bool {
        switch (a, b) {
        case let (.number(x), .number(y)): return abs(x - y) <= 1e-6 * max(1, abs(x), abs(y))
        case let (.array(x), .array(y)): return x.count == y.count && zip(x, y).allSatisfy { same($0, $1) }
        case let (.array(x), .number): return x.count == 1 && same(x[0], b)
        case let (.number, .array(y)): return y.count == 1 && same(a, y[0])
        default: return a == b
        }
    }

    static func render(_ v: JSONValue) -> String {
        (try? DocumentCoding.encode(v)) ?? "\(v)"
    }
}

extension PreprocessingSettings {
    /// The settings as `[preprocessing]` keys (without the prefix) → values, for manifests to compare.
    public var manifestValues: [String: JSONValue] {
        var out: [String: JSONValue] = [
            "color": .string(color.rawValue), "scale": .number(Double(scale)), "mean": .array(mean.map { .number(Double($0)) }),
            "std": .array(std.map { .number(Double($0)) }), "layout": .string(layout.rawValue), "dtype": .string(dtype.rawValue),
        ]
        if let crop {
            out["crop.x"] = .number(Double(crop.x)); out["crop.y"] = .number(Double(crop.y))
            out["crop.width"] = .number(Double(crop.width)); out["crop.height"] = .number(Double(crop.height))
        }
        if let resize {
            out["resize.width"] = .number(Double(resize.width)); out["resize.height"] = .number(Double(resize.height))
            out["resize.bilinear"] = .bool(resize.bilinear)
        }
        return out
    }
}
