// The effective configuration as TOML (`quantwatch config check` prints it; it loads back to the same
// configuration), and as key → value pairs (what `changes(from:to:)` compares).
import FrameSources
import Monitor
import QuantMetrics

extension Configuration {
    /// Every key with its effective value in TOML syntax (nil: not set), in `Configuration.keys` order.
    public var entries: [(path: String, value: String?)] {
        typealias V = ConfigValueType
        let s = V<String>.quote, d = V<Double>.render
        func list(_ values: [Float]) -> String { "[" + values.map { d(Double($0)) }.joined(separator: ", ") + "]" }
        let m = monitor, sh = monitor.shadow, det = monitor.detectors
        func thresholds(_ prefix: String, _ t: HysteresisThresholds) -> [(String, String?)] {
            [(prefix + ".warning", d(t.warning)), (prefix + ".drift", d(t.drift)), (prefix + ".recovery", d(t.recovery))]
        }
        func ewma(_ prefix: String, _ p: EWMAChart.Parameters) -> [(String, String?)] {
            [(prefix + ".lambda", d(p.lambda))] + thresholds(prefix, p.thresholds) + [(prefix + ".min_sigma", d(p.minimumSigma))]
        }
        var out: [(String, String?)] = [
            ("device.id", s(device.id)), ("device.group", device.group.map(s)),
            ("model.int8", s(model.int8)), ("model.float", s(model.float)), ("model.name", s(model.name)),
            ("model.version", s(model.version)), ("model.output", model.output.map(s)),
            ("frames.source", s(frames.source.rawValue)), ("frames.path", s(frames.path)), ("frames.fps", d(frames.fps)),
            ("frames.loop", String(frames.loop)), ("frames.order", s(frames.order.rawValue)), ("frames.format", s(frames.format.rawValue)),
            ("frames.width", String(frames.width)), ("frames.height", String(frames.height)), ("frames.stride", String(frames.stride)),
            ("frames.queue", String(frames.queue)), ("frames.topic", s(frames.topic)),
            ("preprocessing.crop.x", preprocessing.crop.map { String($0.x) }), ("preprocessing.crop.y", preprocessing.crop.map { String($0.y) }),
            ("preprocessing.crop.width", preprocessing.crop.map { String($0.width) }), ("preprocessing.crop.height", preprocessing.crop.map { String($0.height) }),
            ("preprocessing.resize.width", preprocessing.resize.map { String($0.width) }), ("preprocessing.resize.height", preprocessing.resize.map { String($0.height) }),
            ("preprocessing.resize.bilinear", preprocessing.resize.map { String($0.bilinear) }),
            ("preprocessing.color", s(preprocessing.color.rawValue)), ("preprocessing.scale", d(Double(preprocessing.scale))),
            ("preprocessing.mean", list(preprocessing.mean)), ("preprocessing.std", list(preprocessing.std)),
            ("preprocessing.layout", s(preprocessing.layout.rawValue)), ("preprocessing.dtype", s(preprocessing.dtype.rawValue)),
            ("monitor.window_s", d(Double(m.windowMs) / 1000)), ("monitor.k", String(m.k)),
            ("monitor.class_labels", m.classLabels.map { "[" + $0.map(s).joined(separator: ", ") + "]" }),
            ("monitor.samples_per_window", String(m.samplesPerWindow)),
            ("monitor.shadow.every_nth", String(sh.everyNth)), ("monitor.shadow.min_interval_s", d(sh.minimumInterval)),
            ("monitor.shadow.warning_boost", String(sh.warningBoost)), ("monitor.shadow.cpu_share", d(sh.cpuShare)),
            ("monitor.shadow.burst_s", d(sh.burstSeconds)), ("monitor.shadow.triggered", String(sh.triggered)),
            ("monitor.shadow.trigger_jump", d(sh.triggerJump)), ("monitor.shadow.trigger_interval_s", d(sh.triggerInterval)),
            ("monitor.detectors.baseline_shadow_frames", String(det.baselineShadowFrames)), ("monitor.detectors.baseline_frames", String(det.baselineFrames)),
            ("monitor.detectors.sqnr.allowance", d(det.sqnr.allowance)),
        ]
        out += thresholds("monitor.detectors.sqnr", det.sqnr.thresholds)
        out += [("monitor.detectors.sqnr.clip", d(det.sqnr.clip)), ("monitor.detectors.sqnr.min_sigma", d(det.sqnr.minimumSigma)),
                ("monitor.detectors.agreement.min_rate", d(det.agreement.minimumRate)), ("monitor.detectors.agreement.rate_factor", d(det.agreement.rateFactor)),
                ("monitor.detectors.agreement.rate_step", d(det.agreement.rateStep))]
        out += thresholds("monitor.detectors.agreement", det.agreement.thresholds)
        out += ewma("monitor.detectors.saturation", det.saturation) + ewma("monitor.detectors.input_range", det.inputRange)
        out += [
            ("store.path", s(store.path)), ("store.byte_cap_mb", String(store.byteCapMB)),
            ("store.synchronous", s(store.synchronous == .normal ? "normal" : "full")),
            ("mqtt.url", s(mqtt.url)), ("mqtt.client_id", s(mqtt.clientID)), ("mqtt.username", mqtt.username.map(s)),
            ("mqtt.password_file", mqtt.passwordFile.map(s)), ("mqtt.ca_file", mqtt.caFile.map(s)), ("mqtt.cert_file", mqtt.certFile.map(s)),
            ("mqtt.key_file", mqtt.keyFile.map(s)), ("mqtt.keepalive_s", String(mqtt.keepaliveSeconds)), ("mqtt.prefix", s(mqtt.prefix)),
            ("mqtt.protocol", s(mqtt.protocolVersion.rawValue)), ("mqtt.max_inflight", String(mqtt.maxInflight)),
            ("update.state_dir", s(update.stateDir)), ("update.trusted_keys", "[" + update.trustedKeys.map(s).joined(separator: ", ") + "]"),
            ("update.max_bundle_mb", String(update.maxBundleMB)), ("update.transfer_expiry_s", d(update.transferExpirySeconds)),
            ("update.probation_s", d(update.probationSeconds)), ("update.probation_margin_db", d(update.probationMarginDB)),
            ("update.probation_margin_agreement", d(update.probationMarginAgreement)), ("update.probation_min_shadows", String(update.probationMinShadows)),
            ("update.canary_min_sqnr_db", d(update.canaryMinSQNRDB)), ("update.canary_min_agreement", d(update.canaryMinAgreement)),
            ("update.canary_max_saturation", d(update.canaryMaxSaturation)), ("update.canary_frames", String(update.canaryFrames)),
            ("log.level", s(log.level.rawValue)),
        ]
        return out.map { (path: $0.0, value: $0.1) }
    }

    /// The effective configuration as a TOML document: one `[section]` per top-level key, dotted
    /// keys below it; unset optional keys as comments.
    public var effectiveTOML: String {
        var text = ""
        var section = ""
        for (path, value) in entries {
            let parts = path.split(separator: ".", maxSplits: 1)
            let head = String(parts[0]), rest = String(parts[1])
            if head != section {
                text += (section.isEmpty ? "" : "\n") + "[\(head)]\n"
                section = head
            }
            text += value.map { "\(rest) = \($0)\n" } ?? "# \(rest) is not set\n"
        }
        return text
    }
}
