// The daemon's configuration: Config/quantwatch.toml, every key documented in docs/configuration.md.
import Foundation
import FrameSources
import MetricStore
import ModelUpdate
import MQTTLink
import Monitor
import QuantMetrics
import TOMLKit

/// Everything `quantwatch run` is configured with. `load` reads it from a TOML file with
/// `QUANTWATCH_<SECTION>_<KEY>` environment overrides and rejects unknown keys, wrong types and bad
/// values, naming the key path, the value and what is allowed.
public struct Configuration: Sendable, Equatable {
    public struct Device: Sendable, Equatable {
        /// The device's name in topics and documents (default: the host name).
        public var id: String
        /// Its group (`<prefix>/group/<group>/cmd/…`), if any.
        public var group: String?
        public init(id: String, group: String? = nil) {
            self.id = id
            self.group = group
        }
    }

    public struct Model: Sendable, Equatable {
        /// The int8 ONNX model (absolute; relative paths in the file are taken from its directory).
        public var int8: String
        /// Its float reference (the shadow).
        public var float: String
        /// The name in documents (default: the int8 file's name without `.onnx`).
        public var name: String
        public var version: String
        /// The output compared (default: the model's first output).
        public var output: String?
        public init(int8: String, float: String, name: String? = nil, version: String = "0", output: String? = nil) {
            self.int8 = int8
            self.float = float
            self.name = name ?? Model.defaultName(int8)
            self.version = version
            self.output = output
        }

        static func defaultName(_ path: String) -> String {
            let file = URL(fileURLWithPath: path).lastPathComponent
            return file.hasSuffix(".onnx") ? String(file.dropLast(5)) : file
        }
    }

    public struct Store: Sendable, Equatable {
        public var path = "/var/lib/quantwatch/metrics.db"
        /// The cap on the buffer's live pages, in MiB (MetricStore.Options.byteCap).
        public var byteCapMB = 64
        public var synchronous = MetricStore.Synchronous.full
        public init() {}

        /// The store's options.
        public var options: MetricStore.Options {
            MetricStore.Options(path: path, byteCap: Int64(byteCapMB) << 20, synchronous: synchronous)
        }
    }

    public struct MQTT: Sendable, Equatable {
        public enum ProtocolVersion: String, Sendable, Equatable, CaseIterable {
            case v5 = "5"
            case v311 = "3.1.1"
        }

        /// `mqtt://host[:port]` (1883) or `mqtts://host[:port]` (TLS, 8883).
        public var url = "mqtt://localhost:1883"
        /// Parsed from `url`.
        public var host = "localhost"
        public var port = 1883
        public var tls = false
        /// Default `quantwatch-<device id>`.
        public var clientID: String
        public var username: String?
        /// A file holding the password (not the password itself: the configuration is world-readable).
        public var passwordFile: String?
        public var caFile: String?
        public var certFile: String?
        public var keyFile: String?
        public var keepaliveSeconds = 30
        public var prefix = "quantwatch"
        public var protocolVersion = ProtocolVersion.v5
        public var maxInflight = 32
        public init(clientID: String) { self.clientID = clientID }

        /// The MQTT link's settings (the wiring adds the Last Will and the reconnect back-off).
        public var linkConfiguration: MQTTConfiguration {
            var c = MQTTConfiguration(url: url, clientID: clientID)
            c.protocolVersion = protocolVersion == .v5 ? .v5 : .v311
            c.username = username
            c.passwordFile = passwordFile
            c.caFile = caFile
            c.certificateFile = certFile
            c.keyFile = keyFile
            c.keepAliveSeconds = keepaliveSeconds
            c.maxInflight = maxInflight
            return c
        }
    }

    /// Model updates (docs/model-updates.md): where transfers and slots live, the keys trusted, the limits,
    /// the canary and the probation.
    public struct Update: Sendable, Equatable {
        /// Transfers go to `<stateDir>/transfer/`, the A/B slots to `<stateDir>/models/`.
        public var stateDir = "/var/lib/quantwatch"
        /// Public keys (Ed25519 PEM files) whose signatures a bundle may carry.
        public var trustedKeys: [String] = []
        /// The largest bundle payload accepted, in MiB.
        public var maxBundleMB = 64
        /// A partial transfer with no new chunk for this long is deleted (seconds).
        public var transferExpirySeconds = 3600.0
        /// How long a new model is on probation after a switch (seconds).
        public var probationSeconds = 600.0
        /// Rolled back when its mean SQNR falls more than this below the previous model's baseline (dB).
        public var probationMarginDB = 3.0
        /// … or its top-1 agreement more than this below the previous baseline's.
        public var probationMarginAgreement = 0.05
        /// Shadowed frames on probation before those comparisons count.
        public var probationMinShadows = 30
        /// Canary thresholds a bundle's manifest does not set.
        public var canaryMinSQNRDB = 15.0
        public var canaryMinAgreement = 0.9
        public var canaryMaxSaturation = 1.0
        /// Recent frames kept for the canary.
        public var canaryFrames = 32
        public init() {}

        /// The transfer's settings.
        public var transferSettings: TransferSettings {
            TransferSettings(stateDirectory: stateDir, maxBundleBytes: maxBundleMB << 20, expirySeconds: transferExpirySeconds)
        }
    }

    public struct Log: Sendable, Equatable {
        /// swift-log's levels.
        public enum Level: String, Sendable, Equatable, CaseIterable {
            case trace, debug, info, notice, warning, error, critical
        }
        public var level = Level.info
        public init() {}
    }

    public var device: Device
    public var model: Model
    public var frames: FrameSourceSettings
    public var preprocessing: PreprocessingSettings
    public var monitor: MonitorConfiguration
    public var store: Store
    public var mqtt: MQTT
    public var update: Update
    public var log: Log

    public init(device: Device, model: Model, frames: FrameSourceSettings = FrameSourceSettings(),
                preprocessing: PreprocessingSettings = PreprocessingSettings(), monitor: MonitorConfiguration = MonitorConfiguration(),
                store: Store = Store(), mqtt: MQTT? = nil, update: Update = Update(), log: Log = Log()) {
        self.device = device
        self.model = model
        self.frames = frames
        self.preprocessing = preprocessing
        self.monitor = monitor
        self.store = store
        self.mqtt = mqtt ?? MQTT(clientID: "quantwatch-\(device.id)")
        self.update = update
        self.log = log
    }

    /// Keys (and sections: every key under them) a SIGHUP applies without a restart. Everything else
    /// needs one (`changes(from:to:)` tells which).
    public static let liveKeys = ["log.level", "monitor.shadow", "frames.fps"]

    /// Reads the file at `path`, then the `QUANTWATCH_*` variables of `environment` over it.
    /// - Throws: `ConfigurationError` (the first problem, the others in `additional`); exit with
    ///   `ConfigurationError.exitCode`.
    public static func load(path: String, environment: [String: String] = ProcessInfo.processInfo.environment) throws(ConfigurationError) -> Configuration {
        let text: String
        do { text = try String(contentsOfFile: path, encoding: .utf8) } catch {
            throw ConfigurationError(.unreadable, file: path, keyPath: "", allowed: "\(error.localizedDescription); expected a readable UTF-8 TOML file")
        }
        let base = URL(fileURLWithPath: path).deletingLastPathComponent().path
        return try parse(text, file: path, baseDirectory: base, environment: environment)
    }

    /// Parses TOML text (`file` names it in errors; relative paths are taken from `baseDirectory`).
    public static func parse(_ text: String, file: String, baseDirectory: String, environment: [String: String] = [:]) throws(ConfigurationError) -> Configuration {
        let table: TOMLTable
        do { table = try TOMLTable(string: text) } catch let error as TOMLParseError {
            throw ConfigurationError(.syntax, file: file, keyPath: "", allowed: error.description,
                                     line: error.source.begin.line, column: error.source.begin.column)
        } catch {
            throw ConfigurationError(.syntax, file: file, keyPath: "", allowed: "\(error)")
        }
        guard case .table(let root) = ConfigNode(table) else { preconditionFailure("a TOML document is a table") }
        var reader = ConfigurationReader(file: file, root: root, environment: environment, livePrefixes: liveKeys)
        let configuration = read(&reader, baseDirectory: baseDirectory)
        let problems = reader.unknownKeys() + reader.errors
        if var first = problems.first {
            first.additional = Array(problems.dropFirst())
            throw first
        }
        return configuration!
    }

    /// Every key the daemon reads, in file order, with its default and environment variable (what
    /// docs/configuration.md and Config/quantwatch.toml list).
    public static var keys: [ConfigurationKey] {
        var reader = ConfigurationReader(file: "", root: [:], environment: [:], livePrefixes: liveKeys)
        _ = read(&reader, baseDirectory: "/")
        return reader.keys
    }

    /// What differs between two configurations: the key paths SIGHUP can apply (`live`) and those
    /// that need a restart.
    public static func changes(from old: Configuration, to new: Configuration) -> (live: [String], restart: [String]) {
        let before = Dictionary(old.entries.map { ($0.path, $0.value) }, uniquingKeysWith: { a, _ in a })
        let after = Dictionary(new.entries.map { ($0.path, $0.value) }, uniquingKeysWith: { a, _ in a })
        var live: [String] = [], restart: [String] = []
        for key in keys.map(\.path) where before[key] != after[key] {
            if liveKeys.contains(where: { key == $0 || key.hasPrefix($0 + ".") }) { live.append(key) } else { restart.append(key) }
        }
        return (live, restart)
    }

    // MARK: - Reading every key

    private static func read(_ r: inout ConfigurationReader, baseDirectory: String) -> Configuration? {
        func absolute(_ path: String) -> String {
            path.hasPrefix("/") || path.isEmpty ? path : URL(fileURLWithPath: baseDirectory).appendingPathComponent(path).standardized.path
        }
        let name: ConfigValueType<String> = .string
        let topicSafe = "letters, digits, '.', '_' and '-' (no '/', '+', '#')"
        func isTopicSafe(_ s: String) -> Bool {
            !s.isEmpty && s.count <= 128 && s.unicodeScalars.allSatisfy { ("a"..."z").contains($0) || ("A"..."Z").contains($0) || ("0"..."9").contains($0) || ".-_".unicodeScalars.contains($0) }
        }

        // [device]
        let host = hostName().split(separator: ".").first.map(String.init) ?? "quantwatch"
        let deviceID = r.read("device.id", name, default: isTopicSafe(host) ? host : "quantwatch", defaultText: "the host name",
                              allowed: "the device's name in topics: " + topicSafe, valid: isTopicSafe)
        let group = r.read("device.group", name, required: false, allowed: "a group name in topics: " + topicSafe, valid: isTopicSafe)

        // [model]
        let int8 = r.read("model.int8", name, allowed: "the int8 ONNX model's path", valid: { !$0.isEmpty })
        let float = r.read("model.float", name, allowed: "the float reference model's path (the shadow)", valid: { !$0.isEmpty })
        let modelName = r.read("model.name", name, required: false, allowed: "the model's name in documents (default: the int8 file's name without .onnx)", valid: { !$0.isEmpty })
        let version = r.read("model.version", name, default: "0", allowed: "the model's version in documents", valid: { !$0.isEmpty })
        let output = r.read("model.output", name, required: false, allowed: "the output tensor compared (default: the first output)", valid: { !$0.isEmpty })

        // [frames]
        var frames = FrameSourceSettings()
        frames.source = r.read("frames.source", .choice(FrameSourceKind.self), default: frames.source,
                               allowed: "\"directory\" (replay files), \"stdin\", \"fifo\" (raw frames) or \"mqtt\" (tensors on a topic)") ?? frames.source
        frames.path = absolute(r.read("frames.path", name, default: frames.path, allowed: "the directory (directory) or named pipe (fifo)") ?? frames.path)
        frames.fps = r.read("frames.fps", .double, default: frames.fps, allowed: "frames per second of a directory replay, ≥ 0 (0: as fast as inference takes them)",
                            valid: { $0 >= 0 && $0.isFinite && $0 <= 1000 }) ?? frames.fps
        frames.loop = r.read("frames.loop", .bool, default: frames.loop, allowed: "true or false: replay the directory again after its last frame") ?? frames.loop
        frames.order = r.read("frames.order", .choice(FrameOrder.self), default: frames.order, allowed: "\"name\" (sorted) or \"shuffle\" (a new order each pass)") ?? frames.order
        frames.format = r.read("frames.format", .choice(FrameFormat.self), default: frames.format,
                               allowed: "\"npy\", \"grey\", \"rgb24\" or \"yuv420\" (I420, BT.601 limited range)") ?? frames.format
        frames.width = r.read("frames.width", .int, default: frames.width, allowed: "raw frame width in pixels, 1 … 16384", valid: { (1...16384).contains($0) }) ?? frames.width
        frames.height = r.read("frames.height", .int, default: frames.height, allowed: "raw frame height in pixels, 1 … 16384", valid: { (1...16384).contains($0) }) ?? frames.height
        frames.stride = r.read("frames.stride", .int, default: frames.stride,
                               allowed: "bytes per row (Y row for yuv420; chroma rows have stride/2): 0 for packed rows, or ≥ one packed row", valid: { $0 >= 0 }) ?? frames.stride
        frames.queue = r.read("frames.queue", .int, default: frames.queue, allowed: "frames held between reader and inference, 1 … 64 (the oldest is dropped when full)",
                              valid: { (1...64).contains($0) }) ?? frames.queue
        frames.topic = r.read("frames.topic", name, default: frames.topic, allowed: "the MQTT topic frames arrive on (source \"mqtt\")") ?? frames.topic
        if frames.source == .stdin || frames.source == .fifo, frames.format == .npy {
            r.fail(.badValue, "frames.format", value: "\"npy\"", allowed: "stdin and fifo sources carry raw frames: \"grey\", \"rgb24\" or \"yuv420\"")
        }
        if frames.source == .mqtt, frames.topic.isEmpty {
            r.fail(.missing, "frames.topic", value: nil, allowed: "source \"mqtt\" needs the topic frames arrive on")
        }
        if frames.source == .directory || frames.source == .fifo, frames.path.isEmpty {
            r.fail(.missing, "frames.path", value: nil, allowed: "source \"\(frames.source.rawValue)\" needs a path")
        }
        if let raw = frames.rawFormat {
            do throws(FrameSourceError) { try raw.validate(source: "frames") } catch {
                r.fail(.badValue, "frames.stride", value: String(frames.stride), allowed: error.message)
            }
        }

        // [preprocessing]
        var pre = PreprocessingSettings()
        let cropKeys = ["x", "y", "width", "height"].map { "preprocessing.crop." + $0 }
        let cropSet = r.isSet(cropKeys)
        let cx = r.read(cropKeys[0], .int, default: 0, allowed: "left edge of the crop in pixels, ≥ 0", valid: { $0 >= 0 })
        let cy = r.read(cropKeys[1], .int, default: 0, allowed: "top edge of the crop in pixels, ≥ 0", valid: { $0 >= 0 })
        let cw = r.read(cropKeys[2], .int, required: cropSet, allowed: "crop width in pixels, ≥ 1 (no crop when the table is absent)", valid: { $0 >= 1 })
        let ch = r.read(cropKeys[3], .int, required: cropSet, allowed: "crop height in pixels, ≥ 1", valid: { $0 >= 1 })
        if cropSet, let cx, let cy, let cw, let ch {
            pre.crop = .init(x: cx, y: cy, width: cw, height: ch)
            if frames.format != .npy, frames.source != .directory, cx + cw > frames.width || cy + ch > frames.height {
                r.fail(.badValue, "preprocessing.crop", value: "{ x = \(cx), y = \(cy), width = \(cw), height = \(ch) }",
                       allowed: "the crop must lie inside the \(frames.width)x\(frames.height) frame")
            }
        }
        let resizeKeys = ["width", "height"].map { "preprocessing.resize." + $0 }
        let resizeSet = r.isSet(resizeKeys + ["preprocessing.resize.bilinear"])
        let rw = r.read(resizeKeys[0], .int, required: resizeSet, allowed: "output width in pixels, 1 … 16384 (no resize when the table is absent)", valid: { (1...16384).contains($0) })
        let rh = r.read(resizeKeys[1], .int, required: resizeSet, allowed: "output height in pixels, 1 … 16384", valid: { (1...16384).contains($0) })
        let bilinear = r.read("preprocessing.resize.bilinear", .bool, default: true, allowed: "true: bilinear; false: nearest")
        if resizeSet, let rw, let rh { pre.resize = .init(width: rw, height: rh, bilinear: bilinear ?? true) }
        pre.color = r.read("preprocessing.color", .choice(PreprocessingSettings.Color.self), default: pre.color,
                           allowed: "the model's channels: \"rgb\", \"bgr\" or \"grey\"") ?? pre.color
        pre.scale = Float(r.read("preprocessing.scale", .double, default: 1.0, allowed: "a finite multiplier applied first (1/255 = 0.00392156862745098 for 0…1)",
                                 valid: { $0.isFinite }) ?? 1)
        let channels = pre.channels
        if let mean = r.read("preprocessing.mean", .doubles, default: [0], allowed: "subtracted after scaling: one number, or one per channel (\(channels) for \(pre.color.rawValue))",
                             valid: { ($0.count == 1 || $0.count == channels) && $0.allSatisfy(\.isFinite) }) {
            pre.mean = mean.map(Float.init)
        }
        if let std = r.read("preprocessing.std", .doubles, default: [1], allowed: "divisor applied last: one non-zero number, or one per channel (\(channels) for \(pre.color.rawValue))",
                            valid: { ($0.count == 1 || $0.count == channels) && $0.allSatisfy { $0.isFinite && $0 != 0 } }) {
            pre.std = std.map(Float.init)
        }
        pre.layout = r.read("preprocessing.layout", .choice(ImagePreprocessing.Layout.self), default: pre.layout, allowed: "\"nchw\" or \"nhwc\"") ?? pre.layout
        pre.dtype = r.read("preprocessing.dtype", .choice(PreprocessingSettings.DataType.self), default: pre.dtype,
                           allowed: "the model input's element type: \"float32\" or \"uint8\"") ?? pre.dtype

        // [monitor]
        var monitor = MonitorConfiguration()
        if let s = r.read("monitor.window_s", .double, default: 10.0, allowed: "window length in seconds, 0.001 … 86400", valid: { $0 >= 0.001 && $0 <= 86400 }) {
            monitor.windowMs = Int64((s * 1000).rounded())
        }
        monitor.k = r.read("monitor.k", .int, default: monitor.k, allowed: "k of topk_overlap, ≥ 1", valid: { $0 >= 1 }) ?? monitor.k
        monitor.classLabels = r.read("monitor.class_labels", .strings, required: false, allowed: "class names for the histogram, one per class (default \"0\" … \"n−1\")")
        monitor.samplesPerWindow = r.read("monitor.samples_per_window", .int, default: monitor.samplesPerWindow,
                                          allowed: "latency and SQNR samples kept per window for percentiles, 1 … 1000000", valid: { (1...1_000_000).contains($0) }) ?? monitor.samplesPerWindow
        var shadow = ShadowPolicy()
        shadow.everyNth = r.read("monitor.shadow.every_nth", .int, default: shadow.everyNth, allowed: "shadow every N-th frame, ≥ 1", valid: { $0 >= 1 }) ?? shadow.everyNth
        shadow.minimumInterval = r.read("monitor.shadow.min_interval_s", .double, default: shadow.minimumInterval, allowed: "at most one uniform shadow per this many seconds, ≥ 0",
                                        valid: { $0 >= 0 && $0.isFinite }) ?? shadow.minimumInterval
        shadow.warningBoost = r.read("monitor.shadow.warning_boost", .int, default: shadow.warningBoost,
                                     allowed: "divisor of every_nth and min_interval_s while a detector warns, ≥ 1", valid: { $0 >= 1 }) ?? shadow.warningBoost
        shadow.cpuShare = r.read("monitor.shadow.cpu_share", .double, default: shadow.cpuShare, allowed: "share of one core float inference may use, in (0, 1]",
                                 valid: { $0 > 0 && $0 <= 1 }) ?? shadow.cpuShare
        shadow.burstSeconds = r.read("monitor.shadow.burst_s", .double, default: shadow.burstSeconds, allowed: "seconds of budget the CPU bucket holds, > 0",
                                     valid: { $0 > 0 && $0.isFinite }) ?? shadow.burstSeconds
        shadow.triggered = r.read("monitor.shadow.triggered", .bool, default: shadow.triggered, allowed: "true or false: shadow frames whose saturation jumps") ?? shadow.triggered
        shadow.triggerJump = r.read("monitor.shadow.trigger_jump", .double, default: shadow.triggerJump, allowed: "jump above the running average that triggers, in (0, 1]",
                                    valid: { $0 > 0 && $0 <= 1 }) ?? shadow.triggerJump
        shadow.triggerInterval = r.read("monitor.shadow.trigger_interval_s", .double, default: shadow.triggerInterval, allowed: "at most one triggered shadow per this many seconds, ≥ 0",
                                        valid: { $0 >= 0 && $0.isFinite }) ?? shadow.triggerInterval
        monitor.shadow = shadow

        var detectors = DetectorSettings()
        detectors.baselineShadowFrames = r.read("monitor.detectors.baseline_shadow_frames", .int, default: detectors.baselineShadowFrames,
                                                allowed: "uniform shadowed frames the baseline needs, ≥ 1", valid: { $0 >= 1 }) ?? detectors.baselineShadowFrames
        detectors.baselineFrames = r.read("monitor.detectors.baseline_frames", .int, default: detectors.baselineFrames,
                                          allowed: "int8 frames the baseline's input statistics need, ≥ 1", valid: { $0 >= 1 }) ?? detectors.baselineFrames
        func thresholds(_ prefix: String, _ t: HysteresisThresholds) -> HysteresisThresholds {
            let warning = r.read(prefix + ".warning", .double, default: t.warning, allowed: "the statistic above which the detector warns, > 0", valid: { $0 > 0 && $0.isFinite })
            let drift = r.read(prefix + ".drift", .double, default: t.drift, allowed: "the statistic above which it reports drift, ≥ warning", valid: { $0 > 0 && $0.isFinite })
            let recovery = r.read(prefix + ".recovery", .double, default: t.recovery, allowed: "fraction of a threshold to fall below to leave its state, in (0, 1)",
                                  valid: { $0 > 0 && $0 < 1 })
            guard let warning, let drift, let recovery else { return t }
            guard drift >= warning else {
                r.fail(.badValue, prefix + ".drift", value: ConfigValueType<Double>.render(drift), allowed: "expected ≥ \(prefix).warning (\(warning))")
                return t
            }
            return HysteresisThresholds(warning: warning, drift: drift, recovery: recovery, ceiling: t.ceiling)
        }
        var sqnr = detectors.sqnr
        sqnr.allowance = r.read("monitor.detectors.sqnr.allowance", .double, default: sqnr.allowance, allowed: "CUSUM allowance in σ0, ≥ 0", valid: { $0 >= 0 && $0.isFinite }) ?? sqnr.allowance
        sqnr.thresholds = thresholds("monitor.detectors.sqnr", sqnr.thresholds)
        sqnr.clip = r.read("monitor.detectors.sqnr.clip", .double, default: sqnr.clip, allowed: "clip of each standardised value in σ0, > 0", valid: { $0 > 0 && $0.isFinite }) ?? sqnr.clip
        sqnr.minimumSigma = r.read("monitor.detectors.sqnr.min_sigma", .double, default: sqnr.minimumSigma, allowed: "floor of σ0 in dB, > 0", valid: { $0 > 0 && $0.isFinite }) ?? sqnr.minimumSigma
        detectors.sqnr = sqnr
        var agreement = detectors.agreement
        agreement.minimumRate = r.read("monitor.detectors.agreement.min_rate", .double, default: agreement.minimumRate, allowed: "floor of the baseline disagreement rate, in (0, 0.5]",
                                       valid: { $0 > 0 && $0 <= 0.5 }) ?? agreement.minimumRate
        agreement.rateFactor = r.read("monitor.detectors.agreement.rate_factor", .double, default: agreement.rateFactor, allowed: "drift rate as a multiple of the baseline rate, > 1",
                                      valid: { $0 > 1 && $0.isFinite }) ?? agreement.rateFactor
        agreement.rateStep = r.read("monitor.detectors.agreement.rate_step", .double, default: agreement.rateStep, allowed: "least drift rate above the baseline rate, in (0, 0.5]",
                                    valid: { $0 > 0 && $0 <= 0.5 }) ?? agreement.rateStep
        agreement.thresholds = thresholds("monitor.detectors.agreement", agreement.thresholds)
        detectors.agreement = agreement
        func ewma(_ prefix: String, _ p: EWMAChart.Parameters) -> EWMAChart.Parameters {
            var p = p
            p.lambda = r.read(prefix + ".lambda", .double, default: p.lambda, allowed: "EWMA weight of each frame, in (0, 1]", valid: { $0 > 0 && $0 <= 1 }) ?? p.lambda
            p.thresholds = thresholds(prefix, p.thresholds)
            p.minimumSigma = r.read(prefix + ".min_sigma", .double, default: p.minimumSigma, allowed: "floor of σ0 (a fraction), > 0", valid: { $0 > 0 && $0.isFinite }) ?? p.minimumSigma
            return p
        }
        detectors.saturation = ewma("monitor.detectors.saturation", detectors.saturation)
        detectors.inputRange = ewma("monitor.detectors.input_range", detectors.inputRange)
        monitor.detectors = detectors

        // [store]
        var store = Store()
        store.path = absolute(r.read("store.path", name, default: store.path, allowed: "the SQLite buffer file (its directory must be writable)", valid: { !$0.isEmpty }) ?? store.path)
        store.byteCapMB = r.read("store.byte_cap_mb", .int, default: store.byteCapMB, allowed: "the buffer's size cap in MiB, 1 … 1048576 (the oldest rows go first)",
                                 valid: { (1...1_048_576).contains($0) }) ?? store.byteCapMB
        if let s = r.read("store.synchronous", .string, default: "full", allowed: "\"full\" (a commit survives a power cut) or \"normal\" (survives a crash; faster on SD cards)",
                          valid: { $0 == "full" || $0 == "normal" }) {
            store.synchronous = s == "normal" ? .normal : .full
        }

        // [mqtt]
        var mqtt = MQTT(clientID: "quantwatch-" + (deviceID ?? "quantwatch"))
        if let url = r.read("mqtt.url", name, default: mqtt.url, allowed: "mqtt://host[:port] (default port 1883) or mqtts://host[:port] (TLS, 8883)",
                            valid: { parseBrokerURL($0) != nil }), let parsed = parseBrokerURL(url) {
            mqtt.url = url
            (mqtt.host, mqtt.port, mqtt.tls) = parsed
        }
        mqtt.clientID = r.read("mqtt.client_id", name, default: mqtt.clientID, defaultText: "\"quantwatch-<device.id>\"",
                               allowed: "the MQTT client id, 1 … 23 bytes recommended by MQTT 3.1.1", valid: { !$0.isEmpty && $0.utf8.count <= 65535 }) ?? mqtt.clientID
        mqtt.username = r.read("mqtt.username", name, required: false, allowed: "the broker user name (none: anonymous)")
        mqtt.passwordFile = r.read("mqtt.password_file", name, required: false, allowed: "a file holding the password (with username)", valid: { !$0.isEmpty }).map(absolute)
        mqtt.caFile = r.read("mqtt.ca_file", name, required: false, allowed: "PEM CA certificates to verify the broker (mqtts; default: the system's)", valid: { !$0.isEmpty }).map(absolute)
        mqtt.certFile = r.read("mqtt.cert_file", name, required: false, allowed: "PEM client certificate (with key_file)", valid: { !$0.isEmpty }).map(absolute)
        mqtt.keyFile = r.read("mqtt.key_file", name, required: false, allowed: "PEM client key (with cert_file)", valid: { !$0.isEmpty }).map(absolute)
        mqtt.keepaliveSeconds = r.read("mqtt.keepalive_s", .int, default: mqtt.keepaliveSeconds, allowed: "keep-alive in seconds: 0 (off) or 5 … 65535",
                                       valid: { $0 == 0 || (5...65535).contains($0) }) ?? mqtt.keepaliveSeconds
        mqtt.prefix = r.read("mqtt.prefix", name, default: mqtt.prefix, allowed: "the topic prefix: levels of letters, digits, '.', '_', '-' separated by '/', no '+' or '#', no leading or trailing '/'",
                             valid: { p in !p.isEmpty && p.split(separator: "/", omittingEmptySubsequences: false).allSatisfy { isTopicSafe(String($0)) } }) ?? mqtt.prefix
        mqtt.protocolVersion = r.read("mqtt.protocol", .choice(MQTT.ProtocolVersion.self), default: mqtt.protocolVersion,
                                      allowed: "the MQTT version: \"5\" or \"3.1.1\" (a string)") ?? mqtt.protocolVersion
        mqtt.maxInflight = r.read("mqtt.max_inflight", .int, default: mqtt.maxInflight, allowed: "QoS 1 messages in flight at once, 1 … 65535",
                                  valid: { (1...65535).contains($0) }) ?? mqtt.maxInflight
        if mqtt.username == nil, mqtt.passwordFile != nil {
            r.fail(.missing, "mqtt.username", value: nil, allowed: "mqtt.password_file is set: a password needs a user name")
        }
        if (mqtt.certFile == nil) != (mqtt.keyFile == nil) {
            r.fail(.missing, mqtt.certFile == nil ? "mqtt.cert_file" : "mqtt.key_file", value: nil, allowed: "cert_file and key_file go together")
        }
        if !mqtt.tls, mqtt.caFile != nil || mqtt.certFile != nil {
            r.fail(.badValue, "mqtt.url", value: ConfigValueType<String>.quote(mqtt.url), allowed: "TLS files are set: use mqtts://")
        }

        // [update]
        var update = Update()
        // Default: the store's directory (/var/lib/quantwatch for the default store; beside a local store file otherwise).
        let storeDirectory = (store.path as NSString).deletingLastPathComponent
        update.stateDir = absolute(r.read("update.state_dir", name, default: storeDirectory,
                                          allowed: "the directory of transfers (transfer/) and model slots (models/); writable", valid: { !$0.isEmpty }) ?? storeDirectory)
        update.trustedKeys = (r.read("update.trusted_keys", .strings, default: update.trustedKeys,
                                     allowed: "Ed25519 public key files (PEM) a bundle's signature may verify against; none: every bundle is refused",
                                     valid: { $0.allSatisfy { !$0.isEmpty } }) ?? update.trustedKeys).map(absolute)
        update.maxBundleMB = r.read("update.max_bundle_mb", .int, default: update.maxBundleMB, allowed: "the largest bundle payload accepted in MiB, 1 … 4096",
                                    valid: { (1...4096).contains($0) }) ?? update.maxBundleMB
        update.transferExpirySeconds = r.read("update.transfer_expiry_s", .double, default: update.transferExpirySeconds,
                                              allowed: "seconds without a new chunk after which a partial transfer is deleted, 1 … 604800",
                                              valid: { $0 >= 1 && $0 <= 604_800 }) ?? update.transferExpirySeconds
        update.probationSeconds = r.read("update.probation_s", .double, default: update.probationSeconds,
                                         allowed: "seconds a new model is on probation after a switch, 0 … 604800 (0: none)",
                                         valid: { $0 >= 0 && $0 <= 604_800 }) ?? update.probationSeconds
        update.probationMarginDB = r.read("update.probation_margin_db", .double, default: update.probationMarginDB,
                                          allowed: "rolled back when the mean SQNR falls more than this many dB below the previous baseline's, ≥ 0",
                                          valid: { $0 >= 0 && $0.isFinite }) ?? update.probationMarginDB
        update.probationMarginAgreement = r.read("update.probation_margin_agreement", .double, default: update.probationMarginAgreement,
                                                 allowed: "rolled back when top-1 agreement falls more than this below the previous baseline's, in [0, 1]",
                                                 valid: { $0 >= 0 && $0 <= 1 }) ?? update.probationMarginAgreement
        update.probationMinShadows = r.read("update.probation_min_shadows", .int, default: update.probationMinShadows,
                                            allowed: "shadowed frames on probation before the comparisons count, ≥ 1", valid: { $0 >= 1 }) ?? update.probationMinShadows
        update.canaryMinSQNRDB = r.read("update.canary_min_sqnr_db", .double, default: update.canaryMinSQNRDB,
                                        allowed: "the canary's least mean SQNR in dB when the manifest sets none", valid: { $0.isFinite }) ?? update.canaryMinSQNRDB
        update.canaryMinAgreement = r.read("update.canary_min_agreement", .double, default: update.canaryMinAgreement,
                                           allowed: "the canary's least top-1 agreement when the manifest sets none, in [0, 1]", valid: { $0 >= 0 && $0 <= 1 }) ?? update.canaryMinAgreement
        update.canaryMaxSaturation = r.read("update.canary_max_saturation", .double, default: update.canaryMaxSaturation,
                                            allowed: "the canary's largest mean int8 saturation when the manifest sets none, in [0, 1]",
                                            valid: { $0 >= 0 && $0 <= 1 }) ?? update.canaryMaxSaturation
        update.canaryFrames = r.read("update.canary_frames", .int, default: update.canaryFrames,
                                     allowed: "recent frames kept for the canary, 0 … 1024", valid: { (0...1024).contains($0) }) ?? update.canaryFrames

        // [log]
        var log = Log()
        log.level = r.read("log.level", .choice(Log.Level.self), default: log.level, allowed: "\"trace\", \"debug\", \"info\", \"notice\", \"warning\", \"error\" or \"critical\"") ?? log.level

        guard let deviceID, let int8, let float else { return nil }
        return Configuration(device: Device(id: deviceID, group: group),
                             model: Model(int8: absolute(int8), float: absolute(float), name: modelName, version: version ?? "0", output: output),
                             frames: frames, preprocessing: pre, monitor: monitor, store: store, mqtt: mqtt, update: update, log: log)
    }

    /// gethostname(2): no resolver lookup (ProcessInfo.hostName may ask DNS, which can hang at boot).
    static func hostName() -> String {
        var buffer = [UInt8](repeating: 0, count: 256)
        let ok = buffer.withUnsafeMutableBufferPointer { gethostname(UnsafeMutableRawPointer($0.baseAddress!).assumingMemoryBound(to: CChar.self), 255) } == 0
        guard ok else { return "quantwatch" }
        return String(decoding: buffer.prefix { $0 != 0 }, as: UTF8.self)
    }

    /// (host, port, tls) of `mqtt://host[:port]` / `mqtts://host[:port]`.
    static func parseBrokerURL(_ text: String) -> (String, Int, Bool)? {
        guard let url = URLComponents(string: text), let scheme = url.scheme,
              let host = url.host.map({ $0.hasPrefix("[") && $0.hasSuffix("]") ? String($0.dropFirst().dropLast()) : $0 }), !host.isEmpty,
              url.path.isEmpty || url.path == "/", url.query == nil, url.user == nil else { return nil }
        let tls: Bool
        switch scheme {
        case "mqtt": tls = false
        case "mqtts": tls = true
        default: return nil
        }
        let port = url.port ?? (tls ? 8883 : 1883)
        guard (1...65535).contains(port) else { return nil }
        return (host, port, tls)
    }
}
