#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

// Reading a metric store without changing it: `quantwatch report` on a file copied off a board.

/// A read-only view of a metric store file. Never creates, migrates, recovers, checkpoints or moves
/// the file: a damaged or foreign file is an error naming the path, and the file stays as it was.
public final class MetricStoreReader {
    public let path: String
    let connection: SQLiteConnection

    /// Opens `path` for reading. When the file is in WAL mode and its -shm cannot be created (a
    /// read-only directory), it is opened immutable (the WAL, if any, is then not read).
    public init(path: String) throws {
        self.path = path
        var isDirectory = false
        guard MetricStoreReader.exists(path, isDirectory: &isDirectory), !isDirectory else {
            throw MetricStoreError.unreadable(path: path, reason: "no such file; expected a QuantWatch metric store (SQLite)")
        }
        var opened: SQLiteConnection
        do {
            opened = try SQLiteConnection(path: path, readOnly: true)
            _ = try opened.int64("SELECT count(*) FROM sqlite_master")
        } catch {
            opened = try SQLiteConnection(path: path, readOnly: true, immutable: true)
        }
        connection = opened
        do {
            let application = Int32(truncatingIfNeeded: try connection.int64("PRAGMA application_id") ?? 0)
            guard application == Schema.applicationID else {
                throw MetricStoreError.foreignDatabase(path: path, applicationID: application)
            }
            let version = Int32(truncatingIfNeeded: try connection.int64("PRAGMA user_version") ?? 0)
            let supported = Int32(Schema.migrations.count)
            guard version <= supported else { throw MetricStoreError.newerSchema(path: path, found: version, supported: supported) }
        } catch let error as SQLiteError {
            connection.close()
            throw MetricStoreError.unreadable(path: path, reason: "\(error.message) (not a QuantWatch metric store, or damaged)")
        } catch {
            connection.close()
            throw error
        }
    }

    public func close() { connection.close() }

    public func windows(sinceMs: Int64 = .min, limit: Int = 100_000) throws -> [MetricStore.Window] {
        try rows("SELECT id, start_ms, end_ms, model_sha256, json FROM windows WHERE start_ms >= ? ORDER BY start_ms, id LIMIT ?", sinceMs, limit) {
            MetricStore.Window(id: $0.int64(0), startMs: $0.int64(1), endMs: $0.int64(2), modelSHA256: $0.text(3), json: $0.text(4))
        }
    }

    public func events(sinceMs: Int64 = .min, limit: Int = 100_000) throws -> [MetricStore.Event] {
        try rows("SELECT id, ts_ms, kind, json FROM events WHERE ts_ms >= ? ORDER BY ts_ms, id LIMIT ?", sinceMs, limit) {
            MetricStore.Event(id: $0.int64(0), tsMs: $0.int64(1), kind: $0.text(2), json: $0.text(3))
        }
    }

    public func models() throws -> [MetricStore.Model] {
        try rows("SELECT sha256, name, version, path, installed_ms, activated_ms, baseline_json, baseline_ms FROM models WHERE ? IS NOT NULL ORDER BY installed_ms, sha256 LIMIT ?",
                 0, 100_000) {
            MetricStore.Model(sha256: $0.text(0), name: $0.text(1), version: $0.text(2), path: $0.text(3), installedMs: $0.int64(4),
                              activatedMs: $0.optionalInt64(5), baselineJSON: $0.optionalText(6), baselineMs: $0.optionalInt64(7))
        }
    }

    /// Documents in the outbox (not yet acknowledged by the broker).
    public func pendingCount() throws -> Int {
        do { return Int(try connection.int64("SELECT count(*) FROM outbox") ?? 0) } catch let error as SQLiteError {
            throw MetricStoreError.unreadable(path: path, reason: error.message)
        }
    }

    private func rows<Row>(_ sql: String, _ a: Int64, _ limit: Int, _ read: (SQLiteStatement) -> Row) throws -> [Row] {
        do {
            let select = try connection.prepare(sql)
            try select.bind(.integer(a), .integer(Int64(max(0, limit))))
            var rows: [Row] = []
            while try select.step() { rows.append(read(select)) }
            return rows
        } catch let error as SQLiteError {
            throw MetricStoreError.unreadable(path: path, reason: "\(error.message) in \(error.statement ?? sql)")
        }
    }

    static func exists(_ path: String, isDirectory: inout Bool) -> Bool {
        var info = stat()
        guard stat(path, &info) == 0 else { return false }
        isDirectory = (info.st_mode & S_IFMT) == S_IFDIR
        return true
    }
}
