import AllocationCounter
import Foundation
import Monitor
import ONNXImport
import QuantGraph
import QuantMetrics
import Testing

@Suite struct MonitorPipelineTests {
    @Test func int8FramesAllocateNothingAfterWarmUp() throws {
        let models = try MonitorFixtures.models("patches", "int8.qop")
        let frames = try MonitorFixtures.frames("patches", "heldout", input: models.int8.inputs[0].type)
        var configuration = MonitorConfiguration()
        configuration.shadow.everyNth = 1_000_000   // int8 only
        configuration.shadow.triggered = false
        let monitor = try Monitor(models: models, configuration: configuration)
        for i in 0..<20 { _ = try frames[i].withUnsafeBufferPointer { try monitor.process(frame: $0, timeMs: Int64(i)) } }
        var allocations = 0
        for i in 20..<60 {
            try frames[i].withUnsafeBufferPointer { frame in
                qw_allocations_begin()
                _ = try monitor.process(frame: frame, timeMs: Int64(i))
                allocations += Int(qw_allocations_end())
            }
        }
        #expect(allocations == 0)
    }

    @Test func windowsCarryFramesShadowsAndClassHistogram() throws {
        let models = try MonitorFixtures.models("digits", "int8.qdq")
        let frames = try MonitorFixtures.frames("digits", "heldout", input: models.int8.inputs[0].type)
        var configuration = MonitorConfiguration.oneInFive()
        configuration.windowMs = 5_000
        let monitor = try Monitor(models: models, configuration: configuration)
        for i in 0..<120 { _ = try frames[i].withUnsafeBufferPointer { try monitor.process(frame: $0, timeMs: Int64(i) * 100) } }
        monitor.flush(timeMs: 12_000)
        let windows = monitor.takeWindows()
        #expect(windows.map(\.frames) == [50, 50, 20])
        #expect(windows.map(\.startMs) == [0, 5_000, 10_000])
        #expect(windows[0].endMs == 5_000 && windows[2].endMs == 12_000)
        let w = windows[0]
        #expect(w.shadowed.uniform == 10)
        #expect(w.classes?.count == 10)                     // fixed keys: every class
        #expect(w.classes?.values.reduce(0, +) == 50)
        #expect(w.top1Agree == 1)
        #expect(w.sqnrDb.map { $0.mean > 30 && $0.p5 <= $0.mean } == true)
        #expect(w.latencyMs != nil && w.floatLatencyMs != nil && w.int8Speedup != nil)
        #expect(w.inputOutOfRange != nil)                   // the QDQ model quantizes its input
        #expect(w.drift.state == .ok && w.drift.baselineReady == false)
        // JSON: nested objects, snake_case keys.
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        let json = String(decoding: try encoder.encode(w), as: UTF8.self)
        #expect(json.contains("\"latency_ms\":{\"max\":"))
        #expect(json.contains("\"sqnr_db\":{\"mean\":"))
        #expect(json.contains("\"drift\":{\"baseline_ready\":false,\"detectors\":{\"input_out_of_range\":\"ok\""))
    }

    @Test func reluFloorOfAFoldedActivationIsNotSaturation() throws {
        // patches: every expand/depthwise output is uint8 with zero point 0 (ReLU6 folded by the
        // quantizer); below-zero values there are the ReLU's floor.
        let models = try MonitorFixtures.models("patches", "int8.qop")
        #expect(models.activationBounds.floors.contains("/blocks.0/expand/bn/BatchNormalization_output_0_quantized"))
        let frames = try MonitorFixtures.frames("patches", "heldout", input: models.int8.inputs[0].type)
        let reader = SaturationReader(model: models.int8, activationBounds: models.activationBounds)
        frames[0].withUnsafeBytes { models.int8.inputBuffer(0).copyMemory(from: $0) }
        models.int8.resetCounters()
        models.int8.run()
        let counted = reader.read(models.int8)
        // The pair is planned with its floors: those tensors' kernels do not even count the low side.
        for (i, info) in models.int8.counters.enumerated() where models.activationBounds.floors.contains(info.tensor) {
            #expect(models.int8.saturationCounts(i).low == 0, "\(info.tensor)")
        }
        // Nor the high side of those whose Relu6 ceiling (6) is the int8 range's end (scale 6/255).
        #expect(models.activationBounds.ceilings.contains("/blocks.0/expand/bn/BatchNormalization_output_0_quantized"))
        for (i, info) in models.int8.counters.enumerated() where models.activationBounds.ceilings.contains(info.tensor) {
            #expect(models.int8.saturationCounts(i).high == 0, "\(info.tensor)")
        }
        // Planned without the floors, ReLU's negatives look like massive low saturation.
        let plain = try ONNXModel.load(contentsOf: MonitorFixtures.url("patches/model.int8.qop.onnx")).compile()
        frames[0].withUnsafeBytes { plain.inputBuffer(0).copyMemory(from: $0) }
        plain.run()
        #expect(SaturationReader(model: plain, activationBounds: ActivationBounds()).read(plain).max > 0.2)
        // What remains is real: the uint8 softmax output, whose top probability (≈ 1) rounds to 256.
        #expect(reader.tensors[counted.maxTensor] == "probabilities_quantized")
        #expect(counted.max == 0.125)
        #expect(counted.inputOutOfRange != nil)
    }

    @Test func reluRemovedByTheQDQQuantizerIsAFloorToo() throws {
        // digits QDQ: onnxruntime removed Relu and named the Conv's int8 output after it, zero point −128.
        let models = try MonitorFixtures.models("digits", "int8.qdq")
        #expect(models.activationBounds.floors.contains("/relu1/Relu_output_0_QuantizeLinear_Output"))
        let frames = try MonitorFixtures.frames("digits", "heldout", input: models.int8.inputs[0].type)
        let reader = SaturationReader(model: models.int8, activationBounds: models.activationBounds)
        var worst = 0.0
        for frame in frames.prefix(50) {
            frame.withUnsafeBytes { models.int8.inputBuffer(0).copyMemory(from: $0) }
            models.int8.resetCounters()
            models.int8.run()
            let s = reader.read(models.int8)
            if s.maxTensor >= 0, reader.tensors[s.maxTensor].hasPrefix("/relu") { worst = max(worst, s.max) }
        }
        #expect(worst < 0.05)   // was ≈ 0.45: ReLU's negatives counted as low saturation
    }

    @Test func driftEventNamesTheMetricAndTheSaturatingTensors() throws {
        let models = try MonitorFixtures.models("digits", "int8.qop")
        let input = models.int8.inputs[0].type
        let clean = try MonitorFixtures.frames("digits", "heldout", input: input)
        let drifted = try MonitorFixtures.frames("digits", "brightness-3", input: input)
        var configuration = MonitorConfiguration.oneInFive()
        configuration.detectors.baselineShadowFrames = 60
        configuration.detectors.baselineFrames = 300
        let monitor = try Monitor(models: models, configuration: configuration)
        var t: Int64 = 0
        for frame in clean { _ = try frame.withUnsafeBufferPointer { try monitor.process(frame: $0, timeMs: t) }; t += 100 }
        #expect(monitor.isBaselineReady)
        _ = monitor.takeEvents()
        for frame in drifted where monitor.state != .drift { _ = try frame.withUnsafeBufferPointer { try monitor.process(frame: $0, timeMs: t) }; t += 100 }
        let events = monitor.takeEvents()
        // Disagreeing and triggered shadow frames are kept for diagnosis, each with its classes.
        let samples = monitor.takeShadowSamples()
        #expect(!samples.isEmpty)
        #expect(samples.allSatisfy { $0.stream == .triggered || $0.int8Class != $0.floatClass })
        let drift = try #require(events.first { $0.to == .drift })
        #expect(drift.kind == .driftState)
        #expect(drift.detector == .sqnrDb || drift.detector == .top1Agree)
        #expect(drift.cause.contains(drift.detector!.rawValue))
        #expect(drift.baselineMean != nil && drift.recent != nil)
        if drift.detector == .sqnrDb { #expect(drift.recent! < drift.baselineMean!) }
        #expect(!drift.saturating.isEmpty)
        #expect(drift.cause.contains("most saturated: \(drift.saturating[0].tensor)"))
    }

    @Test func persistedBaselineStartsDetectorsAtOnce() throws {
        let models = try MonitorFixtures.models("digits", "int8.qop")
        var baseline = Baseline()
        for x in [48.0, 50, 46, 52] { baseline.sqnrDb.add(x) }
        for _ in 0..<4 { baseline.top1Agree.add(1); baseline.saturation.add(0); baseline.inputOutOfRange.add(0) }
        let data = try JSONEncoder().encode(baseline)
        let restored = try JSONDecoder().decode(Baseline.self, from: data)
        #expect(restored.sqnrDb.count == 4 && restored.sqnrDb.mean == 49)
        let monitor = try Monitor(models: models, configuration: .oneInFive(), baseline: restored)
        #expect(monitor.isBaselineReady)
    }

    @Test func wrongFrameSizeIsAnErrorNamingTheInput() throws {
        let models = try MonitorFixtures.models("digits", "int8.qop")
        let monitor = try Monitor(models: models)
        let short = [Float](repeating: 0, count: 10)
        #expect(throws: MonitorError.self) { try short.withUnsafeBufferPointer { _ = try monitor.process(frame: $0, timeMs: 0) } }
        do { _ = try short.withUnsafeBufferPointer { try monitor.process(frame: $0, timeMs: 0) } } catch {
            #expect("\(error)".contains("input 'input' expects float32[1,1,8,8]"))
        }
    }

    @Test func mismatchedModelsAreRefusedWithBothPaths() throws {
        #expect(throws: (any Error).self) {
            _ = try MonitoredModels.load(int8: MonitorFixtures.url("digits/model.int8.qop.onnx"), float: MonitorFixtures.url("patches/model.fp32.onnx"))
        }
        do {
            _ = try MonitoredModels.load(int8: MonitorFixtures.url("digits/model.int8.qop.onnx"), float: MonitorFixtures.url("patches/model.fp32.onnx"))
        } catch {
            #expect("\(error)".contains("patches/model.fp32.onnx") && "\(error)".contains("digits/model.int8.qop.onnx"))
        }
    }
}
