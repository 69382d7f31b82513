// Real signed bundles through the transfer: the receiver admits them with the real installer (signature,
// manifest, version) before any payload byte, and hands the completed payload to it (hashes, slot, load,
// canary). The daemon's coordinator adds events and the switch; this is the same installer underneath.
import Foundation
import ModelUpdate
import Testing
import TestSupport

/// The installer as the transfer's admission (what the daemon's coordinator does, without events or the switch).
final class InstallerAdmission: UpdateAdmission, @unchecked Sendable {
    let installer: UpdateInstaller
    private let lock = NSLock()
    init(_ installer: UpdateInstaller) { self.installer = installer }

    func admit(header: [UInt8], payloadSize: Int) async throws(UpdateRefusal) -> AdmissionInfo {
        let admitted = lock.withLock { Result { () throws(UpdateRefusal) in try installer.admit(headerBytes: header, payloadSize: payloadSize) } }
        let (manifest, signer) = try admitted.get()
        return AdmissionInfo(name: manifest.name, version: manifest.version, keyID: signer)
    }

    func install(_ completed: CompletedTransfer) async -> UpdateVerdict {
        lock.withLock {
            do throws(UpdateRefusal) {
                let candidate = try installer.prepare(headerBytes: completed.header, payloadPath: completed.payloadPath)
                _ = try installer.commit(candidate, reference: ProbationReference(sqnrDb: 30, agreement: 1, source: "test"), nowMs: 1_000)
                return .installed(details: .object(["slot": .string(candidate.serving.slot.rawValue), "version": .number(Double(candidate.serving.version))]))
            } catch {
                return .refused(error)
            }
        }
    }
}

@Suite struct SignedTransferTests {
    /// Sends every chunk of `bundle` to `receiver` after `update_begin`; returns the begin's answer.
    func transfer(_ bundle: [UInt8], to receiver: TransferReceiver, chunkSize: Int = 16 << 10) async throws -> TransferProgress {
        let plan = try UpdateBegin.plan(bundle: bundle, chunkSize: chunkSize)
        let started = try await receiver.begin(plan.begin, replyID: .string("push-1"))
        for i in 0..<plan.begin.chunkCount {
            let r = plan.begin.range(of: i)
            try await receiver.receive(chunk: ChunkFrame(transfer: plan.begin.transfer, index: i,
                                                         bytes: bundle[(plan.payloadOffset + r.lowerBound)..<(plan.payloadOffset + r.upperBound)]).encoded)
        }
        await receiver.waitForCompletion()
        return started
    }

    @Test func aSignedBundleSentInChunksIsAdmittedByItsSignatureAndInstalledIntoTheInactiveSlot() async throws {
        let device = try Device()
        defer { device.remove() }
        let bundle = Array(try Data(contentsOf: URL(fileURLWithPath: try device.bundle(version: 2).path)))
        let log = EventLog()
        let receiver = TransferReceiver(settings: TransferSettings(stateDirectory: device.dir + "/state"), admission: InstallerAdmission(device.installer),
                                        onEvent: { await log.append($0) })
        let started = try await transfer(bundle, to: receiver)
        #expect(started.admission?.name == "patches" && started.admission?.version == 2 && started.admission?.keyID?.count == 16)
        let verdict = try #require(await log.events.last?.progress)
        #expect(verdict.state == .installed, "\(verdict.refusal.map { "\($0)" } ?? "")")
        #expect(verdict.details?["slot"]?.string == "a")
        #expect(device.installer.serving.slot == .a && device.installer.serving.version == 2)
        #expect(device.restarted().serving.version == 2)
    }

    @Test func anUntrustedKeyOrAnOlderVersionIsRefusedAtTheBeginWithNoPayloadWritten() async throws {
        let device = try Device()
        defer { device.remove() }
        let receiver = TransferReceiver(settings: TransferSettings(stateDirectory: device.dir + "/state"), admission: InstallerAdmission(device.installer))
        let stranger = Array(try Data(contentsOf: URL(fileURLWithPath: try UpdateFixtures.bundle(in: device.dir, version: 2).path)))   // a key of its own
        let untrusted = await #expect(throws: UpdateRefusal.self) { _ = try await transfer(stranger, to: receiver) }
        #expect(untrusted?.step == .signature)
        let older = Array(try Data(contentsOf: URL(fileURLWithPath: try device.bundle(version: 1).path)))
        let version = await #expect(throws: UpdateRefusal.self) { _ = try await transfer(older, to: receiver) }
        #expect(version?.step == .version && version?.message.contains("not newer") == true)
        let left = (try? FileManager.default.contentsOfDirectory(atPath: device.dir + "/state/transfer")) ?? []
        #expect(left.isEmpty, "a refused begin left \(left)")
        #expect(device.installer.serving.version == 1)
    }

    @Test func aBundleWithOneFlippedByteInAModelArrivesWholeAndIsRefusedAtTheHashes() async throws {
        let device = try Device()
        defer { device.remove() }
        let file = try device.bundle(version: 3)
        var bundle = Array(try Data(contentsOf: URL(fileURLWithPath: file.path)))
        bundle[file.payloadOffset + 1000] ^= 0x40   // inside the int8 model; the transfer id and chunk hashes are of this file
        let log = EventLog()
        let receiver = TransferReceiver(settings: TransferSettings(stateDirectory: device.dir + "/state"), admission: InstallerAdmission(device.installer),
                                        onEvent: { await log.append($0) })
        _ = try await transfer(bundle, to: receiver)
        let verdict = try #require(await log.events.last?.progress)
        #expect(verdict.state == .refused && verdict.refusal?.step == .hashes, "\(verdict.refusal.map { "\($0)" } ?? "none")")
        #expect(device.installer.serving.version == 1)
    }
}
