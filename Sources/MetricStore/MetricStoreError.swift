/// Errors of the store itself (SQLite's own failures are `SQLiteError`).
public enum MetricStoreError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The file was written by a newer QuantWatch (its `user_version` is past our last migration).
    /// The file is left untouched.
    case newerSchema(path: String, found: Int32, supported: Int32)
    /// The file is an SQLite database of some other application (`PRAGMA application_id`).
    /// The file is left untouched.
    case foreignDatabase(path: String, applicationID: Int32)
    /// An option is out of range.
    case invalidOptions(String)
    /// `setBaseline` / `activateModel` named a model the store does not hold.
    case unknownModel(sha256: String)
    /// A file read with `MetricStoreReader` is missing, damaged or unreadable (it is left as it is).
    case unreadable(path: String, reason: String)
    /// The damaged file could not be moved aside (e.g. the directory is not writable).
    case cannotMoveAside(path: String, to: String, errno: Int32)

    public var description: String {
        switch self {
        case let .newerSchema(path, found, supported):
            "\(path) has schema version \(found), newer than this QuantWatch supports (\(supported)); "
                + "it was written by a newer release: run that release, or move the file away to start a new buffer"
        case let .foreignDatabase(path, applicationID):
            "\(path) is an SQLite database of another application (application_id \(applicationID)), not a QuantWatch metric store"
        case let .invalidOptions(message):
            "invalid metric store options: \(message)"
        case let .unknownModel(sha256):
            "no model with sha256 \(sha256) in the metric store"
        case let .unreadable(path, reason):
            "cannot read the metric store \(path): \(reason)"
        case let .cannotMoveAside(path, to, errno):
            "cannot move the damaged metric store \(path) aside to \(to): errno \(errno)"
        }
    }
}
