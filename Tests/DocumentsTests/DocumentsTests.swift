import Documents
import Foundation
import Monitor
import QuantMetrics
import Testing

@Suite struct DocumentsTests {
    @Test func timestampsAreRFC3339UTCWithMilliseconds() {
        #expect(rfc3339(milliseconds: 0) == "1970-01-01T00:00:00.000Z")
        #expect(rfc3339(milliseconds: 1_795_921_680_123) == "2026-11-29T03:08:00.123Z")
        #expect(rfc3339(milliseconds: -1) == "1969-12-31T23:59:59.999Z")
    }

    func window() -> WindowSummary {
        var w = WindowSummary(startMs: 1000, endMs: 11_000, frames: 100, shadowed: .init(uniform: 10, triggered: 1),
                              drift: DriftSummary(state: .warning, detectors: ["sqnr_db": .warning, "top1_agree": .ok], baselineReady: true))
        w.latencyMs = LatencyPercentiles(p50: 1.5, p95: 2, p99: 2.5, max: 3)
        w.sqnrDb = .init(mean: 40, p5: 30)
        w.top1Agree = 0.9
        w.saturation = .init(max: 0.02, frameMax: 0.05, top: ["/blocks.1/Add_output_0_quantized": 0.02])
        w.classes = ["cat": 60, "dog": 40]
        return w
    }

    @Test func metricsDocumentKeepsMetricValuesAtTheTopLevelAsNestedObjects() throws {
        let doc = MetricsDocument(envelope: Envelope(schema: DocumentSchema.metrics, device: "pi-01", seq: 42, tsMs: 11_000),
                                  model: ModelReference(name: "patches", version: "3", sha256: "ab"), window: window())
        let json = try DocumentCoding.encode(doc)
        let object = try JSONSerialization.jsonObject(with: Data(json.utf8)) as! [String: Any]
        #expect(object["device"] as? String == "pi-01")
        #expect(object["seq"] as? Int == 42)
        #expect(object["ts"] as? String == "1970-01-01T00:00:11.000Z")
        #expect(object["ts_ms"] as? Int == 11_000)
        #expect(object["schema"] as? String == "quantwatch.metrics/1")
        #expect((object["latency_ms"] as? [String: Any])?["p95"] as? Double == 2)
        #expect((object["sqnr_db"] as? [String: Any])?["p5"] as? Double == 30)
        #expect((object["classes"] as? [String: Any])?["dog"] as? Int == 40)
        #expect(((object["drift"] as? [String: Any])?["detectors"] as? [String: Any])?["sqnr_db"] as? String == "warning")
        #expect(json.contains("\"/blocks.1/Add_output_0_quantized\":0.02"))   // slashes not escaped
        #expect(object["window"] == nil)
        #expect(try DocumentCoding.decode(MetricsDocument.self, from: json) == doc)
    }

    @Test func eventDocumentRoundTrips() throws {
        let event = MonitorEvent(kind: .driftState, tsMs: 5, detector: .sqnrDb, from: .ok, to: .warning, state: .warning,
                                 statistic: 7.5, baselineMean: 48, baselineSd: 5, recent: 30,
                                 saturating: [TensorSaturation(tensor: "t", fraction: 0.1)], cause: "sqnr_db fell")
        let doc = EventDocument(envelope: Envelope(schema: DocumentSchema.events, device: "d", seq: 1, tsMs: 5), model: nil, event: event)
        let json = try DocumentCoding.encode(doc)
        #expect(json.contains("\"kind\":\"drift_state\""))
        #expect(json.contains("\"detector\":\"sqnr_db\""))
        #expect(try DocumentCoding.decode(EventDocument.self, from: json) == doc)
    }

    @Test func throttleBitsDecodeAsTheFirmwareDefinesThem() {
        let t = BoardHealth.Throttle(bits: 0x50005)
        #expect(t.underVoltage && !t.frequencyCapped && t.throttled && !t.softTempLimit)
        #expect(t.underVoltageSinceBoot && !t.frequencyCappedSinceBoot && t.throttledSinceBoot && !t.softTempLimitSinceBoot)
    }
}
