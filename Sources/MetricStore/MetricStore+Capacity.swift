// The byte cap. Used bytes are the main file's live pages, (page_count − freelist_count) ·
// page_size, read inside the commit's transaction. When a commit takes them over the cap, the
// oldest rows are deleted in the same transaction until they are back under it:
//
//   1. history first — windows, events and shadow samples, oldest first across the three tables
//      (the oldest row by its time stamp goes next); these are the device's local copy, and a
//      window's document is in the outbox until delivered;
//   2. then undelivered outbox documents, oldest seq first; these are counted, an event row
//      `buffer_overflow` ({"count", "first_seq", "last_seq", "cap_bytes"}) is written in the same
//      transaction, and `CommitResult.dropped` tells the caller, which publishes it.
//
// The rows of the commit being made are never deleted, so the peak is the cap plus one commit.
// Deleted rows' pages go to the freelist and are reused by later commits
// (auto_vacuum=INCREMENTAL), so the file never grows past that peak. Models and counters are
// never deleted (a few hundred bytes).

extension MetricStore {
    /// The newest row of each table that the cap may delete (rows of the commit in progress are newer).
    struct CapFloors {
        var outboxBelow: Int64 = .max
        var windowsUpTo: Int64 = .max
        var eventsUpTo: Int64 = .max
        var samplesUpTo: Int64 = .max

        static let everything = CapFloors()
    }

    struct CapResult {
        var dropped: Dropped?
        var historyRows = 0
    }

    /// (page_count − freelist_count) · page_size, as the current transaction sees it.
    func usedBytes() throws -> Int64 {
        let pages = try connection.int64("PRAGMA page_count") ?? 0
        let free = try connection.int64("PRAGMA freelist_count") ?? 0
        return (pages - free) * pageSize
    }

    /// Deletes the oldest rows until used bytes are within the cap (inside a transaction).
    func enforceCap(floors: CapFloors) throws -> CapResult {
        var used = try usedBytes()
        guard used > options.byteCap else { return CapResult() }
        var result = CapResult()
        while used > options.byteCap {
            // A page more than the excess: rows rarely free exactly the pages their bytes fill.
            let target = used - options.byteCap + pageSize
            if let table = try oldestHistoryTable(floors) {
                result.historyRows += try deleteOldestHistory(table, bytes: target, upTo: floors.upTo(table))
            } else if let dropped = try deleteOldestUndelivered(bytes: target, below: floors.outboxBelow) {
                result.dropped = Dropped(count: (result.dropped?.count ?? 0) + dropped.count,
                                         firstSeq: result.dropped?.firstSeq ?? dropped.firstSeq, lastSeq: dropped.lastSeq)
            } else {
                break  // only the commit in progress is left: the cap is smaller than one commit
            }
            used = try usedBytes()
        }
        if result.historyRows > 0 {
            try setCounter(.droppedHistory, try counter(.droppedHistory) + Int64(result.historyRows))
        }
        if let dropped = result.dropped {
            try setCounter(.droppedUndelivered, try counter(.droppedUndelivered) + Int64(dropped.count))
            try insertEvent(EventRow(tsMs: now(), kind: "buffer_overflow", json: """
                {"count":\(dropped.count),"first_seq":\(dropped.firstSeq),"last_seq":\(dropped.lastSeq),"cap_bytes":\(options.byteCap)}
                """))
        }
        return result
    }

    /// Returns file pages above the cap to the file system (after the cap was lowered).
    func releaseSpaceAboveCap() throws {
        guard let size = fileSize(options.path), size > options.byteCap,
              try connection.int64("PRAGMA freelist_count") ?? 0 > 0 else { return }
        try connection.exec("PRAGMA incremental_vacuum")
    }

    enum HistoryTable: String, CaseIterable {
        case windows, events, shadowSamples = "shadow_samples"

        var timeColumn: String { self == .windows ? "end_ms" : "ts_ms" }
        var sizeExpression: String { self == .shadowSamples ? "length(CAST(json AS BLOB)) + coalesce(length(data), 0)" : "length(CAST(json AS BLOB))" }
    }

    /// The history table whose oldest deletable row is the oldest, nil when none has such a row.
    private func oldestHistoryTable(_ floors: CapFloors) throws -> HistoryTable? {
        var oldest: (table: HistoryTable, time: Int64)?
        for table in HistoryTable.allCases {
            let time = try connection.int64("SELECT \(table.timeColumn) FROM \(table.rawValue) WHERE id <= ? ORDER BY id LIMIT 1",
                                            .integer(floors.upTo(table)))
            if let time, time < oldest?.time ?? .max { oldest = (table, time) }
        }
        return oldest?.table
    }

    /// Deletes the oldest rows of `table` holding about `bytes`; returns how many.
    private func deleteOldestHistory(_ table: HistoryTable, bytes: Int64, upTo floor: Int64) throws -> Int {
        guard let last = try lastRowCovering(bytes: bytes, sql: """
            SELECT id, \(table.sizeExpression) FROM \(table.rawValue) WHERE id <= ? ORDER BY id LIMIT 1024
            """, bound: floor)?.last else { return 0 }
        try connection.cached("DELETE FROM \(table.rawValue) WHERE id <= ?").run(.integer(last))
        return connection.changes
    }

    /// Deletes the oldest undelivered documents holding about `bytes`.
    private func deleteOldestUndelivered(bytes: Int64, below: Int64) throws -> Dropped? {
        guard let covered = try lastRowCovering(bytes: bytes, sql: """
            SELECT seq, length(CAST(payload AS BLOB)) + length(topic) FROM outbox WHERE seq < ? ORDER BY seq LIMIT 1024
            """, bound: below) else { return nil }
        try connection.cached("DELETE FROM outbox WHERE seq <= ?").run(.integer(covered.last))
        return Dropped(count: connection.changes, firstSeq: covered.first, lastSeq: covered.last)
    }

    /// Walks the oldest rows (`sql` selects key, byte size; `bound` its parameter) until their
    /// sizes (plus a per-row overhead) reach `bytes`: the first and last key, nil if no rows.
    private func lastRowCovering(bytes: Int64, sql: String, bound: Int64) throws -> (first: Int64, last: Int64)? {
        let select = try connection.cached(sql)
        try select.bind(.integer(bound))
        defer { select.reset() }
        var first: Int64?, last: Int64 = 0, covered: Int64 = 0
        while covered < bytes, try select.step() {
            if first == nil { first = select.int64(0) }
            last = select.int64(0)
            covered += select.int64(1) + 16
        }
        return first.map { ($0, last) }
    }
}

extension MetricStore.CapFloors {
    func upTo(_ table: MetricStore.HistoryTable) -> Int64 {
        switch table {
        case .windows: windowsUpTo
        case .events: eventsUpTo
        case .shadowSamples: samplesUpTo
        }
    }
}
