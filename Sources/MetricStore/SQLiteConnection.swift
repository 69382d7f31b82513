import CSQLite

// The one place where SQLite's C return codes become Swift errors. Everything else in
// MetricStore talks to SQLite through `SQLiteConnection` and `SQLiteStatement`, never through
// `sqlite3_*` calls of its own (`SQLiteLibrary` only reads the version).

/// An error SQLite reported: its (extended) result code, its message, the database file and,
/// when one was running, the SQL statement.
public struct SQLiteError: Error, Sendable, CustomStringConvertible {
    /// The extended result code (e.g. 267 = SQLITE_CORRUPT_VTAB); `primaryCode` is its low byte.
    public var code: Int32
    public var message: String
    public var path: String
    public var statement: String?

    /// The primary result code (SQLITE_CORRUPT = 11, SQLITE_NOTADB = 26, SQLITE_FULL = 13, …).
    public var primaryCode: Int32 { code & 0xFF }

    /// True for the codes that mean the file's content is damaged or is not a database.
    public var isCorruption: Bool { primaryCode == SQLITE_CORRUPT || primaryCode == SQLITE_NOTADB }

    public var description: String {
        let name = String(cString: sqlite3_errstr(code))
        var text = "SQLite error \(code) (\(name)) on \(path): \(message)"
        if let statement { text += " [in: \(statement.prefix(200))]" }
        return text
    }
}

/// One SQLite database connection, confined to one thread or task at a time.
///
/// Statements passed to `cached(_:)` are prepared once and kept until `close()`.
final class SQLiteConnection {
    let path: String
    private var handle: OpaquePointer?
    private var statements: [String: SQLiteStatement] = [:]

    /// Opens for reading and writing (and by default creates) the database at `path`; with
    /// `readOnly`, for reading only (never creates, never writes; `immutable` also ignores locks and
    /// any WAL: for a file copied off a device without its -wal/-shm).
    init(path: String, create: Bool = true, readOnly: Bool = false, immutable: Bool = false) throws {
        self.path = path
        let flags = readOnly ? SQLITE_OPEN_READONLY | (immutable ? SQLITE_OPEN_URI : 0) : SQLITE_OPEN_READWRITE | (create ? SQLITE_OPEN_CREATE : 0)
        var db: OpaquePointer?
        let name = immutable ? "file:" + (path.addingPercentEncodingForURI()) + "?immutable=1" : path
        let rc = sqlite3_open_v2(name, &db, flags, nil)
        if rc != SQLITE_OK {
            let message = db.map { String(cString: sqlite3_errmsg($0)) } ?? String(cString: sqlite3_errstr(rc))
            let code = db.map { sqlite3_extended_errcode($0) } ?? rc
            sqlite3_close_v2(db)
            throw SQLiteError(code: code, message: message, path: path, statement: nil)
        }
        handle = db
        sqlite3_extended_result_codes(db, 1)
    }

    deinit { close() }

    /// Finalizes the cached statements and closes the connection (idempotent).
    func close() {
        for statement in statements.values { statement.finalize() }
        statements.removeAll()
        if let handle { sqlite3_close_v2(handle) }
        handle = nil
    }

    /// Closes without the checkpoint SQLite makes when the last connection to a file closes, so
    /// the main file is not written and the -wal and -shm files stay as they are (for a damaged
    /// file that is being moved aside, or one that is refused).
    func closeWithoutCheckpoint() {
        if let handle { _ = csqlite_db_config_int(handle, SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 1) }
        close()
    }

    var isOpen: Bool { handle != nil }

    /// True when SQLite opened the file read-only (e.g. the file's permissions forbid writing).
    var isReadOnly: Bool { sqlite3_db_readonly(db, "main") == 1 }

    /// Rows changed by the last INSERT, UPDATE or DELETE.
    var changes: Int { Int(sqlite3_changes(db)) }

    var lastInsertRowID: Int64 { sqlite3_last_insert_rowid(db) }

    var isInTransaction: Bool { sqlite3_get_autocommit(db) == 0 }

    func setBusyTimeout(milliseconds: Int32) throws {
        try check(sqlite3_busy_timeout(db, milliseconds), nil)
    }

    /// Runs one or more statements that return no rows the caller needs.
    func exec(_ sql: String) throws {
        var error: UnsafeMutablePointer<CChar>?
        let rc = sqlite3_exec(db, sql, nil, nil, &error)
        if rc != SQLITE_OK {
            let message = error.map { String(cString: $0) } ?? String(cString: sqlite3_errmsg(db))
            sqlite3_free(error)
            throw SQLiteError(code: sqlite3_extended_errcode(db), message: message, path: path, statement: sql)
        }
    }

    /// A new prepared statement, finalized when released.
    func prepare(_ sql: String) throws -> SQLiteStatement {
        var statement: OpaquePointer?
        try check(sqlite3_prepare_v3(db, sql, -1, 0, &statement, nil), sql)
        return SQLiteStatement(connection: self, handle: statement!, sql: sql)
    }

    /// A prepared statement kept for the connection's lifetime, reset and ready to bind.
    func cached(_ sql: String) throws -> SQLiteStatement {
        if let statement = statements[sql] {
            statement.reset()
            return statement
        }
        var statement: OpaquePointer?
        try check(sqlite3_prepare_v3(db, sql, -1, UInt32(SQLITE_PREPARE_PERSISTENT), &statement, nil), sql)
        let prepared = SQLiteStatement(connection: self, handle: statement!, sql: sql)
        statements[sql] = prepared
        return prepared
    }

    /// The first column of the first row, or nil when there is no row or it is NULL.
    func int64(_ sql: String, _ arguments: SQLiteValue...) throws -> Int64? {
        let statement = try cached(sql)
        try statement.bind(arguments)
        defer { statement.reset() }
        guard try statement.step(), !statement.isNull(0) else { return nil }
        return statement.int64(0)
    }

    func text(_ sql: String, _ arguments: SQLiteValue...) throws -> String? {
        let statement = try prepare(sql)
        try statement.bind(arguments)
        guard try statement.step(), !statement.isNull(0) else { return nil }
        return statement.text(0)
    }

    /// Every row's first column as text (for PRAGMAs such as quick_check that return several rows).
    func texts(_ sql: String) throws -> [String] {
        let statement = try prepare(sql)
        var rows: [String] = []
        while try statement.step() { rows.append(statement.isNull(0) ? "" : statement.text(0)) }
        return rows
    }

    /// Runs `body` in one `BEGIN IMMEDIATE … COMMIT` transaction; any error rolls it back.
    func transaction<T>(_ body: () throws -> T) throws -> T {
        try exec("BEGIN IMMEDIATE")
        do {
            let result = try body()
            try exec("COMMIT")
            return result
        } catch {
            if isInTransaction { try? exec("ROLLBACK") }
            throw error
        }
    }

    fileprivate var db: OpaquePointer {
        guard let handle else { preconditionFailure("SQLite connection to \(path) used after close()") }
        return handle
    }

    fileprivate func check(_ rc: Int32, _ sql: String?) throws {
        guard rc != SQLITE_OK else { return }
        throw error(rc, sql)
    }

    fileprivate func error(_ rc: Int32, _ sql: String?) -> SQLiteError {
        // sqlite3_errmsg describes the most recent failure of this connection, which is `rc`'s.
        let extended = sqlite3_extended_errcode(db)
        return SQLiteError(code: extended & 0xFF == rc & 0xFF ? extended : rc,
                           message: String(cString: sqlite3_errmsg(db)), path: path, statement: sql)
    }
}

/// A value to bind to a statement parameter.
enum SQLiteValue {
    case null
    case integer(Int64)
    case text(String)
    case blob([UInt8])
}

extension SQLiteValue {
    static func optional(_ value: Int64?) -> SQLiteValue { value.map(SQLiteValue.integer) ?? .null }
    static func optional(_ value: String?) -> SQLiteValue { value.map(SQLiteValue.text) ?? .null }
}

/// A prepared statement of one `SQLiteConnection`. Parameters and columns are 1- and 0-based,
/// as in SQLite's C API.
final class SQLiteStatement {
    private unowned let connection: SQLiteConnection
    private var handle: OpaquePointer?
    let sql: String

    fileprivate init(connection: SQLiteConnection, handle: OpaquePointer, sql: String) {
        self.connection = connection
        self.handle = handle
        self.sql = sql
    }

    deinit { finalize() }

    fileprivate func finalize() {
        if let handle { sqlite3_finalize(handle) }
        handle = nil
    }

    private var statement: OpaquePointer {
        guard let handle else { preconditionFailure("statement used after its connection closed: \(sql)") }
        return handle
    }

    /// Makes the statement ready to run again and clears its bindings.
    func reset() {
        sqlite3_reset(statement)
        sqlite3_clear_bindings(statement)
    }

    func bind(_ values: [SQLiteValue]) throws {
        for (offset, value) in values.enumerated() { try bind(value, at: Int32(offset + 1)) }
    }

    func bind(_ values: SQLiteValue...) throws { try bind(values) }

    func bind(_ value: SQLiteValue, at index: Int32) throws {
        let rc: Int32
        switch value {
        case .null:
            rc = sqlite3_bind_null(statement, index)
        case .integer(let number):
            rc = sqlite3_bind_int64(statement, index, number)
        case .text(let string):
            var string = string
            rc = string.withUTF8 { bytes in
                bytes.withMemoryRebound(to: CChar.self) { chars in
                    // A NULL pointer would bind SQL NULL, so the empty string gets a static "".
                    guard let start = chars.baseAddress, !chars.isEmpty else { return sqlite3_bind_text(statement, index, "", 0, sqliteTransient) }
                    return sqlite3_bind_text(statement, index, start, Int32(chars.count), sqliteTransient)
                }
            }
        case .blob(let bytes):
            rc = bytes.withUnsafeBytes { raw in
                sqlite3_bind_blob(statement, index, raw.baseAddress ?? UnsafeRawPointer(bitPattern: 1), Int32(raw.count), sqliteTransient)
            }
        }
        try connection.check(rc, sql)
    }

    /// Advances to the next row: true when a row is available, false when the statement is done.
    @discardableResult
    func step() throws -> Bool {
        switch sqlite3_step(statement) {
        case SQLITE_ROW: return true
        case SQLITE_DONE: return false
        case let rc:
            let error = connection.error(rc, sql)
            sqlite3_reset(statement)
            throw error
        }
    }

    /// Runs a statement that returns no rows, then resets it.
    func run(_ values: SQLiteValue...) throws {
        try bind(values)
        defer { reset() }
        try step()
    }

    func isNull(_ column: Int32) -> Bool { sqlite3_column_type(statement, column) == SQLITE_NULL }

    func int64(_ column: Int32) -> Int64 { sqlite3_column_int64(statement, column) }

    func optionalInt64(_ column: Int32) -> Int64? { isNull(column) ? nil : int64(column) }

    func text(_ column: Int32) -> String {
        guard let bytes = sqlite3_column_text(statement, column) else { return "" }
        let count = Int(sqlite3_column_bytes(statement, column))
        return String(decoding: UnsafeBufferPointer(start: bytes, count: count), as: UTF8.self)
    }

    func optionalText(_ column: Int32) -> String? { isNull(column) ? nil : text(column) }

    func blob(_ column: Int32) -> [UInt8]? {
        guard !isNull(column) else { return nil }
        let count = Int(sqlite3_column_bytes(statement, column))
        guard count > 0, let bytes = sqlite3_column_blob(statement, column) else { return [] }
        return Array(UnsafeRawBufferPointer(start: bytes, count: count))
    }
}

/// SQLITE_TRANSIENT: SQLite copies the bound bytes before the bind call returns.
private let sqliteTransient = unsafeBitCast(-1, to: sqlite3_destructor_type.self)

extension String {
    /// The path as a `file:` URI path (percent-encoding what a URI reserves; no Foundation).
    func addingPercentEncodingForURI() -> String {
        var out = ""
        for byte in utf8 {
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
                 UInt8(ascii: "/"), UInt8(ascii: "-"), UInt8(ascii: "_"), UInt8(ascii: "."), UInt8(ascii: "~"):
                out.unicodeScalars.append(Unicode.Scalar(byte))
            default:
                let hex = Array("0123456789ABCDEF".utf8)
                out += "%" + String(decoding: [hex[Int(byte >> 4)], hex[Int(byte & 15)]], as: UTF8.self)
            }
        }
        return out
    }
}
