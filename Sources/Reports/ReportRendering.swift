// The report as text, JSON, or one self-contained HTML file with inline SVG charts.
import Documents
import Foundation
import QuantMetrics

public enum DeviceReportFormat: String, CaseIterable, Sendable {
    case table, json, html
}

extension DeviceReport {
    public func render(_ format: DeviceReportFormat) throws -> String {
        switch format {
        case .table: return table()
        case .json:
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes, .prettyPrinted]
            return String(decoding: try encoder.encode(self), as: UTF8.self) + "\n"
        case .html: return html()
        }
    }

    var period: String {
        guard let first = windows.first, let last = windows.last else { return "no windows" }
        return "\(rfc3339(milliseconds: first.window.startMs)) – \(rfc3339(milliseconds: last.window.endMs))"
    }

    // MARK: - Table

    public func table() -> String {
        var out = "source   \(source)\n"
        out += "device   \(device ?? "unknown")\n"
        out += "period   \(period)\(since.map { " (since \(rfc3339(milliseconds: $0)))" } ?? "")\n"
        out += "windows  \(windows.count)   frames \(windows.reduce(0) { $0 + $1.window.frames })   events \(events.count)"
        if let pending { out += "   undelivered \(pending)" }
        out += "\n"
        let states = stateSpans
        let time = Dictionary(grouping: states, by: \.state).mapValues { $0.reduce(Int64(0)) { $0 + $1.endMs - $1.startMs } }
        let total = max(1, time.values.reduce(0, +))
        out += "drift    " + DriftState.allCases.map { "\($0.rawValue) \(percent(Double(time[$0] ?? 0) / Double(total)))" }.joined(separator: "   ") + "\n"

        out += "\nmodels\n"
        if models.isEmpty { out += "  (none recorded)\n" }
        for m in models {
            out += "  \(m.name) \(m.version)  sha256 \(m.sha256.prefix(12))…  active since \(m.activatedMs.map { rfc3339(milliseconds: $0) } ?? "?")"
                + (m.hasBaseline ? "  baseline stored" : "") + "\n"
        }

        out += "\nwindows\n"
        let header = ["start (UTC)", "model", "frames", "shadow", "p50 ms", "p95 ms", "top1", "sqnr", "sqnr p5", "sat max", "input oor", "state"]
        var rows: [[String]] = [header]
        for d in windows {
            let w = d.window
            rows.append([
                String(rfc3339(milliseconds: w.startMs).dropLast(5)), "\(d.model.name) \(d.model.version)", "\(w.frames)",
                "\(w.shadowed.uniform)+\(w.shadowed.triggered)", num(w.latencyMs?.p50), num(w.latencyMs?.p95), num(w.top1Agree),
                num(w.sqnrDb?.mean), num(w.sqnrDb?.p5), percentOrDash(w.saturation.max), percentOrDash(w.inputOutOfRange),
                w.drift.state.rawValue,
            ])
        }
        out += aligned(rows)

        out += "\nevents\n"
        if events.isEmpty { out += "  (none)\n" }
        for e in events { out += "  \(rfc3339(milliseconds: e.tsMs))  \(e.kind)  \(e.text)\n" }
        return out
    }

    func aligned(_ rows: [[String]]) -> String {
        guard let first = rows.first else { return "" }
        let widths = first.indices.map { c in rows.map { $0[c].count }.max() ?? 0 }
        return rows.map { row in
            "  " + row.enumerated().map { c, v in c == 0 || c == 1 ? v.padding(toLength: widths[c], withPad: " ", startingAt: 0)
                : String(repeating: " ", count: widths[c] - v.count) + v }.joined(separator: "  ")
        }.joined(separator: "\n") + "\n"
    }

    // MARK: - HTML

    public func html() -> String {
        let t0 = windows.first?.window.startMs ?? 0, t1 = max(windows.last?.window.endMs ?? 1, t0 + 1)
        let axis = TimeAxis(start: t0, end: t1)
        let spans = stateSpans, switches = modelSwitches
        // A line breaks where the device recorded nothing (a gap of more than a second between windows).
        func series(_ name: String, _ color: String, _ value: (WindowSummary) -> Double?) -> ChartSeries {
            var points: [(Int64, Double?)] = []
            var previousEnd: Int64?
            for d in windows {
                if let end = previousEnd, d.window.startMs > end + 1000 { points.append((end, nil)) }
                points.append((d.window.startMs + (d.window.endMs - d.window.startMs) / 2, value(d.window)))
                previousEnd = d.window.endMs
            }
            return ChartSeries(name: name, color: color, points: points)
        }
        let charts = [
            Chart(title: "Top-1 agreement (int8 vs float, uniform shadow frames)", unit: "", yMin: 0, yMax: 1,
                  series: [series("top1_agree", "#2563eb", { $0.top1Agree })]),
            Chart(title: "SQNR of the output (dB)", unit: " dB", yMin: nil, yMax: nil,
                  series: [series("mean", "#2563eb", { $0.sqnrDb?.mean }), series("p5", "#93c5fd", { $0.sqnrDb?.p5 })]),
            Chart(title: "Saturation (largest over int8 tensors) and input out of range", unit: "", yMin: 0, yMax: nil, percent: true,
                  series: [series("saturation max", "#dc2626", { $0.saturation.max }), series("input out of range", "#f59e0b", { $0.inputOutOfRange })]),
            Chart(title: "int8 latency (ms)", unit: " ms", yMin: 0, yMax: nil,
                  series: [series("p50", "#059669", { $0.latencyMs?.p50 }), series("p95", "#6ee7b7", { $0.latencyMs?.p95 })]),
        ]
        var body = ""
        body += "<h1>QuantWatch report — \(escape(device ?? "unknown device"))</h1>\n"
        body += "<p class=\"meta\">\(escape(source)) · \(escape(period)) · \(windows.count) windows · \(windows.reduce(0) { $0 + $1.window.frames }) frames"
            + " · \(events.count) events\(pending.map { " · \($0) documents not yet delivered" } ?? "")</p>\n"
        body += "<div class=\"legend\"><span class=\"sw warning\"></span>warning <span class=\"sw drift\"></span>drift "
            + "<span class=\"sw switch\"></span>model switch</div>\n"
        if windows.isEmpty { body += "<p>No windows in the buffer\(since != nil ? " since the given time" : "").</p>\n" }
        for chart in charts where !windows.isEmpty {
            body += "<section><h2>\(escape(chart.title))</h2>\n" + chart.svg(axis: axis, spans: spans, switches: switches) + "</section>\n"
        }
        body += "<section><h2>Models</h2>\n<table><tr><th>name</th><th>version</th><th>sha256</th><th>active since</th><th>baseline</th></tr>\n"
        for m in models {
            body += "<tr><td>\(escape(m.name))</td><td>\(escape(m.version))</td><td><code>\(escape(String(m.sha256.prefix(16))))…</code></td>"
                + "<td>\(m.activatedMs.map { rfc3339(milliseconds: $0) } ?? "")</td><td>\(m.hasBaseline ? "stored" : "")</td></tr>\n"
        }
        body += "</table></section>\n"
        body += "<section><h2>Events</h2>\n<table><tr><th>time (UTC)</th><th>kind</th><th>what</th></tr>\n"
        for e in events {
            body += "<tr class=\"\(escape(e.kind))\"><td>\(rfc3339(milliseconds: e.tsMs))</td><td>\(escape(e.kind))</td><td>\(escape(e.text))</td></tr>\n"
        }
        body += "</table></section>\n"
        body += "<section><h2>Windows</h2>\n<details><summary>\(windows.count) windows</summary>\n<pre>\(escape(table()))</pre></details></section>\n"
        return """
        <!DOCTYPE html>
        <html lang="en"><head><meta charset="utf-8"><title>QuantWatch report — \(escape(device ?? "device"))</title>
        <style>
        body{font:14px/1.4 system-ui,sans-serif;margin:24px auto;max-width:1000px;color:#111;padding:0 16px}
        h1{font-size:22px;margin:0 0 4px}h2{font-size:15px;margin:20px 0 6px}.meta{color:#555;margin:0 0 8px}
        table{border-collapse:collapse;width:100%;font-size:13px}td,th{border-bottom:1px solid #e5e7eb;padding:3px 6px;text-align:left;vertical-align:top}
        tr.drift_state td:nth-child(2){color:#b91c1c}svg{width:100%;height:auto;background:#fff;border:1px solid #e5e7eb}
        .legend{font-size:12px;color:#444}.sw{display:inline-block;width:12px;height:12px;margin:0 4px 0 10px;vertical-align:-2px}
        .sw.warning{background:#fde68a}.sw.drift{background:#fecaca}.sw.switch{border-left:2px dashed #7c3aed;width:0}
        pre{font-size:11px;overflow:auto}
        </style></head><body>
        \(body)</body></html>

        """
    }
}

func escape(_ s: String) -> String {
    s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
        .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
}

func num(_ x: Double?) -> String {
    guard let x, x.isFinite else { return "–" }
    if abs(x) >= 100 { return String(format: "%.0f", x) }
    if abs(x) >= 10 { return String(format: "%.1f", x) }
    return String(format: "%.3f", x)
}

func percent(_ x: Double) -> String { String(format: "%.1f%%", x * 100) }
func percentOrDash(_ x: Double?) -> String { x.map(percent) ?? "–" }

struct TimeAxis {
    var start: Int64, end: Int64
}

struct ChartSeries {
    var name: String
    var color: String
    var points: [(Int64, Double?)]
}

/// One line chart over the report's time axis, with drift-state bands and model-switch markers.
struct Chart {
    var title: String
    var unit: String
    var yMin: Double?, yMax: Double?
    var percent = false
    var series: [ChartSeries]

    static let width = 960.0, height = 200.0, left = 56.0, right = 12.0, top = 10.0, bottom = 26.0

    func svg(axis: TimeAxis, spans: [DeviceReport.StateSpan], switches: [(tsMs: Int64, model: ModelReference)]) -> String {
        let values = series.flatMap { $0.points.compactMap { $0.1 } }.filter(\.isFinite)
        var lo = yMin ?? (values.min() ?? 0), hi = yMax ?? (values.max() ?? 1)
        if hi <= lo { hi = lo + (lo == 0 ? 1 : abs(lo) * 0.1) }
        if yMin == nil { lo -= (hi - lo) * 0.05 }
        if yMax == nil { hi += (hi - lo) * 0.05 }
        let w = Self.width, h = Self.height, plotW = w - Self.left - Self.right, plotH = h - Self.top - Self.bottom
        func x(_ t: Int64) -> Double { Self.left + plotW * Double(t - axis.start) / Double(max(1, axis.end - axis.start)) }
        func y(_ v: Double) -> Double { Self.top + plotH * (1 - (v - lo) / (hi - lo)) }
        func f(_ v: Double) -> String { String(format: "%.1f", v) }
        var s = "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 \(Int(w)) \(Int(h))\" role=\"img\" aria-label=\"\(escape(title))\">\n"
        for span in spans where span.state != .ok {
            let color = span.state == .drift ? "#fecaca" : "#fde68a"
            s += "<rect x=\"\(f(x(span.startMs)))\" y=\"\(f(Self.top))\" width=\"\(f(max(1, x(span.endMs) - x(span.startMs))))\" height=\"\(f(plotH))\" fill=\"\(color)\">"
                + "<title>\(span.state.rawValue) \(rfc3339(milliseconds: span.startMs)) – \(rfc3339(milliseconds: span.endMs))</title></rect>\n"
        }
        for i in 0...4 {
            let v = lo + (hi - lo) * Double(i) / 4
            let label = percent ? String(format: "%.1f%%", v * 100) : num(v)
            s += "<line x1=\"\(f(Self.left))\" x2=\"\(f(w - Self.right))\" y1=\"\(f(y(v)))\" y2=\"\(f(y(v)))\" stroke=\"#e5e7eb\"/>"
                + "<text x=\"\(f(Self.left - 4))\" y=\"\(f(y(v) + 4))\" font-size=\"10\" text-anchor=\"end\" fill=\"#555\">\(label)</text>\n"
        }
        for i in 0...5 {
            let t = axis.start + (axis.end - axis.start) * Int64(i) / 5
            let stamp = rfc3339(milliseconds: t)
            let label = i == 0 ? String(stamp.prefix(16)).replacingOccurrences(of: "T", with: " ") : String(stamp.dropFirst(11).prefix(8))
            s += "<text x=\"\(f(x(t)))\" y=\"\(f(h - 8))\" font-size=\"10\" text-anchor=\"\(i == 0 ? "start" : i == 5 ? "end" : "middle")\" fill=\"#555\">\(label)</text>\n"
        }
        for sw in switches {
            s += "<line x1=\"\(f(x(sw.tsMs)))\" x2=\"\(f(x(sw.tsMs)))\" y1=\"\(f(Self.top))\" y2=\"\(f(Self.top + plotH))\" stroke=\"#7c3aed\" stroke-dasharray=\"4 3\" stroke-width=\"1.5\">"
                + "<title>model \(escape(sw.model.name)) \(escape(sw.model.version)) from \(rfc3339(milliseconds: sw.tsMs))</title></line>"
                + "<text x=\"\(f(x(sw.tsMs) + 3))\" y=\"\(f(Self.top + 10))\" font-size=\"10\" fill=\"#7c3aed\">\(escape(sw.model.version))</text>\n"
        }
        for (index, line) in series.enumerated() {
            // Break the line where a window has no value.
            var segments: [[(Double, Double)]] = [[]]
            for (t, v) in line.points {
                if let v, v.isFinite { segments[segments.count - 1].append((x(t), y(min(max(v, lo), hi)))) } else if !segments[segments.count - 1].isEmpty { segments.append([]) }
            }
            for seg in segments where !seg.isEmpty {
                if seg.count == 1 {
                    s += "<circle cx=\"\(f(seg[0].0))\" cy=\"\(f(seg[0].1))\" r=\"2\" fill=\"\(line.color)\"/>\n"
                } else {
                    s += "<polyline fill=\"none\" stroke=\"\(line.color)\" stroke-width=\"1.6\" points=\"" + seg.map { "\(f($0.0)),\(f($0.1))" }.joined(separator: " ") + "\"/>\n"
                }
            }
            s += "<rect x=\"\(f(Self.left + 8 + Double(index) * 150))\" y=\"\(f(Self.top + 4))\" width=\"10\" height=\"3\" fill=\"\(line.color)\"/>"
                + "<text x=\"\(f(Self.left + 22 + Double(index) * 150))\" y=\"\(f(Self.top + 10))\" font-size=\"10\" fill=\"#333\">\(escape(line.name))</text>\n"
        }
        s += "<rect x=\"\(f(Self.left))\" y=\"\(f(Self.top))\" width=\"\(f(plotW))\" height=\"\(f(plotH))\" fill=\"none\" stroke=\"#9ca3af\"/>\n"
        return s + "</svg>\n"
    }
}
