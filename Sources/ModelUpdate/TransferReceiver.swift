// The device's end of a bundle transfer (docs/model-updates.md, "Transfer over MQTT"): one transfer at a
// time in `<state>/transfer/<transfer>/` — `header` (the envelope's exact bytes), `transfer.json` (the
// begin: sizes, chunk hashes, the command id progress replies carry, what admission said) and `payload`
// (preallocated, each chunk written in place at index × chunk_size). Chunks are checked against their
// hashes as they arrive; on a restart the received set is found again by hashing the payload's chunks.
// No MQTT, no SQLite: the daemon carries the messages (`UpdateCommands`) and the admission decides.
import Crypto
import Documents
import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Where and how much.
public struct TransferSettings: Sendable, Equatable {
    /// `update.state_dir`: transfers go to `<stateDirectory>/transfer/`.
    public var stateDirectory: String
    /// `update.max_bundle_mb` in bytes: the largest payload accepted.
    public var maxBundleBytes: Int
    /// `update.transfer_expiry_s`: a partial transfer with no new chunk for this long is deleted.
    public var expirySeconds: Double
    /// Progress replies while receiving, at most one per this many seconds.
    public var progressInterval: Double = 1

    public init(stateDirectory: String, maxBundleBytes: Int = 64 << 20, expirySeconds: Double = 3600) {
        self.stateDirectory = stateDirectory
        self.maxBundleBytes = maxBundleBytes
        self.expirySeconds = expirySeconds
    }

    public var transferDirectory: String { stateDirectory + "/transfer" }
}

/// A progress or verdict reply to send on `reply/update`, with the `update_begin` command's id.
public struct TransferEvent: Sendable, Equatable {
    public var replyID: CommandID?
    public var progress: TransferProgress
}

/// What became of one `update_chunk`.
public enum ChunkOutcome: Sendable, Equatable {
    /// Written; `received` of `total` now.
    case stored(received: Int, total: Int)
    /// Already had it (a resend), or the transfer is complete (being verified, or finished).
    case duplicate
    /// The last missing chunk: verification and install have started.
    case completed
}

public actor TransferReceiver {
    public nonisolated let settings: TransferSettings
    let admission: any UpdateAdmission
    let clock: @Sendable () -> Double
    let onEvent: @Sendable (TransferEvent) async -> Void
    /// Bytes free for us on the filesystem of a path (statvfs), nil when unknown.
    let freeSpace: @Sendable (String) -> Int?

    /// The transfer under way.
    final class Active {
        let begin: UpdateBegin
        let directory: String
        var replyID: CommandID?
        var admission: AdmissionInfo?
        /// `payload`, open for reading and writing (-1 once closed).
        var descriptor: Int32
        var received: [Bool]
        var receivedCount = 0
        var bytesReceived = 0
        /// Unix seconds of the last chunk (or the begin).
        var lastActivity: Double
        var verifying = false

        init(begin: UpdateBegin, directory: String, replyID: CommandID?, admission: AdmissionInfo?, descriptor: Int32, lastActivity: Double) {
            self.begin = begin
            self.directory = directory
            self.replyID = replyID
            self.admission = admission
            self.descriptor = descriptor
            self.received = Array(repeating: false, count: begin.chunkCount)
            self.lastActivity = lastActivity
        }

        func mark(_ index: Int) {
            guard !received[index] else { return }
            received[index] = true
            receivedCount += 1
            bytesReceived += begin.range(of: index).count
        }

        var isComplete: Bool { receivedCount == begin.chunkCount }

        deinit { close() }

        func close() {
            if descriptor >= 0 { Glibc.close(descriptor) }
            descriptor = -1
        }
    }

    /// The last verdict, kept (in `verdict.json`) so a pusher that lost it hears it again.
    struct StoredVerdict: Codable, Equatable {
        var transfer: TransferID
        var replyID: CommandID?
        var state: TransferState
        var step: UpdateStep?
        var reason: String?
        var details: JSONValue?
        var admission: AdmissionInfo?
        var total: Int
        var payloadSize: Int

        enum CodingKeys: String, CodingKey { case transfer, replyID = "id", state, step, reason, details, admission, total, payloadSize = "payload_size" }
    }

    /// What `transfer.json` holds.
    struct Record: Codable {
        var transfer: TransferID
        var payloadSize: Int
        var chunkSize: Int
        var chunks: [String]
        var replyID: CommandID?
        var admission: AdmissionInfo?

        enum CodingKeys: String, CodingKey { case transfer, payloadSize = "payload_size", chunkSize = "chunk_size", chunks, replyID = "id", admission }
    }

    private var active: Active?
    /// A header under admission (admission awaits: another begin meanwhile is busy).
    private var admitting: TransferID?
    private var lastVerdict: StoredVerdict?
    private var loaded = false
    private var lastProgress = -Double.infinity
    private var completion: Task<Void, Never>?
    private var closed = false

    /// - Parameters:
    ///   - clock: Unix time in seconds (expiry compares it with file modification times across restarts).
    ///   - onEvent: progress and verdicts for `reply/update`, in order.
    ///   - freeSpace: bytes available on the filesystem of a path (default: statvfs's f_bavail × f_frsize).
    public init(settings: TransferSettings, admission: any UpdateAdmission,
                clock: @escaping @Sendable () -> Double = { Date().timeIntervalSince1970 },
                freeSpace: @escaping @Sendable (String) -> Int? = TransferReceiver.availableBytes,
                onEvent: @escaping @Sendable (TransferEvent) async -> Void = { _ in }) {
        self.settings = settings
        self.admission = admission
        self.clock = clock
        self.freeSpace = freeSpace
        self.onEvent = onEvent
    }

    /// Bytes available to an unprivileged writer on the filesystem holding `path`.
    public static func availableBytes(_ path: String) -> Int? {
        var fs = statvfs()
        guard statvfs(path, &fs) == 0 else { return nil }
        return Int(fs.f_bavail) * Int(fs.f_frsize)
    }

    // MARK: - Commands

    /// `update_begin`: admits the header and starts a transfer, or answers what is still missing of the
    /// same one (idempotent: a pusher resuming after a restart sends it again).
    public func begin(_ begin: UpdateBegin, replyID: CommandID?) async throws(UpdateRefusal) -> TransferProgress {
        try load()
        expireIfStale()
        if let active {
            guard active.begin.transfer == begin.transfer else {
                let idle = Int(clock() - active.lastActivity)
                throw UpdateRefusal(.transfer, "busy: transfer \(active.begin.transfer) is under way (\(active.receivedCount)/\(active.begin.chunkCount) chunks, "
                    + (active.verifying ? "verifying" : "last chunk \(idle) s ago; it expires after \(Int(settings.expirySeconds)) s without one") + "); "
                    + "abort it with update_abort or wait")
            }
            guard active.begin == begin else {
                throw UpdateRefusal(.transfer, "update_begin for \(begin.transfer) differs from the one under way (header, sizes or chunk hashes); abort it first")
            }
            if active.replyID != replyID {
                active.replyID = replyID
                try? writeRecord(active)
            }
            return progress(of: active, listMissing: true)
        }
        if let admitting {
            throw UpdateRefusal(.transfer, "busy: the header of transfer \(admitting) is being checked")
        }
        if let verdict = lastVerdict, verdict.transfer == begin.transfer, verdict.replyID == replyID {
            return progress(of: verdict)   // the same push asking again: its verdict
        }
        guard begin.payloadSize <= settings.maxBundleBytes else {
            throw UpdateRefusal(.transfer, "the payload is \(mebibytes(begin.payloadSize)) MiB; this device takes at most \(mebibytes(settings.maxBundleBytes)) MiB (update.max_bundle_mb)")
        }
        admitting = begin.transfer
        defer { admitting = nil }
        let info = try await admission.admit(header: begin.header, payloadSize: begin.payloadSize)
        let started = try create(begin, replyID: replyID, admission: info)
        active = started
        lastProgress = clock()
        return progress(of: started, listMissing: true)
    }

    /// `update_chunk`: checks the chunk against its hash and writes it in place. A bad or unexpected
    /// chunk is dropped, and the refusal says why (the pusher sends it again when asked).
    @discardableResult
    public func receive(chunk message: [UInt8]) async throws(UpdateRefusal) -> ChunkOutcome {
        let frame = try ChunkFrame(decoding: message)
        try load()
        guard let active, active.begin.transfer == frame.transfer else {
            if lastVerdict?.transfer == frame.transfer { return .duplicate }   // late resends of a finished transfer
            throw UpdateRefusal(.transfer, "chunk \(frame.index) of transfer \(frame.transfer): no such transfer under way ("
                + (active.map { "\($0.begin.transfer) is" } ?? "none is") + "); send update_begin first")
        }
        if active.verifying { return .duplicate }
        let begin = active.begin
        guard frame.index < begin.chunkCount else {
            throw UpdateRefusal(.transfer, "chunk index \(frame.index) of \(frame.transfer) is out of range; it has \(begin.chunkCount) chunks (0 … \(begin.chunkCount - 1))")
        }
        let range = begin.range(of: frame.index)
        guard frame.bytes.count == range.count else {
            throw UpdateRefusal(.transfer, "chunk \(frame.index) of \(frame.transfer) is \(frame.bytes.count) bytes; expected \(range.count); dropped")
        }
        active.lastActivity = clock()
        if active.received[frame.index] { return .duplicate }
        let hash = frame.bytes.withUnsafeBytes { ChunkHash.of($0) }
        guard hash == begin.chunks[frame.index] else {
            throw UpdateRefusal(.transfer, "chunk \(frame.index) of \(frame.transfer) hashes to \(hash); update_begin listed \(begin.chunks[frame.index]); dropped")
        }
        try write(frame.bytes, at: range.lowerBound, to: active)
        active.mark(frame.index)
        if active.isComplete {
            active.verifying = true
            await onEvent(TransferEvent(replyID: active.replyID, progress: progress(of: active, listMissing: false)))
            startCompletion(active)
            return .completed
        }
        let now = clock()
        if now - lastProgress >= settings.progressInterval {
            lastProgress = now
            await onEvent(TransferEvent(replyID: active.replyID, progress: progress(of: active, listMissing: false)))
        }
        return .stored(received: active.receivedCount, total: begin.chunkCount)
    }

    /// `update_status`: the transfer under way (any, when `transfer` is nil), the verdict of a finished
    /// one, or `idle`.
    public func status(transfer: TransferID?) throws(UpdateRefusal) -> TransferProgress {
        try load()
        expireIfStale()
        if let active, transfer == nil || transfer == active.begin.transfer { return progress(of: active, listMissing: true) }
        if let verdict = lastVerdict, verdict.transfer == transfer { return progress(of: verdict) }
        return TransferProgress(transfer: transfer, state: .idle)
    }

    /// `update_abort`: deletes the transfer under way (not one being verified).
    public func abort(transfer: TransferID) throws(UpdateRefusal) -> TransferProgress {
        try load()
        guard let active, active.begin.transfer == transfer else {
            throw UpdateRefusal(.transfer, "no transfer \(transfer) under way" + (active.map { "; \($0.begin.transfer) is" } ?? "; none is"))
        }
        guard !active.verifying else {
            throw UpdateRefusal(.transfer, "transfer \(transfer) is complete and being verified; it cannot be aborted now")
        }
        discard(active)
        return TransferProgress(transfer: transfer, state: .aborted)
    }

    /// Deletes the transfer under way when no chunk came for `expirySeconds`; returns its id.
    @discardableResult
    public func expireStale() -> TransferID? {
        guard (try? load()) != nil else { return nil }
        return expireIfStale()
    }

    /// Loads what a previous run left and, when a transfer had arrived completely, verifies and installs
    /// it (its verdict goes out as an event). Call once at start; the commands also load on first use.
    public func start() throws(UpdateRefusal) {
        try load()
        expireIfStale()
        if let active, active.isComplete, !active.verifying {
            active.verifying = true
            startCompletion(active)
        }
    }

    /// The transfer under way now, if any.
    public var current: TransferProgress? { active.map { progress(of: $0, listMissing: false) } }

    /// Waits for a running verification and install to end (tests, shutdown).
    public func waitForCompletion() async { await completion?.value }

    /// Closes the payload file (a new receiver on the same directory may then take over). A verification
    /// under way records no verdict after this: the next start verifies the transfer again.
    public func close() {
        closed = true
        active?.close()
    }

    // MARK: - Progress

    func progress(of active: Active, listMissing: Bool) -> TransferProgress {
        var p = TransferProgress(transfer: active.begin.transfer, state: active.verifying ? .verifying : .receiving)
        p.received = active.receivedCount
        p.total = active.begin.chunkCount
        p.bytesReceived = active.bytesReceived
        p.payloadSize = active.begin.payloadSize
        p.admission = active.admission
        if listMissing, !active.verifying {
            var ranges: [ClosedRange<Int>] = []
            var start: Int?
            for (i, have) in active.received.enumerated() {
                if have, let s = start { ranges.append(s...(i - 1)); start = nil } else if !have, start == nil { start = i }
            }
            if let s = start { ranges.append(s...(active.received.count - 1)) }
            p.missing = Array(ranges.prefix(TransferProgress.maxRanges))
            p.moreMissing = ranges.count > TransferProgress.maxRanges
        }
        return p
    }

    func progress(of verdict: StoredVerdict) -> TransferProgress {
        var p = TransferProgress(transfer: verdict.transfer, state: verdict.state)
        p.total = verdict.total
        p.received = verdict.state == .installed ? verdict.total : 0
        p.payloadSize = verdict.payloadSize
        p.bytesReceived = verdict.state == .installed ? verdict.payloadSize : 0
        p.admission = verdict.admission
        if let step = verdict.step { p.refusal = UpdateRefusal(step, verdict.reason ?? "") }
        p.details = verdict.details
        return p
    }

    // MARK: - Completion

    private func startCompletion(_ active: Active) {
        completion = Task { await self.complete(active) }
    }

    /// Syncs the payload, checks the whole bundle against the transfer id, hands it to the installer,
    /// records the verdict, deletes the transfer's directory, and reports. The syncing and hashing run off
    /// the actor (chunks and status requests are answered meanwhile).
    private func complete(_ active: Active) async {
        let begin = active.begin, directory = active.directory
        var verdict: UpdateVerdict
        if let refusal = await Self.syncAndCheck(begin: begin, descriptor: active.descriptor, directory: directory) {
            verdict = .refused(refusal)
        } else {
            let completed = CompletedTransfer(transfer: begin.transfer, directory: directory, header: begin.header,
                                              payloadPath: directory + "/payload", payloadSize: begin.payloadSize, admission: active.admission)
            verdict = await admission.install(completed)
        }
        // Closed meanwhile (the daemon stops): nothing is recorded; the next start verifies it again.
        guard !closed else { return }
        var stored = StoredVerdict(transfer: begin.transfer, replyID: active.replyID, state: verdict.state, total: begin.chunkCount,
                                   payloadSize: begin.payloadSize)
        stored.admission = active.admission
        switch verdict {
        case let .installed(details): stored.details = details
        case let .refused(refusal):
            stored.step = refusal.step
            stored.reason = refusal.message
        }
        lastVerdict = stored
        if let data = try? JSONEncoder().encode(stored) { try? Self.writeAtomically(Array(data), to: settings.transferDirectory + "/verdict.json") }
        if self.active === active { discard(active) }
        await onEvent(TransferEvent(replyID: stored.replyID, progress: progress(of: stored)))
    }

    /// fsync of the payload and its directory; then the SHA-256 of "QWBUNDLE", the header length, the
    /// header and the payload (read through its own descriptor) must begin with the transfer id (the
    /// pusher computed it over the bundle file).
    private nonisolated static func syncAndCheck(begin: UpdateBegin, descriptor: Int32, directory: String) async -> UpdateRefusal? {
        let path = directory + "/payload"
        guard fsync(descriptor) == 0 else { return UpdateRefusal(.transfer, "syncing \(path): \(String(cString: strerror(errno)))") }
        try? FileSystem.syncDirectory(directory)
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return UpdateRefusal(.transfer, "opening \(path): \(String(cString: strerror(errno)))") }
        defer { Glibc.close(fd) }
        var hasher = SHA256()
        let length = UInt32(begin.header.count)
        hasher.update(data: Array("QWBUNDLE".utf8) + [UInt8(length >> 24), UInt8(length >> 16 & 0xFF), UInt8(length >> 8 & 0xFF), UInt8(length & 0xFF)])
        hasher.update(data: begin.header)
        var buffer = [UInt8](repeating: 0, count: 1 << 20)
        var offset = 0
        while offset < begin.payloadSize {
            let n = min(buffer.count, begin.payloadSize - offset)
            let got = buffer.withUnsafeMutableBytes { pread(fd, $0.baseAddress, n, off_t(offset)) }
            guard got == n else {
                return UpdateRefusal(.transfer, "reading \(path) at \(offset): \(got < 0 ? String(cString: strerror(errno)) : "short read")")
            }
            buffer.withUnsafeBytes { hasher.update(bufferPointer: UnsafeRawBufferPointer(rebasing: $0[0..<n])) }
            offset += n
        }
        let id = TransferID(bytes: Array(hasher.finalize()).prefix(16))!
        guard id == begin.transfer else {
            return UpdateRefusal(.transfer, "the reassembled bundle's SHA-256 starts \(id), not the transfer id \(begin.transfer) (the header sent is not the bundle's)")
        }
        return nil
    }

    // MARK: - Files

    private var root: String { settings.transferDirectory }

    /// Reads what a previous run left, once: the last verdict, and the newest valid transfer (others,
    /// and anything unreadable, are deleted).
    private func load() throws(UpdateRefusal) {
        guard !loaded else { return }
        do { try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true) } catch {
            throw UpdateRefusal(.transfer, "cannot create \(root): \(error.localizedDescription) (update.state_dir must be writable)")
        }
        loaded = true
        if let data = FileManager.default.contents(atPath: root + "/verdict.json") {
            lastVerdict = try? JSONDecoder().decode(StoredVerdict.self, from: data)
        }
        let names = ((try? FileManager.default.contentsOfDirectory(atPath: root)) ?? []).filter { $0 != "verdict.json" }
        var found: [Active] = []
        for name in names {
            let directory = root + "/" + name
            if let restored = restore(directory: directory, name: name) { found.append(restored) } else { try? FileManager.default.removeItem(atPath: directory) }
        }
        found.sort { $0.lastActivity > $1.lastActivity }
        for extra in found.dropFirst() { discard(extra) }
        active = found.first
    }

    /// A transfer directory as a previous run left it; nil when incomplete or damaged.
    private func restore(directory: String, name: String) -> Active? {
        guard let transfer = TransferID(hex: name),
              let data = FileManager.default.contents(atPath: directory + "/transfer.json"),
              let record = try? JSONDecoder().decode(Record.self, from: data), record.transfer == transfer,
              let header = FileManager.default.contents(atPath: directory + "/header") else { return nil }
        let begin = UpdateBegin(transfer: transfer, header: Array(header), payloadSize: record.payloadSize, chunkSize: record.chunkSize, chunks: record.chunks)
        guard begin.chunkCount == (begin.payloadSize + begin.chunkSize - 1) / begin.chunkSize else { return nil }
        let fd = open(directory + "/payload", O_RDWR | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        var info = stat()
        guard fstat(fd, &info) == 0, Int(info.st_size) == begin.payloadSize else {
            Glibc.close(fd)
            return nil
        }
        let modified = Double(info.st_mtim.tv_sec) + Double(info.st_mtim.tv_nsec) / 1e9
        let active = Active(begin: begin, directory: directory, replyID: record.replyID, admission: record.admission, descriptor: fd, lastActivity: modified)
        var buffer = [UInt8](repeating: 0, count: begin.chunkSize)
        for index in 0..<begin.chunkCount {
            let range = begin.range(of: index)
            let got = buffer.withUnsafeMutableBytes { pread(fd, $0.baseAddress, range.count, off_t(range.lowerBound)) }
            guard got == range.count else { break }
            if buffer.withUnsafeBytes({ ChunkHash.of(UnsafeRawBufferPointer(rebasing: $0[0..<range.count])) }) == begin.chunks[index] { active.mark(index) }
        }
        return active
    }

    /// Makes the directory, the header, the preallocated payload and the record (last: a directory
    /// without a readable record is discarded at the next start).
    private func create(_ begin: UpdateBegin, replyID: CommandID?, admission: AdmissionInfo) throws(UpdateRefusal) -> Active {
        if let free = freeSpace(root) {
            // The transfer, and the slot it will be installed into.
            let needed = 2 * begin.payloadSize + begin.header.count
            guard free >= needed else {
                throw UpdateRefusal(.transfer, "not enough disk: \(mebibytes(free)) MiB free on the filesystem of \(root); "
                    + "the transfer and its install need \(mebibytes(needed)) MiB")
            }
        }
        let directory = root + "/" + begin.transfer.hex
        try? FileManager.default.removeItem(atPath: directory)
        func fail(_ doing: String, _ error: String) -> UpdateRefusal {
            try? FileManager.default.removeItem(atPath: directory)
            return UpdateRefusal(.transfer, "\(doing) in \(directory): \(error)")
        }
        do { try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true) } catch {
            throw fail("creating the transfer directory", error.localizedDescription)
        }
        do { try Self.writeAtomically(begin.header, to: directory + "/header") } catch { throw fail("writing the header", error.message) }
        let fd = open(directory + "/payload", O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw fail("creating the payload file", String(cString: strerror(errno))) }
        let rc = posix_fallocate(fd, 0, off_t(begin.payloadSize))
        if rc != 0 {
            // Filesystems without fallocate: a sparse file of the right size (the free-space check stands).
            guard rc == EOPNOTSUPP || rc == EINVAL, ftruncate(fd, off_t(begin.payloadSize)) == 0 else {
                Glibc.close(fd)
                throw fail("reserving \(begin.payloadSize) bytes for the payload", String(cString: strerror(rc)))
            }
        }
        let active = Active(begin: begin, directory: directory, replyID: replyID, admission: admission, descriptor: fd, lastActivity: clock())
        do { try writeRecord(active) } catch {
            active.close()
            throw fail("writing transfer.json", error.message)
        }
        try? FileSystem.syncDirectory(root)
        return active
    }

    private func writeRecord(_ active: Active) throws(UpdateRefusal) {
        let b = active.begin
        let record = Record(transfer: b.transfer, payloadSize: b.payloadSize, chunkSize: b.chunkSize, chunks: b.chunks, replyID: active.replyID, admission: active.admission)
        guard let data = try? JSONEncoder().encode(record) else { throw UpdateRefusal(.transfer, "cannot encode transfer.json") }
        try Self.writeAtomically(Array(data), to: active.directory + "/transfer.json")
    }

    private func write(_ bytes: ArraySlice<UInt8>, at offset: Int, to active: Active) throws(UpdateRefusal) {
        var done = 0
        while done < bytes.count {
            let n = bytes.withUnsafeBytes { pwrite(active.descriptor, $0.baseAddress! + done, $0.count - done, off_t(offset + done)) }
            if n < 0 {
                if errno == EINTR { continue }
                throw UpdateRefusal(.transfer, "writing \(active.directory)/payload at \(offset + done): \(String(cString: strerror(errno)))")
            }
            done += n
        }
    }

    @discardableResult
    private func expireIfStale() -> TransferID? {
        guard let active, !active.verifying, clock() - active.lastActivity > settings.expirySeconds else { return nil }
        discard(active)
        return active.begin.transfer
    }

    private func discard(_ transfer: Active) {
        transfer.close()
        try? FileManager.default.removeItem(atPath: transfer.directory)
        if active === transfer { active = nil }
    }

    private func mebibytes(_ bytes: Int) -> String { String(format: "%.1f", Double(bytes) / 1_048_576) }

    /// FileSystem.writeAtomically (write, fsync, rename, fsync the directory), its refusal at the transfer step.
    static func writeAtomically(_ bytes: [UInt8], to path: String) throws(UpdateRefusal) {
        do { try FileSystem.writeAtomically(bytes, to: path) } catch { throw UpdateRefusal(.transfer, error.message) }
    }
}
