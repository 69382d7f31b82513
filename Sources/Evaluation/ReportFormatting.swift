import Foundation
import QuantMetrics

/// The report as a table for people, JSON for programs, or CSV for spreadsheets.
public enum ReportFormat: String, Sendable, CaseIterable {
    case table, json, csv
}

extension EvaluationReport {
    public func formatted(_ format: ReportFormat) throws -> String {
        switch format {
        case .json:
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            return String(decoding: try encoder.encode(self), as: UTF8.self)
        case .csv: return csv()
        case .table: return table()
        }
    }

    static func number(_ value: Double?, _ digits: Int = 3) -> String {
        guard let value else { return "-" }
        return String(format: "%.\(digits)f", value)
    }

    func table() -> String {
        var lines: [String] = []
        lines.append("int8      \(model)")
        lines.append("float     \(reference)")
        lines.append("frames    \(frames)")
        if let accuracy {
            lines.append(String(format: "accuracy  int8 %.2f%%  float %.2f%%  (%+.2f points, %d labels)",
                                accuracy.int8 * 100, accuracy.float * 100, accuracy.delta * 100, accuracy.labels))
        }
        if let inputOutOfRange { lines.append(String(format: "input out of range  %.4f%%", inputOutOfRange * 100)) }
        lines.append("")
        lines.append("output                 sqnr_db  p5_db   pooled  cosine   max_abs   top1   topk    kl")
        for output in outputs {
            let s = output.summary
            lines.append(output.name.padding(toLength: 22, withPad: " ", startingAt: 0) + " "
                + [Self.number(s.sqnrDbMean, 2), Self.number(s.sqnrDbP5, 2), Self.number(s.sqnrDbPooled, 2), Self.number(s.cosineMean, 4),
                   Self.number(s.maxAbsError, 4), Self.number(s.top1Agree, 3), Self.number(s.topkOverlapMean, 3), Self.number(s.klMean, 4)]
                .map { $0.padding(toLength: 7, withPad: " ", startingAt: 0) }.joined(separator: " "))
        }
        if let layers, !layers.isEmpty {
            lines.append("")
            lines.append("layers, worst local error first (accumulated: float vs int8 paths; local: float op on the int8 input)")
            lines.append("rank  acc_db  local_db  rmse/s  sat_hi%  sat_lo%  w_db   tensor")
            for layer in layers {
                let row = [String(layer.rank).padding(toLength: 4, withPad: " ", startingAt: 0),
                           Self.number(layer.accumulated.sqnrDbPooled, 1).padding(toLength: 7, withPad: " ", startingAt: 0),
                           Self.number(layer.local?.sqnrDbPooled, 1).padding(toLength: 9, withPad: " ", startingAt: 0),
                           Self.number(layer.rmseOverScale, 3).padding(toLength: 7, withPad: " ", startingAt: 0),
                           Self.number(layer.saturationHigh.map { $0 * 100 }, 3).padding(toLength: 8, withPad: " ", startingAt: 0),
                           Self.number(layer.saturationLow.map { $0 * 100 }, 3).padding(toLength: 8, withPad: " ", startingAt: 0),
                           Self.number(layer.weightSqnrDb, 1).padding(toLength: 6, withPad: " ", startingAt: 0),
                           layer.floatTensor + (layer.afterActivation.map { " → \($0)" } ?? "")]
                lines.append(row.joined(separator: " "))
            }
            if let unmatchedFloat, !unmatchedFloat.isEmpty {
                lines.append("unmatched float tensors: \(unmatchedFloat.count); unmatched int8 tensors: \(unmatchedInt8?.count ?? 0) (see --format json)")
            }
        }
        if !sensitivity.isEmpty {
            lines.append("")
            lines.append("sensitivity: output SQNR with one layer in float (\(sensitivityFrames) frames, all-int8 baseline \(Self.number(sensitivityBaselineSqnrDb, 2)) dB)")
            lines.append("recovered_db  sqnr_db  top1   node")
            for entry in sensitivity {
                lines.append(Self.number(entry.recoveredDb, 2).padding(toLength: 13, withPad: " ", startingAt: 0)
                    + Self.number(entry.outputSqnrDb, 2).padding(toLength: 9, withPad: " ", startingAt: 0)
                    + Self.number(entry.top1Agree, 3).padding(toLength: 7, withPad: " ", startingAt: 0) + entry.node)
            }
            let names = sensitivity.prefix(3).map { "'\($0.node)'" }.joined(separator: ", ")
            lines.append("to keep the top layers in float: quantize_static(..., nodes_to_exclude=[\(names)])")
        }
        return lines.joined(separator: "\n")
    }

    func csv() -> String {
        var lines = ["section,name,sqnr_db,sqnr_db_p5,sqnr_db_pooled,cosine,nl2,max_abs_error,rmse_over_scale,top1_agree,kl,local_sqnr_db,saturation_high,saturation_low,weight_sqnr_db,recovered_db"]
        func field(_ v: Double?) -> String { v.map { String($0) } ?? "" }
        func quoted(_ s: String) -> String { "\"" + s.replacingOccurrences(of: "\"", with: "\"\"") + "\"" }
        for output in outputs {
            let s = output.summary
            lines.append(["output", quoted(output.name), field(s.sqnrDbMean), field(s.sqnrDbP5), field(s.sqnrDbPooled), field(s.cosineMean),
                          field(s.nl2Mean), field(s.maxAbsError), field(s.rmseOverScaleMean), field(s.top1Agree), field(s.klMean), "", "", "", "", ""]
                .joined(separator: ","))
        }
        for layer in layers ?? [] {
            let s = layer.accumulated
            lines.append(["layer", quoted(layer.floatTensor), field(s.sqnrDbMean), field(s.sqnrDbP5), field(s.sqnrDbPooled), field(s.cosineMean),
                          field(s.nl2Mean), field(s.maxAbsError), field(layer.rmseOverScale), "", "", field(layer.local?.sqnrDbPooled),
                          field(layer.saturationHigh), field(layer.saturationLow), field(layer.weightSqnrDb), ""].joined(separator: ","))
        }
        for entry in sensitivity {
            lines.append(["sensitivity", quoted(entry.node), "", "", field(entry.outputSqnrDb), "", "", "", "", field(entry.top1Agree), "", "", "", "", "",
                          field(entry.recoveredDb)].joined(separator: ","))
        }
        return lines.joined(separator: "\n")
    }
}
