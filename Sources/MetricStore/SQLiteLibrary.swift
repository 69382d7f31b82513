import CSQLite

/// The SQLite library this build links against (the metric buffer's engine).
public enum SQLiteLibrary {
    /// The runtime library's version, e.g. "3.40.1".
    public static var version: String { String(cString: sqlite3_libversion()) }

    /// True when the library was built thread-safe, which the store relies on.
    public static var isThreadSafe: Bool { sqlite3_threadsafe() != 0 }
}
