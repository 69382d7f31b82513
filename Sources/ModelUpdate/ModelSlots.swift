// A/B slots in the state directory (RAUC/Mender style): `<state>/models/a/`, `<state>/models/b/`, and
// `active.json` naming the serving slot, the previous one and the probation. A slot holds the signed
// header (`header.json`) and the manifest's files; it counts only when every file matches the signed
// manifest, so a slot half-written when the power went is never served.
import Foundation

/// Where a serving model comes from: a slot, or the configuration's `model.int8` / `model.float`.
public enum Slot: String, Sendable, Codable, Equatable {
    case a, b, configured
    public var other: Slot { self == .a ? .b : .a }
}

/// The model pair serving (or that served): its files and identity.
public struct ServingModel: Sendable, Equatable, Codable {
    public var slot: Slot
    public var name: String
    public var version: Int
    public var int8Path: String
    public var floatPath: String
    public var framePaths: [String]
    public var output: String?
    public init(slot: Slot, name: String, version: Int, int8Path: String, floatPath: String, framePaths: [String] = [], output: String? = nil) {
        self.slot = slot
        self.name = name
        self.version = version
        self.int8Path = int8Path
        self.floatPath = floatPath
        self.framePaths = framePaths
        self.output = output
    }
}

/// A probation in progress (persisted: it survives a restart).
public struct ProbationRecord: Sendable, Equatable, Codable {
    public var startedMs: Int64
    public var untilMs: Int64
    /// The previous model's figures the new one is held to.
    public var reference: ProbationReference
    public init(startedMs: Int64, untilMs: Int64, reference: ProbationReference) {
        self.startedMs = startedMs
        self.untilMs = untilMs
        self.reference = reference
    }
    enum CodingKeys: String, CodingKey { case startedMs = "started_ms", untilMs = "until_ms", reference }
}

/// `active.json`.
public struct ActiveRecord: Sendable, Equatable, Codable {
    public var slot: Slot
    public var previous: Slot?
    public var name: String
    public var version: Int
    public var installedMs: Int64
    public var probation: ProbationRecord?
    public init(slot: Slot, previous: Slot?, name: String, version: Int, installedMs: Int64, probation: ProbationRecord?) {
        self.slot = slot
        self.previous = previous
        self.name = name
        self.version = version
        self.installedMs = installedMs
        self.probation = probation
    }
    enum CodingKeys: String, CodingKey { case slot, previous, name, version, installedMs = "installed_ms", probation }
}

public final class ModelSlots: @unchecked Sendable {
    public let directory: String
    private var lockDescriptor: Int32 = -1
    /// The configuration's model pair: served when no slot is active or every slot is damaged.
    public let configured: ServingModel

    public init(stateDirectory: String, configured: ServingModel) throws(UpdateRefusal) {
        directory = stateDirectory + "/models"
        self.configured = configured
        for path in [directory, directory + "/a", directory + "/b"] {
            do { try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true) } catch {
                throw UpdateRefusal(.install, "\(path): cannot be created (\(error.localizedDescription)); expected a writable state directory")
            }
        }
    }

    deinit { if lockDescriptor >= 0 { close(lockDescriptor) } }

    /// Takes `models/lock` (flock, exclusive) for the life of this object: one writer of the slots at a time.
    public func lock() throws(UpdateRefusal) {
        guard lockDescriptor < 0 else { return }
        let fd = open(directory + "/lock", O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw UpdateRefusal(.install, "\(directory)/lock cannot be opened (errno \(errno))") }
        guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
            close(fd)
            throw UpdateRefusal(.install, "\(directory) is in use by another quantwatch process (a running daemon: push the bundle to it instead)")
        }
        lockDescriptor = fd
    }

    public var recordPath: String { directory + "/active.json" }
    public func path(of slot: Slot) -> String { directory + "/" + slot.rawValue }

    /// The record, if any (nil when absent; a damaged record is reported and treated as absent).
    public func record() -> (record: ActiveRecord?, problem: String?) {
        guard let data = FileManager.default.contents(atPath: recordPath) else { return (nil, nil) }
        do { return (try JSONDecoder().decode(ActiveRecord.self, from: data), nil) } catch {
            return (nil, "\(recordPath) cannot be read (\(error)); serving the configured model")
        }
    }

    public func saveRecord(_ record: ActiveRecord?) throws(UpdateRefusal) {
        guard let record else {
            if FileManager.default.fileExists(atPath: recordPath) {
                guard unlink(recordPath) == 0 else { throw UpdateRefusal(.install, "\(recordPath): cannot be removed (errno \(errno))") }
                try FileSystem.syncDirectory(directory)
            }
            return
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted]
        do { try FileSystem.writeAtomically(Array(try encoder.encode(record)), to: recordPath) } catch let r as UpdateRefusal { throw r } catch {
            throw UpdateRefusal(.install, "\(recordPath): \(error)")
        }
    }

    /// A slot's model if the slot is complete: its header decodes and every file matches its manifest.
    public func model(in slot: Slot) throws(UpdateRefusal) -> ServingModel {
        if slot == .configured { return configured }
        let dir = path(of: slot)
        guard let header = FileManager.default.contents(atPath: dir + "/header.json") else {
            throw UpdateRefusal(.install, "slot \(slot.rawValue) holds no complete bundle (\(dir)/header.json is missing)")
        }
        let manifest = try Manifest.decode(try SignedHeader.decode(Array(header)).manifestBytes)
        for file in manifest.files {
            let path = dir + "/" + file.name
            let size = (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? Int) ?? -1
            guard size == file.size else { throw UpdateRefusal(.hashes, "slot \(slot.rawValue): \(file.name) is \(size < 0 ? "missing" : "\(size) bytes"); the manifest says \(file.size) bytes") }
            let digest: String
            do { digest = try BundleFile.sha256(path: path, offset: 0, count: size) } catch { throw UpdateRefusal(.hashes, "slot \(slot.rawValue): \(file.name): \(error)") }
            guard digest == file.sha256 else { throw UpdateRefusal(.hashes, "slot \(slot.rawValue): \(file.name) does not match its manifest's sha256") }
        }
        return Self.serving(manifest, in: slot, directory: dir)
    }

    static func serving(_ manifest: Manifest, in slot: Slot, directory dir: String) -> ServingModel {
        ServingModel(slot: slot, name: manifest.name, version: manifest.version, int8Path: dir + "/" + manifest.int8.name,
                     floatPath: dir + "/" + manifest.float.name, framePaths: manifest.frames.map { dir + "/" + $0.name }, output: manifest.output)
    }

    /// What to serve at start: the record's slot if complete, else its previous slot, else the
    /// configured pair. `notes` say what was passed over and why (for the log and an event).
    public func resolve() -> (serving: ServingModel, record: ActiveRecord?, notes: [String]) {
        var notes: [String] = []
        let (record, problem) = self.record()
        if let problem { notes.append(problem) }
        guard let record else { return (configured, nil, notes) }
        for candidate in [record.slot] + (record.previous.map { [$0] } ?? []) {
            do {
                let model = try model(in: candidate)
                if candidate == record.slot { return (model, record, notes) }
                // Fell back to the previous slot: it serves now, with no probation.
                let fallback = ActiveRecord(slot: candidate, previous: nil, name: model.name, version: model.version, installedMs: record.installedMs, probation: nil)
                return (model, fallback, notes)
            } catch {
                notes.append("slot \(candidate.rawValue) cannot serve: \(error)")
            }
        }
        return (configured, nil, notes)
    }

    /// Makes a slot incomplete (its signed header removed): it will not be served or rolled back to.
    public func discard(_ slot: Slot) {
        guard slot != .configured else { return }
        unlink(path(of: slot) + "/header.json")
        try? FileSystem.syncDirectory(path(of: slot))
    }

    /// Writes a verified payload into `slot` (never the serving one): old contents removed, each file
    /// written, fsynced and renamed, then the signed header last — the slot is complete only then.
    public func write(headerBytes: [UInt8], manifest: Manifest, payloadPath: String, payloadOffset: Int = 0, into slot: Slot) throws(UpdateRefusal) -> ServingModel {
        precondition(slot != .configured)
        let dir = path(of: slot)
        if let names = try? FileManager.default.contentsOfDirectory(atPath: dir) {
            for name in names { unlink(dir + "/" + name) }
        }
        try FileSystem.syncDirectory(dir)
        try Payload.extract(manifest, path: payloadPath, offset: payloadOffset, into: dir)
        try FileSystem.writeAtomically(headerBytes, to: dir + "/header.json")
        return Self.serving(manifest, in: slot, directory: dir)
    }
}
