// The `[update]` section as the installer takes it (docs/model-updates.md).
import ModelUpdate
import QuantGraph

extension Configuration.Update {
    /// `canary_min_sqnr_db`, `canary_min_agreement`, `canary_max_saturation`: what a manifest's `canary` does not set.
    public var canaryThresholds: CanaryThresholds {
        CanaryThresholds(minSQNR: canaryMinSQNRDB, minAgreement: canaryMinAgreement, maxSaturation: canaryMaxSaturation)
    }

    /// `probation_s`, `probation_min_shadows`, `probation_margin_db`, `probation_margin_agreement`.
    public var probationPolicy: ProbationPolicy {
        var p = ProbationPolicy()
        p.periodMs = Int64((probationSeconds * 1000).rounded())
        p.minShadows = probationMinShadows
        p.marginDb = probationMarginDB
        p.marginAgreement = probationMarginAgreement
        return p
    }

    /// The `trusted_keys` files, read; an unreadable or malformed one is an error naming the file.
    public func readTrustedKeys() throws(DaemonError) -> [TrustedKey] {
        var keys: [TrustedKey] = []
        for path in trustedKeys {
            do { keys.append(TrustedKey(try KeyFiles.readPublic(path: path), source: path)) } catch {
                throw DaemonError("update.trusted_keys: \(path): \(error); expected an Ed25519 public key in PEM (quantwatch keygen's .pub)")
            }
        }
        return keys
    }
}

extension Configuration {
    /// The configured model pair as the slots' fallback (`model.version` as an integer; 0 when it is not one).
    public var configuredModel: ServingModel {
        ServingModel(slot: .configured, name: model.name, version: Int(model.version) ?? 0, int8Path: model.int8, floatPath: model.float,
                     output: model.output)
    }

    /// The installer's policy for models fed by this configuration's pipeline.
    public func updatePolicy(pipelineInput: TensorType) throws(DaemonError) -> UpdatePolicy {
        UpdatePolicy(trustedKeys: try update.readTrustedKeys(), canary: update.canaryThresholds, probation: update.probationPolicy,
                     pipelineInput: pipelineInput, preprocessing: preprocessing.manifestValues, maxBundleBytes: update.maxBundleMB << 20)
    }

    /// The A/B slots, locked for this process (a daemon and `bundle install` never write them at once).
    public func lockedModelSlots() throws(DaemonError) -> ModelSlots {
        do {
            let slots = try ModelSlots(stateDirectory: update.stateDir, configured: configuredModel)
            try slots.lock()
            return slots
        } catch {
            throw DaemonError("update.state_dir: \(error)")
        }
    }
}
