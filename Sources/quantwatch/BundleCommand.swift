import ArgumentParser
import Documents
import Foundation
import ModelUpdate
import QuantWatchDaemon

struct KeygenCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "keygen",
        abstract: "Makes an Ed25519 key pair for signing model bundles.",
        discussion: """
            Writes BASE.key (the private key, mode 0600: keep it off the devices) and BASE.pub (copy it to each
            device and list it in update.trusted_keys). Both are PEM, as `openssl genpkey -algorithm ed25519` and
            `openssl pkey -pubout` write them. Prints the key's id (the first 16 hex digits of the SHA-256 of its
            raw public key), which bundles and refusals name.
            """)

    @Option(name: .shortAndLong, help: ArgumentHelp("Path of the pair without extension.", valueName: "BASE")) var output: String

    func run() throws {
        try withUserErrors {
            let (privatePath, publicPath, id) = try KeyFiles.generate(base: output)
            print("key \(id)\n  private: \(privatePath) (keep it secret)\n  public:  \(publicPath) (list it in update.trusted_keys on devices)")
        }
    }
}

struct BundleCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bundle",
        abstract: "Makes and checks signed model bundles (docs/model-updates.md).",
        subcommands: [BundleCreateCommand.self, BundleVerifyCommand.self, BundleInstallCommand.self])
}

struct BundleCreateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "create",
        abstract: "Signs an int8 model and its float reference into a bundle.",
        discussion: """
            Both models are loaded and paired first: a bundle that cannot load is never made. The manifest takes the
            input shape and type from the models. Canary frames (--frames: a directory of .npy model inputs or one
            stacked .npy) travel with the bundle; devices check the new int8 model against its float reference on
            them and on their own recent frames.
            """)

    @Option(name: .long, help: ArgumentHelp("The int8 ONNX model.", valueName: "FILE")) var int8: String
    @Option(name: .long, help: ArgumentHelp("Its float reference.", valueName: "FILE")) var float: String
    @Option(name: .long, help: "The model's name.") var name: String
    @Option(name: .long, help: "The version: a positive integer greater than the installed one.") var version: Int
    @Option(name: .long, help: ArgumentHelp("The private key (PEM, from quantwatch keygen).", valueName: "FILE")) var key: String
    @Option(name: .long, help: ArgumentHelp("Canary frames: a directory of .npy inputs or one stacked .npy.", valueName: "PATH")) var frames: String?
    @Option(name: .long, help: "At most this many canary frames.") var maxFrames = 64
    @Option(name: .customLong("output-name"), help: "The compared output (default: the float model's first).") var outputName: String?
    @Option(name: .long, help: ArgumentHelp("The [preprocessing] keys the model expects, as a JSON object (e.g. {\"color\": \"rgb\"}).", valueName: "FILE"))
    var preprocessing: String?
    @Option(name: .long, help: "Canary: least mean SQNR in dB.") var minSqnr: Double?
    @Option(name: .long, help: "Canary: least top-1 agreement (0…1).") var minAgreement: Double?
    @Option(name: .long, help: "Canary: most mean saturation (0…1).") var maxSaturation: Double?
    @Flag(name: .long, help: "Allow devices to install this version over a newer one (signed into the manifest).") var downgrade = false
    @Option(name: .shortAndLong, help: ArgumentHelp("The bundle file to write.", valueName: "FILE")) var output: String

    func validate() throws {
        guard version > 0 else { throw ValidationError("--version must be a positive integer") }
        guard maxFrames >= 0 else { throw ValidationError("--max-frames must be ≥ 0") }
    }

    func run() throws {
        try withUserErrors {
            var request = BundleRequest(int8: int8, float: float, name: name, version: version, keyPath: key, output: output)
            request.frames = frames
            request.maxFrames = maxFrames
            request.compared = outputName
            request.downgrade = downgrade
            if let preprocessing {
                let data = try Data(contentsOf: URL(fileURLWithPath: preprocessing))
                guard case let .object(keys)? = try? JSONDecoder().decode(JSONValue.self, from: data) else {
                    throw CLIError("\(preprocessing): not a JSON object of [preprocessing] keys (e.g. {\"color\": \"rgb\", \"scale\": 0.0039})")
                }
                request.preprocessing = keys
            }
            if minSqnr != nil || minAgreement != nil || maxSaturation != nil {
                request.canary = Manifest.Canary(minSQNR: minSqnr, minAgreement: minAgreement, maxSaturation: maxSaturation)
            }
            let (manifest, keyID) = try BundleBuilder.create(request)
            let size = (try? FileManager.default.attributesOfItem(atPath: output)[.size] as? Int) ?? 0
            print("wrote \(output): \(manifest.name) version \(manifest.version), \(manifest.files.count) files, \(size) bytes, signed by key \(keyID)")
        }
    }
}

struct BundleVerifyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "verify",
        abstract: "Checks a bundle: format, every file's hash and size, and the signature against public keys.",
        discussion: "Exits non-zero naming what is wrong. Without --key the signature is not checked (the signer's key id is shown).")

    @Argument(help: ArgumentHelp("The bundle.", valueName: "BUNDLE")) var bundle: String
    @Option(name: .long, help: ArgumentHelp("A trusted public key (PEM); repeatable.", valueName: "FILE")) var key: [String] = []

    func run() throws {
        try withUserErrors {
            let file = try BundleFile.open(path: bundle)
            let result = try file.verify(trusted: try KeyFiles.readTrusted(paths: key))
            let m = result.manifest
            print("\(bundle): \(m.name) version \(m.version), created \(m.created)\(m.downgrade ? ", downgrade allowed" : "")")
            print("  transfer id \(result.transferID); header \(file.headerBytes.count) bytes, payload \(file.payloadSize) bytes")
            print("  input \(m.input.dtype) \(m.input.shape)\(m.output.map { ", compared output '\($0)'" } ?? "")")
            for f in m.files { print("  \(f.role.rawValue.padding(toLength: 6, withPad: " ", startingAt: 0)) \(f.name)  \(f.size) bytes  sha256 \(f.sha256)  ok") }
            if let p = m.preprocessing { print("  preprocessing: \(p.keys.sorted().map { "\($0) = \(p[$0]!)" }.joined(separator: ", "))") }
            if let c = m.canary {
                print("  canary: " + [c.minSQNR.map { "SQNR ≥ \($0) dB" }, c.minAgreement.map { "agreement ≥ \($0)" }, c.maxSaturation.map { "saturation ≤ \($0)" }]
                    .compactMap { $0 }.joined(separator: ", "))
            }
            if let by = result.verifiedBy {
                print("  signature: ok, key \(by.id) (\(by.source))")
            } else {
                print("  signature: not checked (no --key); signed by key \(result.signers.joined(separator: ", "))")
            }
        }
    }
}

struct BundleInstallCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "install",
        abstract: "Installs a bundle on this device without MQTT (provisioning, a bundle on a USB stick).",
        discussion: """
            The same checks as a pushed bundle, in the same order — signature against update.trusted_keys, hashes,
            version, load and pipeline fit, the canary on the bundled frames — then the same atomic switch into the
            inactive slot of update.state_dir. The daemon serves it from its next start (with the probation).
            Refused while a daemon runs on the same state directory: push to it instead.
            """)

    @Option(name: .long, help: ArgumentHelp("The daemon's configuration.", valueName: "FILE")) var config: String = "/etc/quantwatch/quantwatch.toml"
    @Argument(help: ArgumentHelp("The bundle.", valueName: "BUNDLE")) var bundle: String

    func run() throws {
        try withUserErrors {
            let configuration = try Configuration.load(path: config)
            let slots = try configuration.lockedModelSlots()
            let (serving, record, notes) = slots.resolve()
            for note in notes { FileHandle.standardError.write(Data("note: \(note)\n".utf8)) }
            let input = try UpdateInstaller.load(serving).int8.inputs[0].type
            let policy = try configuration.updatePolicy(pipelineInput: input)
            let installer = UpdateInstaller(slots: slots, policy: policy, recent: nil, serving: serving, record: record)
            let file = try BundleFile.open(path: bundle)
            let candidate = try installer.prepare(headerBytes: file.headerBytes, payloadPath: file.path, payloadOffset: file.payloadOffset)
            let p = policy.probation
            let reference = ProbationReference(sqnrDb: candidate.thresholds.minSQNR + p.marginDb, agreement: candidate.thresholds.minAgreement + p.marginAgreement,
                                               source: "canary thresholds")
            let now = Int64(Date().timeIntervalSince1970 * 1000)
            let active = try installer.commit(candidate, reference: reference, nowMs: now)
            print("installed \(candidate.manifest.name) version \(candidate.manifest.version) into slot \(active.slot.rawValue) of \(slots.directory) "
                + "(was \(serving.name) version \(serving.version)); canary \(candidate.figures.summary)")
        }
    }
}
