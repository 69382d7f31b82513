import Documents
import Foundation
@testable import ModelUpdate
import Testing
import TestSupport

func makeBundle(payloadSize: Int, seed: UInt64 = 1) -> [UInt8] { TransferBundle.make(payloadSize: payloadSize, seed: seed) }

/// Accepts any header and records what it was asked to install (the real checks are the bundle
/// verifier's, tested with it); `refuse` makes admission refuse at the signature step.
final class RecordingAdmission: UpdateAdmission, @unchecked Sendable {
    private let lock = NSLock()
    private var _admitted = 0
    private var _installed: [(CompletedTransfer, [UInt8])] = []
    let refuse: Bool
    init(refuse: Bool = false) { self.refuse = refuse }

    var admitted: Int { lock.withLock { _admitted } }
    var installed: [(CompletedTransfer, [UInt8])] { lock.withLock { _installed } }

    func admit(header: [UInt8], payloadSize: Int) async throws(UpdateRefusal) -> AdmissionInfo {
        lock.withLock { _admitted += 1 }
        if refuse { throw UpdateRefusal(.signature, "no trusted key signed this manifest (test)") }
        return AdmissionInfo(name: "transfer-test", version: 2, keyID: "0123456789abcdef")
    }

    func install(_ completed: CompletedTransfer) async -> UpdateVerdict {
        let payload = (try? Data(contentsOf: URL(fileURLWithPath: completed.payloadPath))).map(Array.init) ?? []
        lock.withLock { _installed.append((completed, payload)) }
        return .installed(details: .object(["version": .number(2)]))
    }
}

/// The receiver's events, in order.
actor EventLog {
    private(set) var events: [TransferEvent] = []
    func append(_ e: TransferEvent) { events.append(e) }
}

/// A settable clock (Unix seconds).
final class TestClock: @unchecked Sendable {
    private let lock = NSLock()
    private var now: Double
    init(_ start: Double = Date().timeIntervalSince1970) { now = start }
    func advance(_ seconds: Double) { lock.withLock { now += seconds } }
    var read: @Sendable () -> Double { { [self] in lock.withLock { now } } }
}

@Suite struct TransferReceiverTests {
    let directory: URL
    init() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("qw-transfer-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    }

    func settings(maxBundleBytes: Int = 64 << 20, expiry: Double = 3600) -> TransferSettings {
        TransferSettings(stateDirectory: directory.path, maxBundleBytes: maxBundleBytes, expirySeconds: expiry)
    }

    func chunk(_ bundle: [UInt8], _ plan: (begin: UpdateBegin, payloadOffset: Int), _ index: Int) -> [UInt8] {
        let r = plan.begin.range(of: index)
        return ChunkFrame(transfer: plan.begin.transfer, index: index, bytes: bundle[(plan.payloadOffset + r.lowerBound)..<(plan.payloadOffset + r.upperBound)]).encoded
    }

    var transferDirectories: [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: directory.path + "/transfer")) ?? []).filter { $0 != "verdict.json" }
    }

    @Test func chunksInAnyOrderWithResendsArriveAsTheExactPayloadAndTheVerdictIsReported() async throws {
        defer { try? FileManager.default.removeItem(at: directory) }
        let bundle = makeBundle(payloadSize: 300_000)
        let plan = try UpdateBegin.plan(bundle: bundle, chunkSize: 4096)
        let admission = RecordingAdmission(), log = EventLog()
        var every = settings()
        every.progressInterval = 0   // a progress event per chunk (1 s apart by default)
        let receiver = TransferReceiver(settings: every, admission: admission, onEvent: { await log.append($0) })
        let started = try await receiver.begin(plan.begin, replyID: .string("p1"))
        #expect(started.state == .receiving && started.received == 0 && started.total == 74)
        #expect(started.missing == [0...73] && started.admission?.version == 2)
        var order = Array(0..<plan.begin.chunkCount).reversed() + [5, 6, 7]   // reversed, then three resends
        order.swapAt(0, 40)
        var outcomes: [ChunkOutcome] = []
        for i in order { outcomes.append(try await receiver.receive(chunk: chunk(bundle, plan, i))) }
        #expect(outcomes.filter { $0 == .completed }.count == 1)
        #expect(outcomes.suffix(3).allSatisfy { $0 == .duplicate })
        await receiver.waitForCompletion()
        let installed = try #require(admission.installed.first)
        #expect(admission.installed.count == 1)
        #expect(installed.1 == Array(bundle[plan.payloadOffset...]), "the payload handed to install differs from the bundle's")
        #expect(installed.0.header == plan.begin.header && installed.0.payloadSize == 300_000)
        let events = await log.events
        let states = events.map(\.progress.state)
        #expect(states.filter { $0 == .receiving }.count == 73 && states.suffix(2) == [.verifying, .installed])
        #expect(events.first?.progress.received == 1 && events.first?.progress.total == 74)
        #expect(events.allSatisfy { $0.replyID == .string("p1") })
        #expect(transferDirectories.isEmpty, "the finished transfer's directory stays: \(transferDirectories)")
        // The same push asking again hears its verdict; the status of it too.
        #expect(try await receiver.begin(plan.begin, replyID: .string("p1")).state == .installed)
        #expect(try await receiver.status(transfer: plan.begin.transfer).state == .installed)
        #expect(admission.admitted == 1)
    }

    @Test func aChunkWhoseHashDoesNotMatchIsDroppedAndAskedForAgain() async throws {
        defer { try? FileManager.default.removeItem(at: directory) }
        let bundle = makeBundle(payloadSize: 10_000)
        let plan = try UpdateBegin.plan(bundle: bundle, chunkSize: 4096)
        let receiver = TransferReceiver(settings: settings(), admission: RecordingAdmission())
        _ = try await receiver.begin(plan.begin, replyID: .number(1))
        var bad = chunk(bundle, plan, 1)
        bad[ChunkFrame.overhead + 100] ^= 0x01
        let refusal = await #expect(throws: UpdateRefusal.self) { try await receiver.receive(chunk: bad) }
        #expect(refusal?.step == .transfer && refusal?.message.contains("chunk 1") == true && refusal?.message.contains("dropped") == true)
        try await receiver.receive(chunk: chunk(bundle, plan, 0))
        let status = try await receiver.status(transfer: plan.begin.transfer)
        #expect(status.received == 1 && status.missing == [1...2])
        // The bad bytes were not written: the payload file holds zeros where chunk 1 goes.
        let payload = try Data(contentsOf: directory.appendingPathComponent("transfer/\(plan.begin.transfer.hex)/payload"))
        #expect(payload[4096..<8192].allSatisfy { $0 == 0 })
        // A chunk of the wrong length is dropped too.
        let short = Array(chunk(bundle, plan, 1).dropLast())
        await #expect(throws: UpdateRefusal.self) { try await receiver.receive(chunk: short) }
    }

    @Test func aNewReceiverOnTheSameDirectoryFindsTheChunksOnDiskAndResumes() async throws {
        defer { try? FileManager.default.removeItem(at: directory) }
        let bundle = makeBundle(payloadSize: 100_000)
        let plan = try UpdateBegin.plan(bundle: bundle, chunkSize: 1024)
        let admission = RecordingAdmission()
        let first = TransferReceiver(settings: settings(), admission: admission)
        _ = try await first.begin(plan.begin, replyID: .string("a"))
        for i in stride(from: 0, to: plan.begin.chunkCount, by: 2) { try await first.receive(chunk: chunk(bundle, plan, i)) }
        await first.close()   // the device stops (killed or restarted)

        let second = TransferReceiver(settings: settings(), admission: admission)
        try await second.start()
        let found = try #require(await second.current)
        #expect(found.state == .receiving && found.received == 49 && found.total == 98)
        // The pusher sends the begin again (a new push id): the answer is what is still missing.
        let resumed = try await second.begin(plan.begin, replyID: .string("b"))
        #expect(resumed.received == 49 && resumed.missing.count == 49 && resumed.missing.first == 1...1)
        #expect(admission.admitted == 1, "resuming does not admit the header again")
        for r in resumed.missing { for i in r { try await second.receive(chunk: chunk(bundle, plan, i)) } }
        await second.waitForCompletion()
        #expect(admission.installed.count == 1 && admission.installed.first?.1 == Array(bundle[plan.payloadOffset...]))
    }

    @Test func aCompleteTransferFoundAtStartIsVerifiedAndInstalled() async throws {
        defer { try? FileManager.default.removeItem(at: directory) }
        let bundle = makeBundle(payloadSize: 5000)
        let plan = try UpdateBegin.plan(bundle: bundle, chunkSize: 1024)
        let never = NeverFinishingAdmission()
        let first = TransferReceiver(settings: settings(), admission: never)
        _ = try await first.begin(plan.begin, replyID: .string("a"))
        for i in 0..<plan.begin.chunkCount { try await first.receive(chunk: chunk(bundle, plan, i)) }
        // Killed while verifying: the files stay; the next start verifies them.
        let admission = RecordingAdmission(), log = EventLog()
        let second = TransferReceiver(settings: settings(), admission: admission, onEvent: { await log.append($0) })
        try await second.start()
        await second.waitForCompletion()
        #expect(admission.installed.count == 1)
        let last = await log.events.last
        #expect(last?.progress.state == .installed && last?.replyID == .string("a"))
    }

    @Test func aStalePartialTransferExpiresAndAnotherMayBegin() async throws {
        defer { try? FileManager.default.removeItem(at: directory) }
        let clock = TestClock()
        let a = try UpdateBegin.plan(bundle: makeBundle(payloadSize: 5000, seed: 1), chunkSize: 1024)
        let b = try UpdateBegin.plan(bundle: makeBundle(payloadSize: 5000, seed: 2), chunkSize: 1024)
        let receiver = TransferReceiver(settings: settings(expiry: 600), admission: RecordingAdmission(), clock: clock.read)
        _ = try await receiver.begin(a.begin, replyID: .string("a"))
        clock.advance(599)
        #expect(await receiver.expireStale() == nil)
        clock.advance(2)
        #expect(await receiver.expireStale() == a.begin.transfer)
        #expect(transferDirectories.isEmpty)
        #expect(try await receiver.status(transfer: a.begin.transfer).state == .idle)
        // Expiry is also checked when a begin arrives.
        _ = try await receiver.begin(a.begin, replyID: .string("a"))
        clock.advance(601)
        #expect(try await receiver.begin(b.begin, replyID: .string("b")).state == .receiving)
        #expect(transferDirectories == [b.begin.transfer.hex])
    }

    @Test func aSecondTransferIsRefusedAsBusyNamingTheActiveOneAndTheSameOneIsIdempotent() async throws {
        defer { try? FileManager.default.removeItem(at: directory) }
        let bundleA = makeBundle(payloadSize: 5000, seed: 1)
        let a = try UpdateBegin.plan(bundle: bundleA, chunkSize: 1024)
        let b = try UpdateBegin.plan(bundle: makeBundle(payloadSize: 5000, seed: 2), chunkSize: 1024)
        let admission = RecordingAdmission()
        let receiver = TransferReceiver(settings: settings(), admission: admission)
        _ = try await receiver.begin(a.begin, replyID: .string("a"))
        try await receiver.receive(chunk: chunk(bundleA, a, 2))
        let busy = await #expect(throws: UpdateRefusal.self) { try await receiver.begin(b.begin, replyID: .string("b")) }
        #expect(busy?.step == .transfer && busy?.message.hasPrefix("busy: transfer \(a.begin.transfer)") == true)
        #expect(busy?.message.contains("1/5 chunks") == true)
        let again = try await receiver.begin(a.begin, replyID: .string("a"))
        #expect(again.state == .receiving && again.received == 1 && again.missing == [0...1, 3...4])
        #expect(admission.admitted == 1)
    }

    @Test func thePayloadAndTheFreeDiskAreBoundedBeforeAnythingIsWritten() async throws {
        defer { try? FileManager.default.removeItem(at: directory) }
        let plan = try UpdateBegin.plan(bundle: makeBundle(payloadSize: 3 << 20), chunkSize: 65536)
        let admission = RecordingAdmission()
        let small = TransferReceiver(settings: settings(maxBundleBytes: 2 << 20), admission: admission)
        let tooBig = await #expect(throws: UpdateRefusal.self) { try await small.begin(plan.begin, replyID: .string("x")) }
        #expect(tooBig?.message.contains("at most 2.0 MiB (update.max_bundle_mb)") == true)
        #expect(admission.admitted == 0 && transferDirectories.isEmpty)

        let full = TransferReceiver(settings: settings(), admission: admission, freeSpace: { _ in 5 << 20 })
        let noDisk = await #expect(throws: UpdateRefusal.self) { try await full.begin(plan.begin, replyID: .string("x")) }
        #expect(noDisk?.message.hasPrefix("not enough disk: 5.0 MiB free") == true)
        #expect(transferDirectories.isEmpty)
        // The real filesystem's free space is read (statvfs).
        #expect((TransferReceiver.availableBytes(directory.path) ?? 0) > 0)
    }

    @Test func aRefusedHeaderWritesNoPayload() async throws {
        defer { try? FileManager.default.removeItem(at: directory) }
        let plan = try UpdateBegin.plan(bundle: makeBundle(payloadSize: 5000), chunkSize: 1024)
        let receiver = TransferReceiver(settings: settings(), admission: RecordingAdmission(refuse: true))
        let refusal = await #expect(throws: UpdateRefusal.self) { try await receiver.begin(plan.begin, replyID: .string("x")) }
        #expect(refusal?.step == .signature)
        #expect(transferDirectories.isEmpty)
        #expect(try await receiver.status(transfer: nil).state == .idle)
    }

    @Test func abortDeletesThePartialTransfer() async throws {
        defer { try? FileManager.default.removeItem(at: directory) }
        let bundle = makeBundle(payloadSize: 5000)
        let plan = try UpdateBegin.plan(bundle: bundle, chunkSize: 1024)
        let receiver = TransferReceiver(settings: settings(), admission: RecordingAdmission())
        _ = try await receiver.begin(plan.begin, replyID: .string("x"))
        try await receiver.receive(chunk: chunk(bundle, plan, 0))
        let other = TransferID(hex: String(repeating: "ab", count: 16))!
        await #expect(throws: UpdateRefusal.self) { try await receiver.abort(transfer: other) }
        #expect(try await receiver.abort(transfer: plan.begin.transfer).state == .aborted)
        #expect(transferDirectories.isEmpty)
        let late = await #expect(throws: UpdateRefusal.self) { try await receiver.receive(chunk: chunk(bundle, plan, 1)) }
        #expect(late?.message.contains("no such transfer under way") == true)
    }

    @Test func aHeaderThatIsNotTheBundlesIsRefusedWhenTheWholeDoesNotHashToTheTransferID() async throws {
        defer { try? FileManager.default.removeItem(at: directory) }
        let bundle = makeBundle(payloadSize: 3000)
        var plan = try UpdateBegin.plan(bundle: bundle, chunkSize: 1024)
        plan.begin.header = Array(#"{"manifest":"e30=","signatures":[]}"#.utf8)
        let admission = RecordingAdmission(), log = EventLog()
        let receiver = TransferReceiver(settings: settings(), admission: admission, onEvent: { await log.append($0) })
        _ = try await receiver.begin(plan.begin, replyID: .string("x"))
        for i in 0..<plan.begin.chunkCount { try await receiver.receive(chunk: chunk(bundle, plan, i)) }
        await receiver.waitForCompletion()
        #expect(admission.installed.isEmpty)
        let events = await log.events
        let verdict = try #require(events.last?.progress)
        #expect(verdict.state == .refused && verdict.refusal?.step == .transfer && verdict.refusal?.message.contains("not the transfer id") == true)
    }

    @Test func malformedMessagesAreRefusedNamingWhatIsWrong() async throws {
        defer { try? FileManager.default.removeItem(at: directory) }
        func refusal(_ body: () throws -> Void) -> String {
            do { try body(); return "accepted" } catch let refusal as UpdateRefusal { return refusal.message } catch { return "\(error)" }
        }
        #expect(refusal { _ = try ChunkFrame(decoding: Array("{\"id\":1}".utf8)) }.contains("is 8 bytes"))
        #expect(refusal { _ = try ChunkFrame(decoding: Array(repeating: 0x41, count: 40)) }.contains("does not start with \"QWCK\""))
        #expect(refusal { _ = try UpdateBegin(json: Array("not json".utf8)) }.contains("not JSON"))
        #expect(refusal { _ = try UpdateBegin(json: Array(#"{"id":1,"transfer":"xyz"}"#.utf8)) }.contains("'xyz' is not 32 hex digits"))
        let t = String(repeating: "0", count: 32)
        #expect(refusal { _ = try UpdateBegin(json: Array(#"{"id":1,"transfer":"\#(t)"}"#.utf8)) }.contains("lacks \"bundle\""))
        let base = #"{"id":1,"transfer":"\#(t)","bundle":{"manifest":"e30="},"payload_size":5000,"chunk_size":"#
        #expect(refusal { _ = try UpdateBegin(json: Array((base + #"100,"chunks":[]}"#).utf8)) }.contains("1024 … 1048576"))
        #expect(refusal { _ = try UpdateBegin(json: Array((base + #"1024,"chunks":["00"]}"#).utf8)) }.contains("make 5"))
        let hashes = Array(repeating: "\"0123456789abcdef\"", count: 4) + ["\"XYZ\""]
        #expect(refusal { _ = try UpdateBegin(json: Array((base + "1024,\"chunks\":[\(hashes.joined(separator: ","))]}").utf8)) }.contains("chunks[4]"))
        // A well-formed begin keeps the header's bytes exactly, whitespace and key order included.
        let header = #"{ "signatures": [], "manifest" : "e30=" }"#
        let ok = #"{"transfer":"\#(t)","bundle":\#(header),"id":"z","payload_size":5000,"chunk_size":1024,"chunks":[\#(Array(repeating: "\"0123456789abcdef\"", count: 5).joined(separator: ","))]}"#
        let begin = try UpdateBegin(json: Array(ok.utf8))
        #expect(String(decoding: begin.header, as: UTF8.self) == header)
        #expect(try UpdateBegin(json: begin.json(id: .string("z"))) == begin)
        // A chunk for a transfer nobody began.
        let receiver = TransferReceiver(settings: settings(), admission: RecordingAdmission())
        let stray = ChunkFrame(transfer: TransferID(hex: t)!, index: 0, bytes: [1, 2, 3]).encoded
        let unknown = await #expect(throws: UpdateRefusal.self) { try await receiver.receive(chunk: stray) }
        #expect(unknown?.message.contains("send update_begin first") == true)
    }
}

/// An installer that never returns (a device killed while verifying).
struct NeverFinishingAdmission: UpdateAdmission {
    func admit(header: [UInt8], payloadSize: Int) async throws(UpdateRefusal) -> AdmissionInfo { AdmissionInfo(name: "x", version: 1) }
    func install(_ completed: CompletedTransfer) async -> UpdateVerdict {
        while !Task.isCancelled { try? await Task.sleep(for: .seconds(3600)) }
        return .refused(UpdateRefusal(.install, "cancelled"))
    }
}
