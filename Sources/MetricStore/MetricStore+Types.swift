extension MetricStore {
    /// `PRAGMA synchronous` in WAL mode.
    public enum Synchronous: String, Sendable {
        /// The WAL is fsynced at every commit: a committed window survives a power cut. The default.
        case full = "FULL"
        /// No fsync at commit (only at checkpoints): a committed window survives a crash of the
        /// process (SIGKILL) but the last commits may be lost in a power cut.
        case normal = "NORMAL"
    }

    public struct Options: Sendable {
        /// The database file; its directory must exist and be writable (SQLite creates `-wal` and
        /// `-shm` beside it, and a damaged file is moved aside there).
        public var path: String
        /// The most bytes the main database file's live pages may hold ((page_count −
        /// freelist_count) · page_size, all tables and indexes): after each commit the oldest rows
        /// are deleted until the store is back under it, so the file never grows past the cap plus
        /// one commit. The WAL (bounded by `walByteLimit`) and the 32 KiB `-shm` are not included.
        /// At least 64 KiB.
        public var byteCap: Int64
        /// The WAL is checkpointed when it reaches this size and truncated back to it afterwards
        /// (`wal_autocheckpoint`, `journal_size_limit`); a single commit larger than this grows it
        /// past it until the next checkpoint.
        public var walByteLimit: Int64
        /// How many shadow samples are kept (the newest); older ones are deleted at each commit.
        public var shadowSampleLimit: Int
        public var synchronous: Synchronous
        /// How long a statement waits for a lock held by another connection (e.g. an operator's
        /// `sqlite3` shell) before failing with SQLITE_BUSY.
        public var busyTimeoutMs: Int32
        /// Run `PRAGMA quick_check` when opening (reads the whole file: about a second for 64 MiB
        /// on an SD card); a failure moves the file aside.
        public var checkOnOpen: Bool

        public init(path: String, byteCap: Int64 = 64 << 20, walByteLimit: Int64 = 4 << 20, shadowSampleLimit: Int = 256,
                    synchronous: Synchronous = .full, busyTimeoutMs: Int32 = 5000, checkOnOpen: Bool = true) {
            self.path = path
            self.byteCap = byteCap
            self.walByteLimit = walByteLimit
            self.shadowSampleLimit = shadowSampleLimit
            self.synchronous = synchronous
            self.busyTimeoutMs = busyTimeoutMs
            self.checkOnOpen = checkOnOpen
        }

        func validate() throws {
            guard !path.isEmpty else { throw MetricStoreError.invalidOptions("path is empty") }
            guard byteCap >= 64 << 10 else { throw MetricStoreError.invalidOptions("byteCap \(byteCap) is below the minimum 65536 bytes") }
            guard walByteLimit >= 64 << 10 else {
                throw MetricStoreError.invalidOptions("walByteLimit \(walByteLimit) is below the minimum 65536 bytes")
            }
            guard shadowSampleLimit >= 0 else { throw MetricStoreError.invalidOptions("shadowSampleLimit \(shadowSampleLimit) is negative") }
            guard busyTimeoutMs >= 0 else { throw MetricStoreError.invalidOptions("busyTimeoutMs \(busyTimeoutMs) is negative") }
        }
    }

    // MARK: - What a commit stores

    /// One aggregation window's row (the local history `windows(sinceMs:)` reads).
    public struct WindowRow: Sendable, Equatable {
        public var startMs: Int64
        public var endMs: Int64
        public var modelSHA256: String
        public var json: String

        public init(startMs: Int64, endMs: Int64, modelSHA256: String, json: String) {
            self.startMs = startMs
            self.endMs = endMs
            self.modelSHA256 = modelSHA256
            self.json = json
        }
    }

    /// A document to publish. The store assigns its seq inside the commit's transaction and calls
    /// `payload(seq)` so the stored text carries its own seq.
    public struct Document {
        /// The topic suffix after `<prefix>/<device>/`: "metrics", "events", "layers", "status", …
        public var topic: String
        public var tsMs: Int64
        public var payload: (_ seq: Int64) throws -> String

        public init(topic: String, tsMs: Int64, payload: @escaping (_ seq: Int64) throws -> String) {
            self.topic = topic
            self.tsMs = tsMs
            self.payload = payload
        }
    }

    public struct EventRow: Sendable, Equatable {
        public var tsMs: Int64
        public var kind: String
        public var json: String

        public init(tsMs: Int64, kind: String, json: String) {
            self.tsMs = tsMs
            self.kind = kind
            self.json = json
        }
    }

    /// A shadow run's sample: JSON, optionally with raw bytes (e.g. a tensor).
    public struct SampleRow: Sendable, Equatable {
        public var tsMs: Int64
        public var modelSHA256: String
        public var json: String
        public var data: [UInt8]?

        public init(tsMs: Int64, modelSHA256: String, json: String, data: [UInt8]? = nil) {
            self.tsMs = tsMs
            self.modelSHA256 = modelSHA256
            self.json = json
            self.data = data
        }
    }

    /// What one `commit` stores, in one transaction.
    public struct Batch {
        public var window: WindowRow?
        public var documents: [Document]
        public var events: [EventRow]
        public var shadowSamples: [SampleRow]

        public init(window: WindowRow? = nil, documents: [Document] = [], events: [EventRow] = [], shadowSamples: [SampleRow] = []) {
            self.window = window
            self.documents = documents
            self.events = events
            self.shadowSamples = shadowSamples
        }
    }

    // MARK: - Results

    /// Undelivered documents deleted for the byte cap: how many, and the lowest and highest seq
    /// among them (the range may contain seqs already delivered).
    public struct Dropped: Sendable, Equatable {
        public var count: Int
        public var firstSeq: Int64
        public var lastSeq: Int64

        public init(count: Int, firstSeq: Int64, lastSeq: Int64) {
            self.count = count
            self.firstSeq = firstSeq
            self.lastSeq = lastSeq
        }
    }

    public struct CommitResult: Sendable, Equatable {
        /// The seqs given to the batch's documents, in order (empty when it had none).
        public var seqs: Range<Int64>
        /// The window row's id, when the batch had a window.
        public var windowID: Int64?
        /// Undelivered documents deleted for the byte cap; when set, a `buffer_overflow` event row
        /// was stored in the same transaction, and the caller should publish an event document.
        public var dropped: Dropped?
        /// Older windows, events and shadow samples deleted for the byte cap.
        public var historyRowsDropped: Int
        /// Set when SQLite reported the file damaged during this commit: it was moved aside and
        /// the batch committed to a new file.
        public var recovery: Recovery?
    }

    /// An undelivered document.
    public struct OutboxRow: Sendable, Equatable {
        public var seq: Int64
        public var topic: String
        public var tsMs: Int64
        public var payload: String
        public var windowID: Int64?

        public init(seq: Int64, topic: String, tsMs: Int64, payload: String, windowID: Int64?) {
            self.seq = seq
            self.topic = topic
            self.tsMs = tsMs
            self.payload = payload
            self.windowID = windowID
        }
    }

    public struct Stats: Sendable, Equatable {
        public var pendingRows: Int
        public var oldestPendingSeq: Int64?
        public var nextSeq: Int64
        public var windowRows: Int
        public var eventRows: Int
        public var sampleRows: Int
        /// (page_count − freelist_count) · page_size: what the cap limits.
        public var usedBytes: Int64
        /// The main database file's size on disk.
        public var fileBytes: Int64
        public var walBytes: Int64
        public var byteCap: Int64
        /// Undelivered documents dropped for the cap since the file was created.
        public var droppedUndeliveredTotal: Int64
        /// Windows, events and samples dropped for the cap since the file was created.
        public var droppedHistoryTotal: Int64
    }

    /// A damaged or unreadable database that was moved aside and replaced by a new one.
    public struct Recovery: Sendable, Equatable, CustomStringConvertible {
        public enum Reason: String, Sendable {
            /// The file is not an SQLite database (SQLITE_NOTADB: garbage, a wrong header).
            case notADatabase = "not_a_database"
            /// SQLITE_CORRUPT, or `PRAGMA quick_check` found damage (a truncated or overwritten file).
            case corrupt
            /// The file exists but cannot be opened for reading and writing (permissions, a directory).
            case unreadable
        }

        /// The store's path (where the new file now is).
        public var path: String
        /// Where the damaged file went: `<path>.corrupt-<UTC yyyyMMddTHHmmssZ>`, with its `-wal`
        /// and `-shm` beside it as `<movedTo>-wal` / `<movedTo>-shm` (so `sqlite3 <movedTo>` sees them).
        public var movedTo: String
        /// Every file moved: the database, and its -wal / -shm when they existed.
        public var movedFiles: [String]
        public var reason: Reason
        /// SQLite's message or quick_check's findings.
        public var detail: String
        /// The SQLite result code, when SQLite reported the damage.
        public var sqliteCode: Int32?
        public var atMs: Int64
        /// Where the new file's seq counter starts: the damaged file's counter when it could still be
        /// read, otherwise the wall clock in milliseconds (above any seq issued at under one document
        /// per millisecond), so a seq is never reused.
        public var nextSeq: Int64
        public var seqSalvaged: Bool

        public var description: String {
            "metric store \(path) was \(reason.rawValue.replacingUnderscores) (\(detail)); moved to \(movedTo), "
                + "started a new one (next seq \(nextSeq)\(seqSalvaged ? "" : ", from the clock"))"
        }
    }
}

extension String {
    fileprivate var replacingUnderscores: String { String(map { $0 == "_" ? " " : $0 }) }
}
