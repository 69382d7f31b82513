import ArgumentParser
import FrameSources
import Foundation
import Monitor
import ONNXImport
import QuantGraph

struct InferCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "infer",
        abstract: "Run a model on one frame and print its outputs.",
        discussion: """
            Each --input is FILE or NAME=FILE, FILE being a .npy array or an ONNX TensorProto .pb file.
            Without NAME, a .pb file's own tensor name is used when the model has such an input;
            otherwise unnamed inputs fill the model's inputs in order.
            """)

    @Argument(help: "The ONNX model file.") var model: String
    @Option(name: .long, help: ArgumentHelp("An input tensor: [NAME=]FILE (.npy or .pb). Repeat for several inputs.", valueName: "[NAME=]FILE"))
    var input: [String] = []
    @Option(name: .long, help: ArgumentHelp("Write each output to DIR/NAME.npy.", valueName: "DIR")) var save: String?
    @Option(name: .long, help: ArgumentHelp("Print the K highest-scoring classes of each output instead of its values.", valueName: "K"))
    var top: Int?
    @Option(name: .long, help: ArgumentHelp("Class names, one per line, for --top.", valueName: "FILE")) var labels: String?
    @Option(name: .long, help: ArgumentHelp("Static shape for an input with symbolic dims: NAME=D,D,…", valueName: "NAME=DIMS"))
    var shape: [String] = []
    @Option(name: .long, help: "Run the inference N times and print the mean latency (outputs are from the last run).")
    var `repeat`: Int = 1
    @Flag(name: .long, help: "Print the time of each planned step (fused nodes are one step), slowest first.")
    var profile = false
    @Flag(name: .customLong("no-counters"), help: "Plan the model without saturation counters (with --profile: what they cost per step).")
    var noCounters = false
    @Option(name: .long, help: ArgumentHelp("The int8 model's float original: plan it as run and eval do (folded activations' floors and ceilings not counted).", valueName: "FLOAT.onnx"))
    var reference: String?

    func validate() throws {
        guard !input.isEmpty else { throw ValidationError("give at least one --input [NAME=]FILE") }
        if let top, top < 1 { throw ValidationError("--top must be at least 1") }
        guard self.repeat >= 1 else { throw ValidationError("--repeat must be at least 1") }
    }

    func run() throws {
        try withUserErrors {
            var options = ImportOptions()
            for spec in shape {
                let parts = spec.split(separator: "=", maxSplits: 1).map(String.init)
                guard parts.count == 2, let dims = Optional(parts[1].split(separator: ",").compactMap { Int($0) }),
                      dims.count == parts[1].split(separator: ",").count, !dims.isEmpty else {
                    throw CLIError("--shape '\(spec)' is not NAME=D,D,… (e.g. input=1,3,96,96)")
                }
                options.inputShapes[parts[0]] = dims
            }
            let modelURL = URL(fileURLWithPath: model)
            let loaded = try ONNXModel.load(contentsOf: modelURL, options: options)
            var compileOptions = loaded.compileOptions
            compileOptions.saturationCounters = !noCounters
            if let reference {
                compileOptions.activationBounds = try MonitoredModels.activationBounds(int8: loaded.graph, reference: URL(fileURLWithPath: reference))
            }
            let compiled = try loaded.compile(compileOptions)
            let assignments = try assignInputs(compiled)
            for (index, tensor, file) in assignments {
                let port = compiled.inputs[index]
                guard tensor.type == port.type else {
                    throw CLIError("\(file): input '\(port.name)' expects \(port.type); the file holds \(tensor.type)")
                }
                try compiled.setInput(index, tensor)
            }
            let clock = ContinuousClock()
            let start = clock.now
            for _ in 0..<self.repeat { compiled.run() }
            let elapsed = clock.now - start
            let classNames = try labels.map { try String(contentsOfFile: $0, encoding: .utf8).split(separator: "\n", omittingEmptySubsequences: false).map(String.init) }
            for index in compiled.outputs.indices {
                let port = compiled.outputs[index]
                let tensor = compiled.output(index)
                print("\(port.name)  \(port.type)")
                if let top { print(OutputFormatting.topK(tensor, k: top, names: classNames)) } else { print(OutputFormatting.values(tensor)) }
                if let save {
                    let directory = URL(fileURLWithPath: save)
                    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
                    let url = directory.appendingPathComponent(OutputFormatting.fileName(for: port.name) + ".npy")
                    try NPY.write(tensor, to: url)
                }
            }
            if self.repeat > 1 {
                print(String(format: "mean latency %.3f ms over %d runs", milliseconds(elapsed) / Double(self.repeat), self.repeat))
            }
            if profile {
                let bounds = compileOptions.activationBounds
                print("saturation counters \(noCounters ? "off" : "on")" + (bounds.floors.isEmpty && bounds.ceilings.isEmpty ? ""
                    : " (\(bounds.floors.count) activation floors, \(bounds.ceilings.count) ceilings not counted)"))
                print(StepProfile.measure(compiled, runs: self.repeat))
            }
        }
    }

    /// Matches each --input to a model input: by NAME=, by a .pb file's tensor name, or in order.
    func assignInputs(_ compiled: CompiledModel) throws -> [(Int, Tensor, String)] {
        var assigned: [Int: (Tensor, String)] = [:]
        var unnamed: [(Tensor, String)] = []
        let expected = compiled.inputs.map(\.description).joined(separator: ", ")
        for spec in input {
            var name: String?
            var file = spec
            if let eq = spec.firstIndex(of: "="), !FileManager.default.fileExists(atPath: spec) {
                name = String(spec[..<eq])
                file = String(spec[spec.index(after: eq)...])
            }
            let (storedName, tensor) = try Self.readTensor(file)
            if name == nil, let storedName, compiled.inputIndex(named: storedName) != nil { name = storedName }
            if let name {
                guard let index = compiled.inputIndex(named: name) else {
                    throw CLIError("the model has no input named '\(name)'; it expects \(expected)")
                }
                guard assigned[index] == nil else { throw CLIError("input '\(name)' is given twice") }
                assigned[index] = (tensor, file)
            } else {
                unnamed.append((tensor, file))
            }
        }
        var free = compiled.inputs.indices.filter { assigned[$0] == nil }.makeIterator()
        for (tensor, file) in unnamed {
            guard let index = free.next() else { throw CLIError("\(file): more inputs given than the model has; it expects \(expected)") }
            assigned[index] = (tensor, file)
        }
        let missing = compiled.inputs.indices.filter { assigned[$0] == nil }.map { compiled.inputs[$0].description }
        guard missing.isEmpty else { throw CLIError("missing input(s): \(missing.joined(separator: ", ")); the model expects \(expected)") }
        return assigned.sorted { $0.key < $1.key }.map { ($0.key, $0.value.0, $0.value.1) }
    }

    static func readTensor(_ path: String) throws -> (String?, Tensor) {
        let url = URL(fileURLWithPath: path)
        switch url.pathExtension.lowercased() {
        case "npy": return (nil, try NPY.read(contentsOf: url))
        case "pb":
            let (name, tensor) = try TensorDecoder.read(contentsOf: url)
            return (name.isEmpty ? nil : name, tensor)
        default: throw CLIError("\(path): unsupported input file type '.\(url.pathExtension)'; expected .npy or .pb")
        }
    }
}

func milliseconds(_ duration: Duration) -> Double {
    Double(duration.components.seconds) * 1000 + Double(duration.components.attoseconds) / 1e15
}

/// Per-step timing of a compiled model: where an inference spends its time.
enum StepProfile {
    static func measure(_ compiled: CompiledModel, runs: Int) -> String {
        let clock = ContinuousClock()
        var totals = [Duration](repeating: .zero, count: compiled.stepCount)
        for _ in 0..<runs {
            for step in 0..<compiled.stepCount {
                let start = clock.now
                compiled.runStep(step)
                totals[step] += clock.now - start
            }
        }
        let all = totals.reduce(Duration.zero, +)
        var lines = [String(format: "profile: %d steps, %.3f ms per run (mean of %d)", compiled.stepCount, milliseconds(all) / Double(runs), runs)]
        for step in totals.indices.sorted(by: { totals[$0] > totals[$1] }) {
            let node = compiled.stepNodes[step]
            let ms = milliseconds(totals[step]) / Double(runs)
            let share = 100 * milliseconds(totals[step]) / max(milliseconds(all), 1e-12)
            lines.append(String(format: "  %4d  ", step) + node.opType.padding(toLength: 20, withPad: " ", startingAt: 0)
                + String(format: "%8.4f ms  %5.1f%%  ", ms, share) + node.name)
        }
        return lines.joined(separator: "\n")
    }
}

enum OutputFormatting {
    /// `NAME` with every character outside [A-Za-z0-9._-] replaced by `_`.
    static func fileName(for name: String) -> String {
        let allowed = Set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-")
        let mapped = String(name.map { allowed.contains($0) ? $0 : "_" })
        return mapped.isEmpty ? "_" : mapped
    }

    static func values(_ tensor: Tensor, limit: Int = 32) -> String {
        guard let values = tensor.floatValues() else { return "  (\(tensor.dataType) values not printable)" }
        let shown = values.prefix(limit).map { String(format: "%.6g", $0) }.joined(separator: ", ")
        var text = "  [\(shown)\(values.count > limit ? ", …" : "")]"
        if values.count > limit, let lo = values.min(), let hi = values.max() {
            let mean = values.reduce(0, +) / Float(values.count)
            text += String(format: "\n  %d values: min %.6g  max %.6g  mean %.6g", values.count, lo, hi, mean)
        }
        return text
    }

    /// Top-k classes per row of the last axis.
    static func topK(_ tensor: Tensor, k: Int, names: [String]?) -> String {
        guard let values = tensor.floatValues(), let classes = tensor.shape.last, classes > 0 else { return "  (no classes)" }
        var lines: [String] = []
        let rows = values.count / classes
        for row in 0..<rows {
            let slice = Array(values[row * classes..<(row + 1) * classes])
            let ranked = slice.indices.sorted { slice[$0] != slice[$1] ? slice[$0] > slice[$1] : $0 < $1 }.prefix(k)
            if rows > 1 { lines.append("  row \(row)") }
            for (rank, index) in ranked.enumerated() {
                let label = names.flatMap { index < $0.count && !$0[index].isEmpty ? "  \($0[index])" : nil } ?? ""
                lines.append(String(format: "  %2d. class %-4d %.6f", rank + 1, index, slice[index]) + label)
            }
        }
        return lines.joined(separator: "\n")
    }
}
