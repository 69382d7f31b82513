import Foundation
import ModelUpdate
import QuantWatchDaemon
import Testing

@Suite struct UpdateConfigurationTests {
    @Test func theUpdateSectionHasItsDefaultsAndResolvesPathsFromTheFilesDirectory() throws {
        let c = try parse(minimal)
        #expect(c.update == Configuration.Update())
        #expect(c.update.transferSettings.transferDirectory == "/var/lib/quantwatch/transfer")
        #expect(c.update.transferSettings.maxBundleBytes == 64 << 20 && c.update.transferSettings.expirySeconds == 3600)
        let set = try parse(minimal + """

            [update]
            state_dir = "state"
            trusted_keys = ["keys/release.pub", "/etc/quantwatch/ops.pub"]
            max_bundle_mb = 8
            transfer_expiry_s = 120
            canary_frames = 0
            """)
        #expect(set.update.stateDir == "/etc/quantwatch/state")
        #expect(set.update.trustedKeys == ["/etc/quantwatch/keys/release.pub", "/etc/quantwatch/ops.pub"])
        #expect(set.update.transferSettings.maxBundleBytes == 8 << 20 && set.update.transferExpirySeconds == 120 && set.update.canaryFrames == 0)
        let env = try parse(minimal, environment: ["QUANTWATCH_UPDATE_TRUSTED_KEYS": "/k/a.pub,/k/b.pub", "QUANTWATCH_UPDATE_PROBATION_S": "60"])
        #expect(env.update.trustedKeys == ["/k/a.pub", "/k/b.pub"] && env.update.probationSeconds == 60)
    }

    @Test func badUpdateValuesNameTheKeyAndWhatIsAllowed() throws {
        let size = try #require(error(minimal + "\n[update]\nmax_bundle_mb = 0\n"))
        #expect(size.keyPath == "update.max_bundle_mb" && size.allowed.contains("1 … 4096"))
        let keys = try #require(error(minimal + "\n[update]\ntrusted_keys = \"release.pub\"\n"))
        #expect(keys.keyPath == "update.trusted_keys" && keys.kind == .wrongType)
        let agreement = try #require(error(minimal + "\n[update]\ncanary_min_agreement = 1.5\n"))
        #expect(agreement.keyPath == "update.canary_min_agreement" && agreement.allowed.contains("[0, 1]"))
        let unknown = try #require(error(minimal + "\n[update]\nexpiry = 5\n"))
        #expect(unknown.kind == .unknownKey && unknown.allowed.contains("transfer_expiry_s"))
    }
}

extension UpdateConfigurationTests {
    @Test func theUpdateSectionBecomesTheInstallersPolicy() throws {
        let c = try parse(minimal + "\n[update]\nprobation_s = 90\nprobation_min_shadows = 12\ncanary_min_sqnr_db = 18\ncanary_max_saturation = 0.1\n")
        #expect(c.update.probationPolicy.periodMs == 90_000 && c.update.probationPolicy.minShadows == 12)
        #expect(c.update.canaryThresholds == CanaryThresholds(minSQNR: 18, minAgreement: 0.9, maxSaturation: 0.1))
        // The defaults are the installer's own.
        #expect(Configuration.Update().canaryThresholds == CanaryThresholds())
        #expect(Configuration.Update().probationPolicy == ProbationPolicy())
        let missing = try parse(minimal + "\n[update]\ntrusted_keys = [\"/nonexistent/release.pub\"]\n")
        #expect(throws: DaemonError.self) { try missing.update.readTrustedKeys() }
        #expect(try Configuration.Update().readTrustedKeys().isEmpty)
    }
}
