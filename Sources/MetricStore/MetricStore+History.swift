// Reads of the local history (windows, events, shadow samples) for reports.

extension MetricStore {
    public struct Window: Sendable, Equatable {
        public var id: Int64
        public var startMs: Int64
        public var endMs: Int64
        public var modelSHA256: String
        public var json: String
    }

    public struct Event: Sendable, Equatable {
        public var id: Int64
        public var tsMs: Int64
        public var kind: String
        public var json: String
    }

    public struct ShadowSample: Sendable, Equatable {
        public var id: Int64
        public var tsMs: Int64
        public var modelSHA256: String
        public var json: String
        public var data: [UInt8]?
    }

    /// Windows that started at or after `sinceMs`, oldest first, at most `limit`.
    public func windows(sinceMs: Int64 = .min, limit: Int = 10_000) throws -> [Window] {
        try rows("SELECT id, start_ms, end_ms, model_sha256, json FROM windows WHERE start_ms >= ? ORDER BY start_ms, id LIMIT ?",
                 sinceMs, limit) { row in
            Window(id: row.int64(0), startMs: row.int64(1), endMs: row.int64(2), modelSHA256: row.text(3), json: row.text(4))
        }
    }

    /// Events at or after `sinceMs`, oldest first, at most `limit`.
    public func events(sinceMs: Int64 = .min, limit: Int = 10_000) throws -> [Event] {
        try rows("SELECT id, ts_ms, kind, json FROM events WHERE ts_ms >= ? ORDER BY ts_ms, id LIMIT ?", sinceMs, limit) { row in
            Event(id: row.int64(0), tsMs: row.int64(1), kind: row.text(2), json: row.text(3))
        }
    }

    /// Shadow samples at or after `sinceMs`, oldest first, at most `limit`.
    public func shadowSamples(sinceMs: Int64 = .min, limit: Int = 10_000) throws -> [ShadowSample] {
        try rows("SELECT id, ts_ms, model_sha256, json, data FROM shadow_samples WHERE ts_ms >= ? ORDER BY id LIMIT ?", sinceMs, limit) { row in
            ShadowSample(id: row.int64(0), tsMs: row.int64(1), modelSHA256: row.text(2), json: row.text(3), data: row.blob(4))
        }
    }

    public func sampleCount() throws -> Int {
        try recoveringFromDamage { Int(try connection.int64("SELECT count(*) FROM shadow_samples") ?? 0) }.value
    }

    private func rows<Row>(_ sql: String, _ sinceMs: Int64, _ limit: Int, _ read: (SQLiteStatement) -> Row) throws -> [Row] {
        try recoveringFromDamage {
            let select = try connection.cached(sql)
            try select.bind(.integer(sinceMs), .integer(Int64(max(0, limit))))
            defer { select.reset() }
            var rows: [Row] = []
            while try select.step() { rows.append(read(select)) }
            return rows
        }.value
    }
}
