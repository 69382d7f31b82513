#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import CSQLite

// Opening, and replacing a damaged file.
//
// A file is damaged when SQLite says it is not a database (SQLITE_NOTADB) or corrupt
// (SQLITE_CORRUPT: at open, or later during any call), when `PRAGMA quick_check` at open finds
// anything, or when it exists but cannot be opened for reading and writing (permissions, a
// directory in its place). It is then renamed to `<path>.corrupt-<UTC yyyyMMddTHHmmssZ>` with its
// `-wal`, `-shm` (and `-journal`) beside it under the same new name, a new file is created at
// `path`, its seq counter continues from the old file's when that can still be read (otherwise
// from the wall clock in milliseconds), a `store_recovered` event row is written, and the caller is
// told through `recovery` (and `CommitResult.recovery`). Nothing is deleted.
//
// Not damage (thrown, the file left alone): a newer schema version, another application's
// database, a missing or unwritable directory, a full disk, I/O errors.

extension MetricStore {
    /// Why a file cannot be used, when that calls for moving it aside.
    struct Damage {
        var reason: Recovery.Reason
        var detail: String
        var sqliteCode: Int32?

        init(reason: Recovery.Reason, detail: String, sqliteCode: Int32? = nil) {
            self.reason = reason
            self.detail = detail
            self.sqliteCode = sqliteCode
        }

        /// The damage `error` reveals about the file at `path`, nil when the error is not about the file's content.
        init?(_ error: any Error, path: String) {
            switch error {
            case let error as SQLiteError where error.isCorruption:
                self.init(reason: error.primaryCode == SQLITE_NOTADB ? .notADatabase : .corrupt, detail: error.message, sqliteCode: error.code)
            case let error as SQLiteError:
                // SQLITE_CANTOPEN and friends are damage only when the file itself is the problem
                // (not a missing or read-only directory, which moving the file would not fix).
                guard [SQLITE_CANTOPEN, SQLITE_PERM, SQLITE_READONLY, SQLITE_AUTH].contains(error.primaryCode),
                      let problem = Self.accessProblem(path) else { return nil }
                self.init(reason: .unreadable, detail: "\(problem): \(error.message)", sqliteCode: error.code)
            case OpenProblem.quickCheckFailed(let findings):
                self.init(reason: .corrupt, detail: "quick_check: " + findings.prefix(3).joined(separator: "; "))
            case OpenProblem.readOnly:
                self.init(reason: .unreadable, detail: Self.accessProblem(path) ?? "SQLite opened the file read-only")
            default:
                return nil
            }
        }

        /// What keeps this process from reading and writing the file, nil if nothing does.
        static func accessProblem(_ path: String) -> String? {
            var info = stat()
            guard lstat(path, &info) == 0 else { return nil }
            if info.st_mode & S_IFMT != S_IFREG && info.st_mode & S_IFMT != S_IFLNK { return "not a regular file" }
            if access(path, R_OK | W_OK) != 0 { return "no read and write permission (errno \(errno))" }
            return nil
        }
    }

    enum OpenProblem: Error {
        case quickCheckFailed([String])
        case readOnly
    }

    /// Opens `options.path` with the store's settings, checks it and migrates it.
    static func openConfigured(_ options: Options) throws -> SQLiteConnection {
        let connection = try SQLiteConnection(path: options.path)
        do {
            try connection.setBusyTimeout(milliseconds: options.busyTimeoutMs)
            // Only on a new file: it must precede the first table, and on an existing file it
            // rewrites the header (a file from a newer schema must be left untouched).
            if try connection.int64("PRAGMA page_count") == 0 {
                try connection.exec("PRAGMA auto_vacuum = INCREMENTAL")
            }
            if connection.isReadOnly { throw OpenProblem.readOnly }
            let mode = try connection.text("PRAGMA journal_mode = WAL")
            if mode != "wal" {
                throw SQLiteError(code: SQLITE_ERROR, message: "could not switch to WAL (journal_mode is \(mode ?? "?"))",
                                  path: options.path, statement: "PRAGMA journal_mode = WAL")
            }
            let pageSize = try connection.int64("PRAGMA page_size") ?? 4096
            try connection.exec("""
                PRAGMA synchronous = \(options.synchronous.rawValue);
                PRAGMA journal_size_limit = \(options.walByteLimit);
                PRAGMA wal_autocheckpoint = \(max(1, options.walByteLimit / pageSize));
                """)
            if options.checkOnOpen {
                let findings = try connection.texts("PRAGMA quick_check")
                if findings != ["ok"] { throw OpenProblem.quickCheckFailed(findings) }
            }
            try Schema.migrate(connection)
            return connection
        } catch {
            connection.closeWithoutCheckpoint()
            throw error
        }
    }

    /// Runs `body`; if SQLite reports the file corrupt, moves it aside, starts a new one and runs `body` again there.
    func recoveringFromDamage<T>(_ body: () throws -> T) throws -> (value: T, recovery: Recovery?) {
        do {
            return (try body(), nil)
        } catch let error as SQLiteError where error.isCorruption {
            connection.closeWithoutCheckpoint()
            let damage = Damage(error, path: options.path)!
            let (fresh, recovery) = try Self.replaceDamagedFile(options, damage: damage, nowMs: now())
            connection = fresh
            pageSize = try fresh.int64("PRAGMA page_size") ?? 4096
            self.recovery = recovery
            return (try body(), recovery)
        }
    }

    /// Moves the damaged file (and its -wal, -shm, -journal) aside and opens a new one.
    static func replaceDamagedFile(_ options: Options, damage: Damage, nowMs: Int64) throws -> (SQLiteConnection, Recovery) {
        let path = options.path
        let stamp = utcStamp(milliseconds: nowMs)
        var target = "\(path).corrupt-\(stamp)"
        var attempt = 1
        while exists(target) || exists(target + "-wal") {
            attempt += 1
            target = "\(path).corrupt-\(stamp)-\(attempt)"
        }
        var moved: [String] = []
        for suffix in ["", "-wal", "-shm", "-journal"] where exists(path + suffix) {
            guard rename(path + suffix, target + suffix) == 0 else {
                throw MetricStoreError.cannotMoveAside(path: path + suffix, to: target + suffix, errno: errno)
            }
            moved.append(target + suffix)
        }

        let salvaged = salvageNextSeq(target)
        let nextSeq = salvaged ?? max(1, nowMs)
        let connection = try openConfigured(options)
        let recovery = Recovery(path: path, movedTo: target, movedFiles: moved, reason: damage.reason, detail: damage.detail,
                                sqliteCode: damage.sqliteCode, atMs: nowMs, nextSeq: nextSeq, seqSalvaged: salvaged != nil)
        do {
            try connection.transaction {
                try connection.cached("UPDATE counters SET value = ? WHERE name = 'next_seq'").run(.integer(nextSeq))
                try connection.cached("INSERT INTO events (ts_ms, kind, json) VALUES (?, 'store_recovered', ?)").run(.integer(nowMs), .text("""
                    {"path":\(jsonString(path)),"moved_to":\(jsonString(target)),"reason":"\(damage.reason.rawValue)",\
                    "detail":\(jsonString(damage.detail)),"sqlite_code":\(damage.sqliteCode.map(String.init) ?? "null"),\
                    "next_seq":\(nextSeq),"seq_salvaged":\(salvaged != nil)}
                    """))
            }
        } catch {
            connection.close()
            throw error
        }
        return (connection, recovery)
    }

    /// The damaged file's next seq, if its counter or outbox can still be read.
    private static func salvageNextSeq(_ path: String) -> Int64? {
        // Read-write (a read-only connection cannot open a WAL file whose -shm is gone) but
        // query_only, and closed without a checkpoint: the moved file is not modified. With
        // writable_schema SQLite reads a truncated file's surviving pages instead of refusing it.
        guard let old = try? SQLiteConnection(path: path, create: false) else { return nil }
        defer { old.closeWithoutCheckpoint() }
        guard (try? old.exec("PRAGMA query_only = ON; PRAGMA writable_schema = ON")) != nil else { return nil }
        let counter = (try? old.int64("SELECT value FROM counters WHERE name = 'next_seq'")) ?? nil
        let highest = (try? old.int64("SELECT max(seq) FROM outbox")) ?? nil
        let next = max(counter ?? 0, (highest ?? 0) + 1)
        return counter == nil && highest == nil || next < 1 ? nil : next
    }

    private static func exists(_ path: String) -> Bool {
        var info = stat()
        return lstat(path, &info) == 0
    }

    /// "20261129T031500Z".
    static func utcStamp(milliseconds: Int64) -> String {
        var seconds = time_t(milliseconds / 1000)
        var parts = tm()
        gmtime_r(&seconds, &parts)
        func two(_ value: Int32) -> String { value < 10 ? "0\(value)" : "\(value)" }
        return "\(parts.tm_year + 1900)\(two(parts.tm_mon + 1))\(two(parts.tm_mday))T\(two(parts.tm_hour))\(two(parts.tm_min))\(two(parts.tm_sec))Z"
    }
}

/// `text` as a JSON string literal.
func jsonString(_ text: String) -> String {
    var out = "\""
    for scalar in text.unicodeScalars {
        switch scalar {
        case "\"": out += "\\\""
        case "\\": out += "\\\\"
        case "\n": out += "\\n"
        case "\r": out += "\\r"
        case "\t": out += "\\t"
        case _ where scalar.value < 0x20:
            let hex = String(scalar.value, radix: 16)
            out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
        default: out.unicodeScalars.append(scalar)
        }
    }
    return out + "\""
}
