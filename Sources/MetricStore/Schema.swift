/// One step of the schema: the SQL that takes a database from `version - 1` to `version`.
struct Migration: Sendable {
    let version: Int32
    let summary: String
    let sql: String
}

/// The store's schema, versioned with `PRAGMA user_version`.
///
/// Migrations run in order, each in its own transaction together with the `user_version` it
/// reaches, so a crash leaves the file at the last completed version. A file whose
/// `user_version` is newer than the last migration (written by a newer QuantWatch) is refused,
/// never altered. Append migrations; never edit one that has shipped.
enum Schema {
    /// `PRAGMA application_id` of a QuantWatch metric store ("QWMS").
    static let applicationID: Int32 = 0x5157_4D53

    static let migrations: [Migration] = [
        Migration(version: 1, summary: "windows, events, shadow samples, models, outbox, counters", sql: """
            CREATE TABLE counters (
                name  TEXT PRIMARY KEY,
                value INTEGER NOT NULL
            ) WITHOUT ROWID;
            INSERT INTO counters (name, value) VALUES ('next_seq', 1), ('dropped_undelivered', 0), ('dropped_history', 0);

            CREATE TABLE windows (
                id           INTEGER PRIMARY KEY AUTOINCREMENT,
                start_ms     INTEGER NOT NULL,
                end_ms       INTEGER NOT NULL,
                model_sha256 TEXT NOT NULL,
                json         TEXT NOT NULL
            );
            CREATE INDEX windows_by_start ON windows (start_ms);

            CREATE TABLE events (
                id    INTEGER PRIMARY KEY,
                ts_ms INTEGER NOT NULL,
                kind  TEXT NOT NULL,
                json  TEXT NOT NULL
            );
            CREATE INDEX events_by_ts ON events (ts_ms);

            CREATE TABLE shadow_samples (
                id           INTEGER PRIMARY KEY,
                ts_ms        INTEGER NOT NULL,
                model_sha256 TEXT NOT NULL,
                json         TEXT NOT NULL,
                data         BLOB
            );

            CREATE TABLE models (
                sha256        TEXT PRIMARY KEY,
                name          TEXT NOT NULL,
                version       TEXT NOT NULL,
                path          TEXT NOT NULL,
                installed_ms  INTEGER NOT NULL,
                activated_ms  INTEGER,
                baseline_json TEXT,
                baseline_ms   INTEGER
            ) WITHOUT ROWID;

            CREATE TABLE outbox (
                seq       INTEGER PRIMARY KEY,
                topic     TEXT NOT NULL,
                ts_ms     INTEGER NOT NULL,
                payload   TEXT NOT NULL,
                window_id INTEGER
            );
            PRAGMA application_id = \(applicationID);
            """),
    ]

    static var latestVersion: Int32 { migrations.last?.version ?? 0 }

    /// Brings the database to the last version of `migrations`; returns the version it found.
    @discardableResult
    static func migrate(_ connection: SQLiteConnection, migrations: [Migration] = Schema.migrations) throws -> Int32 {
        for (index, migration) in migrations.enumerated() {
            precondition(migration.version == Int32(index + 1), "migrations must be numbered 1, 2, 3, … in order")
        }
        let latest = migrations.last?.version ?? 0
        let application = Int32(truncatingIfNeeded: try connection.int64("PRAGMA application_id") ?? 0)
        if application != 0 && application != applicationID {
            throw MetricStoreError.foreignDatabase(path: connection.path, applicationID: application)
        }
        let found = Int32(truncatingIfNeeded: try connection.int64("PRAGMA user_version") ?? 0)
        if found > latest {
            throw MetricStoreError.newerSchema(path: connection.path, found: found, supported: latest)
        }
        for migration in migrations where migration.version > found {
            try connection.transaction {
                try connection.exec(migration.sql)
                try connection.exec("PRAGMA user_version = \(migration.version)")
            }
        }
        return found
    }
}
