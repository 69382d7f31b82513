import ArgumentParser
import Foundation
import ONNXImport

struct InspectCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "inspect",
        abstract: "Show what is in an ONNX model: inputs, outputs, operators, parameters, quantization parameters.")

    @Argument(help: "The ONNX model file.") var model: String
    @Flag(help: "Print the summary as JSON.") var json = false

    func run() throws {
        let summary = try withUserErrors { try ModelSummary.read(contentsOf: URL(fileURLWithPath: model)) }
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            print(String(decoding: try encoder.encode(summary), as: UTF8.self))
            return
        }
        print(InspectReport.text(summary))
    }
}

enum InspectReport {
    static func text(_ s: ModelSummary) -> String {
        var lines: [String] = []
        lines.append("model      \(s.file)")
        lines.append("size       \(formatBytes(s.fileBytes))")
        lines.append("ir         \(s.irVersion)   producer \(s.producer.isEmpty ? "-" : s.producer)")
        lines.append("opsets     " + s.opsets.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", "))
        lines.append("")
        lines.append("inputs")
        for t in s.inputs { lines.append("  \(t.name)  \(t.dataType)[\(t.shape.joined(separator: ","))]") }
        lines.append("outputs")
        for t in s.outputs { lines.append("  \(t.name)  \(t.dataType)[\(t.shape.joined(separator: ","))]") }
        lines.append("")
        lines.append("operators  \(s.nodeCount) nodes")
        for op in s.operators {
            let name = op.domain == "ai.onnx" ? op.opType : "\(op.domain)::\(op.opType)"
            lines.append("  " + name.padding(toLength: 34, withPad: " ", startingAt: 0) + String(format: "%5d", op.count))
        }
        lines.append("")
        lines.append("parameters \(s.parameterCount) in \(s.initializerCount) initializers, \(formatBytes(s.parameterBytes))")
        if !s.quantizedTensors.isEmpty {
            // One row per tensor: a QuantizeLinear/DequantizeLinear pair shares its parameters.
            var rows: [(tensor: String, ops: [String], type: String, axis: String, params: String)] = []
            var rowIndex: [String: Int] = [:]
            for q in s.quantizedTensors {
                let params = quantizationParameters(q)
                let key = "\(q.tensor)|\(params)"
                if let i = rowIndex[key] {
                    if !rows[i].ops.contains(q.opType) { rows[i].ops.append(q.opType) }
                    continue
                }
                rowIndex[key] = rows.count
                rows.append((q.tensor, [q.opType], q.zeroPointType, q.axis.map(String.init) ?? "-", params))
            }
            let opNames = rows.map { $0.ops.map(abbreviation).joined(separator: ",") }
            let tensorWidth = max(6, rows.map(\.tensor.count).max() ?? 0) + 2
            let opWidth = max(2, opNames.map(\.count).max() ?? 0) + 2
            lines.append("")
            lines.append("quantized tensors  \(rows.count)   real = scale·(q − zero_point)")
            lines.append("  " + "tensor".padding(toLength: tensorWidth, withPad: " ", startingAt: 0)
                + "op".padding(toLength: opWidth, withPad: " ", startingAt: 0) + "type   axis  scale / zero point")
            for (row, ops) in zip(rows, opNames) {
                lines.append("  " + row.tensor.padding(toLength: tensorWidth, withPad: " ", startingAt: 0)
                    + ops.padding(toLength: opWidth, withPad: " ", startingAt: 0)
                    + row.type.padding(toLength: 7, withPad: " ", startingAt: 0)
                    + row.axis.padding(toLength: 6, withPad: " ", startingAt: 0) + row.params)
            }
        }
        return lines.joined(separator: "\n")
    }

    static func abbreviation(_ opType: String) -> String {
        switch opType {
        case "QuantizeLinear": "Q"
        case "DequantizeLinear": "DQ"
        default: opType
        }
    }

    static func quantizationParameters(_ q: ModelSummary.QuantizedTensor) -> String {
        if q.scale.count == 1 {
            return String(format: "%.6g", q.scale[0]) + " / " + (q.zeroPoint.first.map(String.init) ?? "0")
        }
        let lo = q.scale.min() ?? 0, hi = q.scale.max() ?? 0
        let zeros = Set(q.zeroPoint).sorted()
        let zeroText = zeros.prefix(3).map(String.init).joined(separator: ",") + (zeros.count > 3 ? ",…" : "")
        return "\(q.scale.count) channels, " + String(format: "%.4g…%.4g", lo, hi) + " / {\(zeroText)}"
    }

    static func formatBytes(_ bytes: Int) -> String {
        if bytes < 1024 { return "\(bytes) B" }
        if bytes < 1024 * 1024 { return String(format: "%.1f KiB", Double(bytes) / 1024) }
        return String(format: "%.2f MiB", Double(bytes) / 1048576)
    }
}
