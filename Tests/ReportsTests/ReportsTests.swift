import Documents
import Foundation
import QuantMetrics
import Reports
import Testing

@Suite struct ReportsTests {
    /// 12 windows of 10 s: model v1 ok, ok, warning, drift, drift, ok; then model v2 ok × 6.
    func report() -> DeviceReport {
        let states: [DriftState] = [.ok, .ok, .warning, .drift, .drift, .ok, .ok, .ok, .ok, .ok, .ok, .ok]
        let windows = states.enumerated().map { i, state -> MetricsDocument in
            var w = WindowSummary(startMs: Int64(i) * 10_000, endMs: Int64(i + 1) * 10_000, frames: 100,
                                  shadowed: .init(uniform: 20, triggered: 0),
                                  drift: DriftSummary(state: state, detectors: ["sqnr_db": state], baselineReady: true))
            w.top1Agree = state == .drift ? 0.8 : 1
            w.sqnrDb = .init(mean: state == .drift ? 30 : 45, p5: 20)
            w.latencyMs = LatencyPercentiles(p50: 0.3, p95: 0.4, p99: 0.5, max: 0.6)
            w.saturation = .init(max: state == .drift ? 0.05 : 0.001, frameMax: 0.1, top: [:])
            let model = ModelReference(name: "patches", version: i < 6 ? "v1" : "v2", sha256: i < 6 ? "aaaa" : "bbbb")
            return MetricsDocument(envelope: Envelope(schema: DocumentSchema.metrics, device: "pi<01>", seq: Int64(i + 1), tsMs: w.endMs),
                                   model: model, window: w)
        }
        let events = [ReportEvent(tsMs: 30_000, kind: "drift_state", text: "sqnr_db detector rose from warning to drift")]
        let models = [ReportModel(name: "patches", version: "v1", sha256: "aaaa", activatedMs: 0, hasBaseline: true),
                      ReportModel(name: "patches", version: "v2", sha256: "bbbb", activatedMs: 60_000, hasBaseline: false)]
        return DeviceReport(source: "metrics.db", device: nil, since: nil, windows: windows.reversed(), events: events, models: models, pending: 3)
    }

    @Test func consecutiveWindowsOfOneStateMergeIntoSpans() {
        let spans = report().stateSpans
        #expect(spans.map(\.state) == [.ok, .warning, .drift, .ok])
        #expect(spans.map(\.startMs) == [0, 20_000, 30_000, 50_000])
        #expect(spans.last?.endMs == 120_000)
    }

    @Test func modelSwitchIsFoundBetweenWindows() {
        let switches = report().modelSwitches
        #expect(switches.count == 1)
        #expect(switches.first?.tsMs == 60_000 && switches.first?.model.version == "v2")
    }

    @Test func tableListsWindowsInTimeOrderModelsAndEvents() throws {
        let text = try report().render(.table)
        #expect(text.contains("device   pi<01>"))
        #expect(text.contains("windows  12   frames 1200   events 1   undelivered 3"))
        #expect(text.contains("drift    ok 75.0%   warning 8.3%   drift 16.7%"))
        let first = try #require(text.range(of: "1970-01-01T00:00:00"))
        let second = try #require(text.range(of: "1970-01-01T00:00:10"))
        #expect(first.lowerBound < second.lowerBound)
        #expect(text.contains("sqnr_db detector rose from warning to drift"))
    }

    @Test func htmlIsSelfContainedWithChartsBandsAndMarkers() throws {
        let html = try report().render(.html)
        #expect(html.hasPrefix("<!DOCTYPE html>"))
        #expect(!html.contains("<script"))
        #expect(!html.contains("src=\""))                       // nothing loaded from elsewhere
        #expect(html.components(separatedBy: "<svg").count - 1 == 4)
        #expect(html.contains("fill=\"#fecaca\""))               // a drift band
        #expect(html.contains("fill=\"#fde68a\""))               // a warning band
        #expect(html.contains("stroke-dasharray=\"4 3\""))       // the model switch
        #expect(html.contains("<title>model patches v2 from 1970-01-01T00:01:00.000Z</title>"))
        #expect(html.contains("pi&lt;01&gt;") && !html.contains("pi<01>"))   // escaped
        #expect(html.contains("<polyline"))
    }

    @Test func linesBreakWhereTheDeviceRecordedNothing() throws {
        var r = report()
        r.windows = r.windows.map { d in
            var d = d
            if d.window.startMs >= 60_000 { d.window.startMs += 600_000; d.window.endMs += 600_000 }   // 10 minutes off
            return d
        }
        let html = try r.render(.html)
        let agreement = try #require(html.components(separatedBy: "<svg").dropFirst().first)
        #expect(agreement.components(separatedBy: "<polyline").count - 1 == 2)
    }

    @Test func jsonCarriesTheDocuments() throws {
        let json = try report().render(.json)
        let object = try JSONSerialization.jsonObject(with: Data(json.utf8)) as! [String: Any]
        #expect((object["windows"] as? [[String: Any]])?.count == 12)
        #expect((object["models"] as? [[String: Any]])?.count == 2)
    }

    @Test func emptyBufferSaysSo() throws {
        let empty = DeviceReport(source: "x.db", device: nil, since: 5, windows: [], events: [], models: [], pending: 0)
        #expect(try empty.render(.html).contains("No windows in the buffer since the given time."))
        #expect(try empty.render(.table).contains("period   no windows"))
    }

    @Test func storedEventJSONGivesKindAndCause() {
        let e = DeviceReport.event(tsMs: 1, kind: "drift_state", json: #"{"kind":"drift_state","cause":"sqnr_db fell"}"#)
        #expect(e.text == "sqnr_db fell")
        let other = DeviceReport.event(tsMs: 1, kind: "buffer_overflow", json: "not json")
        #expect(other.kind == "buffer_overflow" && other.text == "not json")
    }
}
