// Model updates in the running daemon (docs/model-updates.md): the installer's checks run here, off
// the inference loop; the loop takes a new model pair between two frames from the switchboard;
// events go through the metric buffer like every other event.
import Documents
import Foundation
import Logging
import ModelUpdate
import Monitor
import QuantMetrics
import Synchronization

/// A model pair for the inference loop to take before its next frame.
struct ModelSwitch: @unchecked Sendable {
    var models: MonitoredModels
    var serving: ServingModel
    var reference: ModelReference
    var probation: ProbationRecord?
    var reason: String
}

/// The mailbox between the update side and the inference loop, and the loop's latest baseline
/// (the reference a new model's probation is held to).
final class ModelSwitchboard: Sendable {
    private let pending = Mutex<ModelSwitch?>(nil)
    private let taken = Mutex<Int>(0)
    private let baseline = Mutex<Baseline?>(nil)

    func post(_ change: ModelSwitch) { pending.withLock { $0 = change } }
    func take() -> ModelSwitch? {
        pending.withLock { p in
            defer { p = nil }
            return p
        }
    }
    func markTaken() { taken.withLock { $0 += 1 } }
    var takenCount: Int { taken.withLock { $0 } }
    func setBaseline(_ b: Baseline?) { baseline.withLock { $0 = b } }
    var latestBaseline: Baseline? { baseline.withLock { $0 } }

    /// Posts a switch and waits until the loop took it (at most `timeout`).
    func switchAndWait(_ change: ModelSwitch, timeout: Duration = .seconds(30)) async -> Bool {
        let before = takenCount
        post(change)
        let deadline = ContinuousClock.now + timeout
        while takenCount == before {
            if ContinuousClock.now >= deadline { return false }
            try? await Task.sleep(for: .milliseconds(5))
        }
        return true
    }
}

/// Runs admissions, installs and rollbacks one at a time.
public actor UpdateCoordinator {
    let installer: UpdateInstaller
    let switchboard: ModelSwitchboard
    let buffer: MetricBuffer
    let logger: Logger
    let clock: @Sendable () -> Int64
    /// Whether a switch is under way (a second install waits for the first).
    private var busy = false

    init(installer: UpdateInstaller, switchboard: ModelSwitchboard, buffer: MetricBuffer, logger: Logger, clock: @escaping @Sendable () -> Int64) {
        self.installer = installer
        self.switchboard = switchboard
        self.buffer = buffer
        self.logger = logger
        self.clock = clock
    }

    public var serving: ServingModel { installer.serving }

    /// Admission at `update_begin`: a refusal is also an event.
    public func admit(headerBytes: [UInt8], payloadSize: Int) async throws(UpdateRefusal) -> (manifest: Manifest, signer: String) {
        do { return try installer.admit(headerBytes: headerBytes, payloadSize: payloadSize) } catch {
            await reject(error, header: headerBytes)
            throw error
        }
    }

    /// A complete payload: checks, slot, canary, switch. Inference keeps running throughout; on a
    /// refusal the serving model is untouched.
    public func install(headerBytes: [UInt8], payloadPath: String, payloadOffset: Int = 0) async -> UpdateVerdict {
        while busy { try? await Task.sleep(for: .milliseconds(20)) }
        busy = true
        defer { busy = false }
        let before = installer.serving
        if let serving = installer.servingHeader, serving == headerBytes, let m = try? Manifest.decode(SignedHeader.decode(headerBytes).manifestBytes) {
            // This very bundle serves already (a restart between its install and its verdict).
            return .installed(details: Self.details(name: m.name, version: m.version,
                                                    message: "\(m.name) version \(m.version) is already installed and serving (slot \(before.slot.rawValue))"))
        }
        do {
            let candidate = try installer.prepare(headerBytes: headerBytes, payloadPath: payloadPath, payloadOffset: payloadOffset)
            let reference = probationReference(canary: candidate.thresholds)
            let record = try installer.commit(candidate, reference: reference, nowMs: clock())
            let ref = try modelReference(candidate.serving)
            let switched = await switchboard.switchAndWait(ModelSwitch(models: candidate.models, serving: candidate.serving, reference: ref,
                                                                        probation: record.probation, reason: "installed"))
            let message = "\(candidate.manifest.name) version \(candidate.manifest.version) installed in slot \(candidate.serving.slot.rawValue)"
                + " (signed by key \(candidate.signer)); canary \(candidate.figures.summary)"
                + (record.probation.map { " ; on probation until \(rfc3339(milliseconds: $0.untilMs))" } ?? "")
                + (switched ? "" : "; the inference loop has not taken it yet")
            logger.notice("\(message)")
            var figures = Self.figures(candidate.figures)
            if let s = reference.sqnrDb { figures["reference_sqnr_db"] = s }
            if let a = reference.agreement { figures["reference_top1_agree"] = a }
            await recordEvent(MonitorEvent(kind: .modelInstalled, tsMs: clock(), cause: message,
                                           update: UpdateDetails(name: candidate.manifest.name, version: candidate.manifest.version,
                                                                 previousName: before.name, previousVersion: before.version, figures: figures)))
            return .installed(details: Self.details(name: candidate.manifest.name, version: candidate.manifest.version, message: message,
                                                    canary: candidate.figures))
        } catch let refusal as UpdateRefusal {
            await reject(refusal, header: headerBytes)
            return .refused(refusal)
        } catch {
            let refusal = UpdateRefusal(.install, "\(error)")
            await reject(refusal, header: headerBytes)
            return .refused(refusal)
        }
    }

    /// Switches back to the previous model (a failed probation, or the `rollback` command).
    @discardableResult
    public func rollback(reason: String, figures: [String: Double] = [:], of failing: ModelReference? = nil) async throws(UpdateRefusal) -> ServingModel {
        while busy { try? await Task.sleep(for: .milliseconds(20)) }
        busy = true
        defer { busy = false }
        let from = installer.serving
        if let failing, let serving = try? modelReference(from), serving != failing {
            // Another install switched models while this rollback waited: it was about a model no longer serving.
            logger.notice("rollback of \(failing.name) \(failing.version) not needed: \(from.name) version \(from.version) serves now")
            return from
        }
        let (target, models) = try installer.rollbackTarget()
        try installer.commitRollback(to: target, nowMs: clock())
        let ref: ModelReference
        do { ref = try modelReference(target) } catch { throw UpdateRefusal(.install, "\(error)") }
        _ = await switchboard.switchAndWait(ModelSwitch(models: models, serving: target, reference: ref, probation: nil, reason: "rolled back"))
        let message = "rolled back from \(from.name) version \(from.version) to \(target.name) version \(target.version) (slot \(target.slot.rawValue)): \(reason)"
        logger.warning("\(message)")
        await recordEvent(MonitorEvent(kind: .rolledBack, tsMs: clock(), cause: message,
                                       update: UpdateDetails(name: target.name, version: target.version, previousName: from.name,
                                                             previousVersion: from.version, figures: figures)))
        return target
    }

    /// The loop says the probation ended well.
    func probationPassed(_ message: String, figures: [String: Double]) async {
        do { try installer.endProbation() } catch { logger.error("probation passed but not recorded", metadata: ["error": "\(error)"]) }
        let s = installer.serving
        logger.notice("\(s.name) version \(s.version): \(message)")
        await recordEvent(MonitorEvent(kind: .probationPassed, tsMs: clock(), cause: "\(s.name) version \(s.version): \(message)",
                                       update: UpdateDetails(name: s.name, version: s.version, figures: figures)))
    }

    /// Registers the `rollback` command.
    func register(on dispatcher: CommandDispatcher) async {
        await dispatcher.register("rollback") { [self] _ in
            do {
                let target = try await self.rollback(reason: "requested by the rollback command")
                return .object(["name": .string(target.name), "version": .number(Double(target.version)), "slot": .string(target.slot.rawValue)])
            } catch {
                throw CommandFailure("\(error)")
            }
        }
    }

    func probationReference(canary: CanaryThresholds) -> ProbationReference {
        // The serving model is itself on probation (not proven yet): the new one is held to the same reference.
        if let inherited = installer.record?.probation?.reference { return inherited }
        if let b = switchboard.latestBaseline, b.sqnrDb.count > 0 {
            return ProbationReference(sqnrDb: b.sqnrDb.mean, agreement: b.top1Agree.count > 0 ? b.top1Agree.mean : nil, source: "drift baseline")
        }
        // No baseline yet for the previous model: hold the new one to the canary thresholds.
        let p = installer.policy.probation
        return ProbationReference(sqnrDb: canary.minSQNR + p.marginDb, agreement: canary.minAgreement + p.marginAgreement, source: "canary thresholds")
    }

    func modelReference(_ model: ServingModel) throws -> ModelReference {
        try ModelReference.file(URL(fileURLWithPath: model.int8Path), name: model.name, version: String(model.version))
    }

    func reject(_ refusal: UpdateRefusal, header: [UInt8]) async {
        let manifest = (try? SignedHeader.decode(header)).flatMap { try? Manifest.decode($0.manifestBytes) }
        let what = manifest.map { "\($0.name) version \($0.version)" } ?? "a bundle"
        logger.warning("\(what) refused at \(refusal.step.rawValue): \(refusal.message)")
        await recordEvent(MonitorEvent(kind: .modelRejected, tsMs: clock(), cause: "\(what) refused: \(refusal.message)",
                                       update: UpdateDetails(name: manifest?.name ?? "", version: manifest?.version ?? 0,
                                                             previousName: installer.serving.name, previousVersion: installer.serving.version,
                                                             step: refusal.step.rawValue)))
    }

    func recordEvent(_ event: MonitorEvent) async {
        do { try await buffer.record(windows: [], events: [event], baseline: nil) } catch {
            logger.error("event not stored", metadata: ["kind": "\(event.kind.rawValue)", "error": "\(error)"])
        }
    }

    /// An installed verdict's details (the reply's `details`).
    static func details(name: String, version: Int, message: String, canary: CanaryFigures? = nil) -> JSONValue {
        var o: [String: JSONValue] = ["name": .string(name), "version": .number(Double(version)), "message": .string(message)]
        if let canary, let v = try? JSONValue.encoding(canary) { o["canary"] = v }
        return .object(o)
    }

    static func figures(_ f: CanaryFigures) -> [String: Double] {
        var out = ["frames": Double(f.frames), "sqnr_db": f.meanSQNR, "saturation": f.meanSaturation]
        if let a = f.agreement { out["top1_agree"] = a }
        return out
    }
}
