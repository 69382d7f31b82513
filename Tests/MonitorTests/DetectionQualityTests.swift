import Foundation
import Monitor
import QuantMetrics
import Testing

/// Detection quality on the fixtures' drift sets (METRICS.md detectors, issue 4's acceptance):
/// clean frames never reach `drift`; sets whose int8-vs-float agreement really changes reach it
/// within 50 shadowed frames of the switch; sets where it does not leave the comparison detectors quiet.
@Suite struct DetectionQualityTests {
    static let variants: [(String, String)] = [("digits", "int8.qop"), ("digits", "int8.qdq"), ("patches", "int8.qop"), ("patches", "int8.qdq")]

    /// Clean held-out frames replayed 20 times over, shuffled, 1 shadowed frame in 5: never `drift`.
    @Test(arguments: variants)
    func cleanReplayNeverEntersDrift(model: String, variant: String) throws {
        let models = try MonitorFixtures.models(model, variant)
        let frames = try MonitorFixtures.frames(model, "heldout", input: models.int8.inputs[0].type)
        let monitor = try Monitor(models: models, configuration: .oneInFive())
        var shuffler = Shuffler(state: 42)
        var time: Int64 = 0, worst = DriftState.ok, shadowed = 0
        for index in shuffler.replay(frames.count, rounds: 20) {
            let outcome = try frames[index].withUnsafeBufferPointer { try monitor.process(frame: $0, timeMs: time) }
            if outcome.shadow == .uniform { shadowed += 1 }
            worst = max(worst, outcome.state)
            time += 100
        }
        monitor.flush(timeMs: time)
        let events = monitor.takeEvents()
        #expect(monitor.isBaselineReady)
        #expect(events.contains { $0.kind == .baselineReady })
        #expect(worst != .drift, "\(model) \(variant): clean replay entered drift: \(events.map(\.cause))")
        #expect(!events.contains { $0.to == .drift })
        // 1 in 5 of 20 × the set (the warning boost may add a few).
        #expect(shadowed >= frames.count * 20 / 5)
        let windows = monitor.takeWindows()
        // 10 s windows at 10 frames/s; the last one closed by flush.
        #expect(windows.reduce(0) { $0 + $1.frames } == frames.count * 20)
        #expect(windows.dropLast().allSatisfy { $0.frames == 100 && $0.shadowed.uniform >= 20 })
        print("clean \(model) \(variant): \(frames.count * 20) frames, \(shadowed) shadowed, worst state \(worst.rawValue), "
            + "\(events.filter { $0.kind == .driftState }.count) transitions")
    }

    /// Per drift set: first measure how much int8-vs-float agreement changes (per-frame SQNR effect
    /// size against the clean frames, top-1 agreement), then replay clean → drifted and count
    /// shadowed frames until `drift`.
    @Test(arguments: variants)
    func driftIsDetectedWhereAgreementChanges(model: String, variant: String) throws {
        let models = try MonitorFixtures.models(model, variant)
        let input = models.int8.inputs[0].type
        let clean = try MonitorFixtures.frames(model, "heldout", input: input)
        let cleanStats = try measure(models, clean)
        // The baseline, from a clean run as the daemon would build (and persist) it.
        let builder = try Monitor(models: models, configuration: .oneInFive())
        var shuffler = Shuffler(state: 7)
        var time: Int64 = 0
        for index in shuffler.replay(clean.count, rounds: 20) where !builder.isBaselineReady {
            _ = try clean[index].withUnsafeBufferPointer { try builder.process(frame: $0, timeMs: time) }
            time += 100
        }
        #expect(builder.isBaselineReady)
        let baseline = builder.baseline

        var lines: [String] = []
        for set in MonitorFixtures.driftSets {
            let drifted = try MonitorFixtures.frames(model, set, input: input)
            let stats = try measure(models, drifted)
            let effect = (cleanStats.sqnr.mean - stats.sqnr.mean) / cleanStats.sqnr.standardDeviation
            let agreementDrop = cleanStats.agreement - stats.agreement
            // "Really changes": the mean per-frame SQNR fell by 1.5 clean standard deviations, or top-1
            // agreement fell by 2 points over at least 10 disagreeing frames (patches' drift sets hold
            // 24 frames: one disagreement there is 4 points and within the clean set's own rate).
            let disagreeing = Int(((1 - stats.agreement) * Double(drifted.count)).rounded())
            let changes = effect >= 1.5 || (agreementDrop >= 0.02 && disagreeing >= 10)
            let unchanged = effect < 0.5 && (agreementDrop < 0.01 || disagreeing < 3)

            let monitor = try Monitor(models: models, configuration: .oneInFive(), baseline: baseline)
            var t: Int64 = 0, shadowedClean = 0
            for index in shuffler.replay(clean.count, rounds: 10) where shadowedClean < 25 {
                let o = try clean[index].withUnsafeBufferPointer { try monitor.process(frame: $0, timeMs: t) }
                if o.shadow == .uniform { shadowedClean += 1 }
                t += 100
            }
            #expect(monitor.state(of: .sqnrDb) != .drift && monitor.state(of: .top1Agree) != .drift, "\(set): drift before the switch")
            var shadowedDrift = 0, detectedAt: Int?, warnedInput = false, comparisonWorst = DriftState.ok
            let limit = 60
            for index in shuffler.replay(drifted.count, rounds: 1 + limit * 5 / drifted.count) where shadowedDrift < limit {
                let o = try drifted[index].withUnsafeBufferPointer { try monitor.process(frame: $0, timeMs: t) }
                if o.shadow == .uniform { shadowedDrift += 1 }
                t += 100
                comparisonWorst = max(comparisonWorst, monitor.state(of: .sqnrDb), monitor.state(of: .top1Agree))
                if detectedAt == nil, o.state == .drift { detectedAt = shadowedDrift }
                if monitor.state(of: .saturation) >= .warning || monitor.state(of: .inputOutOfRange) >= .warning { warnedInput = true }
            }
            let line = "\(model) \(variant) \(set): sqnr \(f(stats.sqnr.mean)) vs \(f(cleanStats.sqnr.mean)) dB (effect \(f(effect))σ), "
                + "top-1 agreement \(f(stats.agreement)) vs \(f(cleanStats.agreement)); drift after \(detectedAt.map(String.init) ?? "—") shadowed frames, "
                + "comparison detectors worst \(comparisonWorst.rawValue), input statistics \(warnedInput ? "warned" : "quiet")"
            lines.append(line)
            if changes {
                #expect(detectedAt != nil && detectedAt! <= 50, "\(line)")
            }
            if unchanged {
                #expect(comparisonWorst != .drift, "\(line)")
            }
        }
        print(lines.joined(separator: "\n"))
    }

    struct SetStatistics {
        var sqnr = RunningStatistics()
        var agreement = 0.0
    }

    /// Per-frame SQNR and top-1 agreement of every frame of a set (int8 against float).
    func measure(_ models: MonitoredModels, _ frames: [[Float]]) throws -> SetStatistics {
        var stats = SetStatistics()
        var agree = 0.0
        var q = [Float](repeating: 0, count: models.int8.outputs[models.int8Output].type.elementCount)
        for frame in frames {
            frame.withUnsafeBytes { models.int8.inputBuffer(0).copyMemory(from: $0) }
            frame.withUnsafeBytes { models.float.inputBuffer(0).copyMemory(from: $0) }
            models.int8.run()
            models.float.run()
            _ = q.withUnsafeMutableBufferPointer { models.int8.readDequantized(models.int8.outputs[models.int8Output].name, into: $0) }
            let r = models.float.outputBuffer(models.floatOutput).bindMemory(to: Float.self)
            let c = q.withUnsafeBufferPointer { Comparison.compare(reference: r, quantized: $0, classAxisCount: models.classes) }
            stats.sqnr.add(c.sqnrDb)
            agree += c.top1Agree ?? 1
        }
        stats.agreement = agree / Double(frames.count)
        return stats
    }

    func f(_ x: Double) -> String { String(format: "%.3g", x) }
}
