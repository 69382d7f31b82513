#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// The device's store-and-forward buffer: one SQLite file holding the aggregation windows, the
/// events, a bounded set of shadow samples, the models with their baselines, and an outbox of
/// documents waiting to be published, each with its per-device `seq`.
///
/// The store knows nothing of the documents' JSON: the monitor builds them, the store assigns the
/// `seq` inside the transaction (`Document.payload(seq)`), keeps them until `markDelivered`, and
/// drops the oldest when the byte cap is reached (history first, then undelivered documents; an
/// event row says how many). See docs/store.md for the schema, the cap, durability and recovery.
///
/// Guarantees:
/// - A `commit` is one transaction (the window, its documents, events and samples), durable when
///   it returns (WAL with `synchronous=FULL` by default: one fsync per commit), so a SIGKILL or a
///   power cut after it returns loses nothing of it, and a failure before it returns stores nothing.
/// - `seq` increases by one per document, across restarts, and is never reused: the next value is
///   a counter in the file, not derived from the rows (which are deleted when delivered).
/// - The main file stays within `byteCap` plus one commit (see `Options.byteCap`).
/// - A damaged or unreadable file is moved aside, a new one is started and the caller is told
///   (`recovery`, `CommitResult.recovery`); the caller keeps running.
///
/// Why SQLite through its C API (`CSQLite`) and not GRDB: the store is a handful of statements
/// that need exact control of pragmas (WAL, synchronous, auto_vacuum, journal_size_limit),
/// checkpoints and error codes (SQLITE_CORRUPT / SQLITE_NOTADB trigger recovery); GRDB would add
/// minutes to every CI build and megabytes to the binary on a Raspberry Pi for none of that.
/// C return codes become Swift errors in one place, `SQLiteConnection`.
///
/// Concurrency: not `Sendable`. One task owns it (the daemon's store service, or an actor that
/// holds it); calls are synchronous and short (one transaction each).
public final class MetricStore {
    public let options: Options

    /// The last time a damaged file was moved aside and a new one started (at open, or when
    /// SQLITE_CORRUPT / SQLITE_NOTADB surfaced during a later call); nil if that never happened.
    public internal(set) var recovery: Recovery?

    /// Undelivered documents dropped while opening, when the file was over `byteCap` (a lowered cap).
    public private(set) var droppedAtOpen: Dropped?

    let now: @Sendable () -> Int64
    var connection: SQLiteConnection
    var pageSize: Int64

    /// Opens the store at `options.path` (creating the file if needed; its directory must exist),
    /// migrating an older schema, and recovering from a damaged file.
    ///
    /// - Parameter now: the wall clock in Unix milliseconds (for event rows and recovery names).
    /// - Throws: `MetricStoreError.newerSchema` / `.foreignDatabase` (the file is left alone),
    ///   `.invalidOptions`, `.cannotMoveAside`, or `SQLiteError` (e.g. the directory does not exist
    ///   or is not writable, the disk is full).
    public init(options: Options, now: @escaping @Sendable () -> Int64 = MetricStore.wallClockMilliseconds) throws {
        try options.validate()
        self.options = options
        self.now = now
        var opened: SQLiteConnection
        var recovery: Recovery?
        do {
            opened = try Self.openConfigured(options)
        } catch {
            guard let damage = Damage(error, path: options.path) else { throw error }
            (opened, recovery) = try Self.replaceDamagedFile(options, damage: damage, nowMs: now())
        }
        self.connection = opened
        self.recovery = recovery
        self.pageSize = try opened.int64("PRAGMA page_size") ?? 4096
        _ = try recoveringFromDamage {
            droppedAtOpen = try connection.transaction { try enforceCap(floors: .everything) }.dropped
            try releaseSpaceAboveCap()
        }
    }

    deinit { connection.close() }

    /// Checkpoints the WAL into the main file, truncates the WAL and closes the file.
    /// Later calls on this store are programming errors.
    public func close() {
        guard connection.isOpen else { return }
        try? connection.exec("PRAGMA wal_checkpoint(TRUNCATE)")
        connection.close()
    }

    // MARK: - Commit

    /// Stores one window's worth of data in one transaction: the window row, its documents (each
    /// assigned the next `seq`), its events and its shadow samples; then applies the byte cap.
    ///
    /// If a payload closure throws, nothing of the batch is stored and no seq is consumed; the
    /// error is rethrown. If SQLite reports the file corrupt, the file is moved aside, a new one
    /// started, the batch committed there, and `CommitResult.recovery` says so.
    @discardableResult
    public func commit(_ batch: Batch) throws -> CommitResult {
        var result = try recoveringFromDamage { try connection.transaction { try commitInTransaction(batch) } }
        result.value.recovery = result.recovery
        return result.value
    }

    private func commitInTransaction(_ batch: Batch) throws -> CommitResult {
        let firstSeq = try counter(.nextSeq)
        var floors = CapFloors(outboxBelow: firstSeq)

        var windowID: Int64?
        if let window = batch.window {
            try connection.cached("INSERT INTO windows (start_ms, end_ms, model_sha256, json) VALUES (?, ?, ?, ?)")
                .run(.integer(window.startMs), .integer(window.endMs), .text(window.modelSHA256), .text(window.json))
            windowID = connection.lastInsertRowID
            floors.windowsUpTo = windowID! - 1
        }

        if !batch.documents.isEmpty {
            let insert = try connection.cached("INSERT INTO outbox (seq, topic, ts_ms, payload, window_id) VALUES (?, ?, ?, ?, ?)")
            for (offset, document) in batch.documents.enumerated() {
                let seq = firstSeq + Int64(offset)
                try insert.run(.integer(seq), .text(document.topic), .integer(document.tsMs), .text(try document.payload(seq)), .optional(windowID))
            }
            try setCounter(.nextSeq, firstSeq + Int64(batch.documents.count))
        }

        for (offset, event) in batch.events.enumerated() {
            try insertEvent(event)
            if offset == 0 { floors.eventsUpTo = connection.lastInsertRowID - 1 }
        }

        if !batch.shadowSamples.isEmpty {
            let insert = try connection.cached("INSERT INTO shadow_samples (ts_ms, model_sha256, json, data) VALUES (?, ?, ?, ?)")
            for (offset, sample) in batch.shadowSamples.enumerated() {
                try insert.run(.integer(sample.tsMs), .text(sample.modelSHA256), .text(sample.json), sample.data.map(SQLiteValue.blob) ?? .null)
                if offset == 0 { floors.samplesUpTo = connection.lastInsertRowID - 1 }
            }
            try trimShadowSamples()
        }

        let capped = try enforceCap(floors: floors)
        return CommitResult(seqs: firstSeq..<firstSeq + Int64(batch.documents.count), windowID: windowID,
                            dropped: capped.dropped, historyRowsDropped: capped.historyRows, recovery: nil)
    }

    func insertEvent(_ event: EventRow) throws {
        try connection.cached("INSERT INTO events (ts_ms, kind, json) VALUES (?, ?, ?)")
            .run(.integer(event.tsMs), .text(event.kind), .text(event.json))
    }

    /// Keeps the newest `shadowSampleLimit` samples.
    private func trimShadowSamples() throws {
        if options.shadowSampleLimit == 0 {
            try connection.cached("DELETE FROM shadow_samples").run()
        } else {
            try connection.cached("DELETE FROM shadow_samples WHERE id < (SELECT id FROM shadow_samples ORDER BY id DESC LIMIT 1 OFFSET ?)")
                .run(.integer(Int64(options.shadowSampleLimit - 1)))
        }
    }

    // MARK: - Outbox

    /// Undelivered documents, oldest seq first: at most `limit`, with seq greater than `afterSeq`
    /// (pass the last seq already in flight to page past it).
    public func pending(limit: Int, afterSeq: Int64 = 0) throws -> [OutboxRow] {
        try recoveringFromDamage {
            let select = try connection.cached("SELECT seq, topic, ts_ms, payload, window_id FROM outbox WHERE seq > ? ORDER BY seq LIMIT ?")
            try select.bind(.integer(afterSeq), .integer(Int64(max(0, limit))))
            defer { select.reset() }
            var rows: [OutboxRow] = []
            while try select.step() {
                rows.append(OutboxRow(seq: select.int64(0), topic: select.text(1), tsMs: select.int64(2),
                                      payload: select.text(3), windowID: select.optionalInt64(4)))
            }
            return rows
        }.value
    }

    /// Removes delivered documents from the outbox, in one transaction; returns how many were
    /// still there (a seq already removed, or never stored, is ignored).
    @discardableResult
    public func markDelivered(_ seqs: some Sequence<Int64>) throws -> Int {
        try recoveringFromDamage {
            try connection.transaction {
                let delete = try connection.cached("DELETE FROM outbox WHERE seq = ?")
                var removed = 0
                for seq in seqs {
                    try delete.run(.integer(seq))
                    removed += connection.changes
                }
                return removed
            }
        }.value
    }

    /// The seq the next committed document will get.
    public var nextSeq: Int64 {
        get throws { try recoveringFromDamage { try counter(.nextSeq) }.value }
    }

    /// Counts and sizes (each call counts the outbox rows: meant for status reports, not per frame).
    public func stats() throws -> Stats {
        try recoveringFromDamage {
            Stats(pendingRows: Int(try connection.int64("SELECT count(*) FROM outbox") ?? 0),
                  oldestPendingSeq: try connection.int64("SELECT min(seq) FROM outbox"),
                  nextSeq: try counter(.nextSeq),
                  windowRows: Int(try connection.int64("SELECT count(*) FROM windows") ?? 0),
                  eventRows: Int(try connection.int64("SELECT count(*) FROM events") ?? 0),
                  sampleRows: Int(try connection.int64("SELECT count(*) FROM shadow_samples") ?? 0),
                  usedBytes: try usedBytes(),
                  fileBytes: fileSize(options.path) ?? 0,
                  walBytes: fileSize(options.path + "-wal") ?? 0,
                  byteCap: options.byteCap,
                  droppedUndeliveredTotal: try counter(.droppedUndelivered),
                  droppedHistoryTotal: try counter(.droppedHistory))
        }.value
    }

    // MARK: - Counters

    enum Counter: String {
        case nextSeq = "next_seq"
        case droppedUndelivered = "dropped_undelivered"
        case droppedHistory = "dropped_history"
    }

    func counter(_ counter: Counter) throws -> Int64 {
        try connection.int64("SELECT value FROM counters WHERE name = ?", .text(counter.rawValue)) ?? 0
    }

    func setCounter(_ counter: Counter, _ value: Int64) throws {
        try connection.cached("INSERT INTO counters (name, value) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET value = excluded.value")
            .run(.text(counter.rawValue), .integer(value))
    }

    // MARK: - Clock

    /// Unix time in milliseconds (CLOCK_REALTIME).
    @Sendable public static func wallClockMilliseconds() -> Int64 {
        var time = timespec()
        clock_gettime(CLOCK_REALTIME, &time)
        return Int64(time.tv_sec) * 1000 + Int64(time.tv_nsec) / 1_000_000
    }
}

/// The size of a file in bytes, nil if it does not exist.
func fileSize(_ path: String) -> Int64? {
    var info = stat()
    return stat(path, &info) == 0 ? Int64(info.st_size) : nil
}
