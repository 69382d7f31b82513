import Documents
import Monitor
import QuantMetrics
import Reports
import Testing

@Suite struct FleetTableTests {
    func metrics(_ device: String, seq: Int64, state: DriftState = .ok) throws -> [UInt8] {
        var w = WindowSummary(startMs: 0, endMs: 10_000, frames: 300, shadowed: .init(uniform: 30, triggered: 0),
                              drift: DriftSummary(state: state, detectors: [:], baselineReady: true))
        w.latencyMs = LatencyPercentiles(p50: 1, p95: 2.5, p99: 3, max: 4)
        w.top1Agree = 0.97
        w.sqnrDb = .init(mean: 41.5, p5: 30)
        w.saturation = .init(max: 0.012, frameMax: 0.1, top: [:])
        let doc = MetricsDocument(envelope: Envelope(schema: DocumentSchema.metrics, device: device, seq: seq, tsMs: 10_000),
                                  model: ModelReference(name: "patches", version: "3", sha256: "x"), window: w)
        return Array(try DocumentCoding.encode(doc).utf8)
    }

    @Test func metricsFillTheRow() throws {
        var table = FleetTable()
        let isDocument = table.ingest(topic: "quantwatch/pi-1/metrics", payload: try metrics("pi-1", seq: 1), retained: false, nowMs: 10_000)
        #expect(isDocument)
        let row = try #require(table.visibleRows.first)
        #expect(row.framesPerSecond == 30 && row.latencyP95 == 2.5 && row.top1Agree == 0.97 && row.sqnrDb == 41.5)
        #expect(row.drift == .ok && row.model?.version == "3")
        let text = table.render(nowMs: 10_500)
        #expect(text.contains("pi-1") && text.contains("patches 3") && text.contains("30.0") && text.contains("1.2%") && text.contains("now"))
    }

    @Test func seqGapsAreCountedAndLateArrivalsFillThem() throws {
        var table = FleetTable()
        for seq in [1, 2, 5] as [Int64] { table.ingest(topic: "quantwatch/pi-1/metrics", payload: try metrics("pi-1", seq: seq), retained: false, nowMs: 0) }
        #expect(table.visibleRows[0].seqGaps == 2)
        table.ingest(topic: "quantwatch/pi-1/metrics", payload: try metrics("pi-1", seq: 3), retained: false, nowMs: 0)
        #expect(table.visibleRows[0].seqGaps == 1)
        table.ingest(topic: "quantwatch/pi-1/metrics", payload: try metrics("pi-1", seq: 3), retained: false, nowMs: 0)
        #expect(table.visibleRows[0].duplicates == 1)
        // Retained state from long ago does not count as a gap.
        table.ingest(topic: "quantwatch/pi-1/metrics", payload: try metrics("pi-1", seq: 900), retained: true, nowMs: 0)
        #expect(table.visibleRows[0].seqGaps == 1)
    }

    @Test func commandsGroupsAndGarbageAreNotDevices() throws {
        var table = FleetTable()
        let isCommand = table.ingest(topic: "quantwatch/pi-1/cmd/ping", payload: Array(#"{"id":1}"#.utf8), retained: false, nowMs: 0)
        #expect(!isCommand)
        let isGroupCommand = table.ingest(topic: "quantwatch/group/lab/cmd/ping", payload: Array(#"{"id":1}"#.utf8), retained: false, nowMs: 0)
        #expect(!isGroupCommand)
        let isGarbage = table.ingest(topic: "quantwatch/pi-1/metrics", payload: Array("not json".utf8), retained: false, nowMs: 0)
        #expect(!isGarbage)
        let isOtherPrefix = table.ingest(topic: "other/pi-1/metrics", payload: try metrics("pi-1", seq: 1), retained: false, nowMs: 0)
        #expect(!isOtherPrefix)
        #expect(table.visibleRows.isEmpty)
        #expect(table.render(nowMs: 0).contains("no device has published yet"))
    }

    @Test func groupFilterUsesTheStatusDocument() throws {
        var table = FleetTable(group: "lab")
        let status = StatusDocument(envelope: Envelope(schema: DocumentSchema.status, device: "pi-2", seq: 1, tsMs: 0), status: .online,
                                    software: "0.1.0", model: nil, group: "lab", drift: .ok, reason: "connected")
        table.ingest(topic: "quantwatch/pi-2/status", payload: Array(try DocumentCoding.encode(status).utf8), retained: true, nowMs: 0)
        table.ingest(topic: "quantwatch/pi-3/metrics", payload: try metrics("pi-3", seq: 1), retained: false, nowMs: 0)
        #expect(table.visibleRows.map(\.device) == ["pi-2"])
        #expect(table.visibleRows[0].status == "online")
    }

    @Test func theEventShownIsTheOneThatExplainsTheDriftState() throws {
        var table = FleetTable()
        var seq: Int64 = 0
        func show(_ detector: DetectorName, _ from: DriftState, _ to: DriftState, state: DriftState) throws -> String? {
            seq += 1
            let event = MonitorEvent(kind: .driftState, tsMs: 0, detector: detector, from: from, to: to, state: state,
                                     cause: "\(detector.rawValue) \(from.rawValue) to \(to.rawValue)")
            let doc = EventDocument(envelope: Envelope(schema: DocumentSchema.events, device: "pi-1", seq: seq, tsMs: 0), model: nil, event: event)
            table.ingest(topic: "quantwatch/pi-1/events", payload: Array(try DocumentCoding.encode(doc).utf8), retained: false, nowMs: 0)
            return table.visibleRows.first?.lastEvent
        }
        #expect(try show(.sqnrDb, .ok, .warning, state: .warning) == "sqnr_db ok to warning")
        #expect(try show(.sqnrDb, .warning, .drift, state: .drift) == "sqnr_db warning to drift")
        // A second detector warming up while the device drifts does not hide why it drifts …
        #expect(try show(.top1Agree, .ok, .warning, state: .drift) == "sqnr_db warning to drift")
        #expect(try show(.sqnrDb, .drift, .warning, state: .warning) == "sqnr_db drift to warning")
        // … nor one recovering while another keeps the device in warning.
        #expect(try show(.top1Agree, .warning, .ok, state: .warning) == "sqnr_db drift to warning")
        #expect(table.visibleRows.first?.drift == .warning)
        #expect(try show(.sqnrDb, .warning, .ok, state: .ok) == "sqnr_db warning to ok")
        #expect(table.stateSnapshot.count == 1 && table.stateSnapshot[0].contains("sqnr_db warning to ok"))
    }
}
