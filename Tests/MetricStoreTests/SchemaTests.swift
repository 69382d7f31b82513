import Foundation
import Testing
@testable import MetricStore

@Suite struct SchemaTests {
    @Test func aNewFileGetsEveryTableTheLatestVersionAndTheApplicationID() throws {
        let directory = try TemporaryDirectory()
        let path = directory.path("metrics.db")
        let store = try MetricStore(options: .init(path: path))
        store.close()
        let tables = try SQLiteConnection(path: path).texts("SELECT name FROM sqlite_schema WHERE type = 'table' ORDER BY name")
        #expect(tables == ["counters", "events", "models", "outbox", "shadow_samples", "sqlite_sequence", "windows"])
        #expect(try query(path, "PRAGMA user_version") == String(Schema.latestVersion))
        #expect(try query(path, "PRAGMA application_id") == String(Schema.applicationID))
        #expect(try query(path, "PRAGMA auto_vacuum") == "2")  // INCREMENTAL
    }

    @Test func walJournalAndFullSynchronousAreOnAndTheWALFileIsUsed() throws {
        let directory = try TemporaryDirectory()
        let path = directory.path("metrics.db")
        let store = try MetricStore(options: .init(path: path))
        #expect(try store.connection.text("PRAGMA journal_mode") == "wal")
        #expect(try store.connection.text("PRAGMA synchronous") == "2")  // FULL
        try store.commit(.window(0))
        #expect(fileBytes(path + "-wal") > 0, "a commit in WAL mode appends to metrics.db-wal")
        store.close()
        // WAL mode is persistent: a plain connection opening the file sees it.
        #expect(try query(path, "PRAGMA journal_mode") == "wal")

        let normal = try MetricStore(options: .init(path: path, synchronous: .normal))
        #expect(try normal.connection.text("PRAGMA synchronous") == "1")
    }

    @Test func migrationsRunInOrderFromAnOlderVersionAndKeepTheRows() throws {
        let directory = try TemporaryDirectory()
        let path = directory.path("old.db")
        let v1 = Migration(version: 1, summary: "t", sql: "CREATE TABLE t (a INTEGER); INSERT INTO t VALUES (1);")
        let v2 = Migration(version: 2, summary: "t.b", sql: "ALTER TABLE t ADD COLUMN b TEXT DEFAULT 'two';")
        let v3 = Migration(version: 3, summary: "u", sql: "CREATE TABLE u (c INTEGER); INSERT INTO u SELECT a + 10 FROM t;")
        let connection = try SQLiteConnection(path: path)
        #expect(try Schema.migrate(connection, migrations: [v1]) == 0)
        #expect(try connection.int64("PRAGMA user_version") == 1)
        #expect(try Schema.migrate(connection, migrations: [v1, v2, v3]) == 1)
        #expect(try connection.int64("PRAGMA user_version") == 3)
        #expect(try connection.text("SELECT b FROM t") == "two")
        #expect(try connection.int64("SELECT c FROM u") == 11)
    }

    @Test func aFailingMigrationLeavesTheFileAtTheLastCompletedVersion() throws {
        let directory = try TemporaryDirectory()
        let connection = try SQLiteConnection(path: directory.path("m.db"))
        let v1 = Migration(version: 1, summary: "t", sql: "CREATE TABLE t (a INTEGER);")
        let v2 = Migration(version: 2, summary: "broken", sql: "CREATE TABLE half (a INTEGER); INSERT INTO nowhere VALUES (1);")
        #expect(throws: SQLiteError.self) { try Schema.migrate(connection, migrations: [v1, v2]) }
        #expect(try connection.int64("PRAGMA user_version") == 1)
        #expect(try connection.int64("SELECT count(*) FROM sqlite_schema WHERE name = 'half'") == 0)
    }

    @Test func theRealSchemaMigratesAnEmptyVersionZeroFile() throws {
        let directory = try TemporaryDirectory()
        let path = directory.path("metrics.db")
        _ = FileManager.default.createFile(atPath: path, contents: Data())  // a zero-length file is an empty database
        let store = try MetricStore(options: .init(path: path))
        #expect(store.recovery == nil)
        #expect(try store.connection.int64("PRAGMA user_version") == Int64(Schema.latestVersion))
        #expect(try store.commit(.window(0)).seqs == 1..<2)
    }

    @Test func aFileFromANewerSchemaIsRefusedAndLeftUntouched() throws {
        let directory = try TemporaryDirectory()
        let path = directory.path("metrics.db")
        let store = try MetricStore(options: .init(path: path))
        try store.commit(.window(0))
        try store.connection.exec("PRAGMA user_version = \(Schema.latestVersion + 1)")
        store.close()
        let before = try Data(contentsOf: URL(fileURLWithPath: path))

        #expect(throws: MetricStoreError.newerSchema(path: path, found: Schema.latestVersion + 1, supported: Schema.latestVersion)) {
            try MetricStore(options: .init(path: path))
        }
        #expect(try Data(contentsOf: URL(fileURLWithPath: path)) == before)
        #expect(directory.files.allSatisfy { !$0.contains("corrupt") }, "a newer file is not moved aside: \(directory.files)")
        let message = MetricStoreError.newerSchema(path: path, found: 2, supported: 1).description
        #expect(message.contains(path) && message.contains("newer"))
    }

    @Test func anotherApplicationsDatabaseIsRefusedNotMigrated() throws {
        let directory = try TemporaryDirectory()
        let path = directory.path("other.db")
        let other = try SQLiteConnection(path: path)
        try other.exec("PRAGMA application_id = 42; CREATE TABLE theirs (x);")
        other.close()
        #expect(throws: MetricStoreError.foreignDatabase(path: path, applicationID: 42)) { try MetricStore(options: .init(path: path)) }
        #expect(try query(path, "SELECT count(*) FROM sqlite_schema") == "1")
    }

    @Test func optionsOutOfRangeAreRefusedWithTheirName() throws {
        let directory = try TemporaryDirectory()
        #expect(throws: MetricStoreError.self) { try MetricStore(options: .init(path: directory.path("a.db"), byteCap: 1000)) }
        do {
            _ = try MetricStore(options: .init(path: directory.path("a.db"), shadowSampleLimit: -1))
            Issue.record("a negative sample limit was accepted")
        } catch let error as MetricStoreError {
            #expect(error.description.contains("shadowSampleLimit"))
        }
    }

    @Test func aMissingDirectoryIsAnErrorNamingThePathNotARecovery() throws {
        let directory = try TemporaryDirectory()
        let path = directory.path("no/such/dir/metrics.db")
        do {
            _ = try MetricStore(options: .init(path: path))
            Issue.record("opened a store in a missing directory")
        } catch let error as SQLiteError {
            #expect(error.description.contains(path))
        }
    }
}
