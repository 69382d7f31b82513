import Foundation
import FrameSources
import Monitor
import QuantGraph
import QuantMetrics

/// The fixtures' models and frame sets, loaded once per process.
enum MonitorFixtures {
    static let root = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures")

    static func url(_ relative: String) -> URL { root.appendingPathComponent(relative) }

    static func models(_ model: String, _ variant: String) throws -> MonitoredModels {
        try MonitoredModels.load(int8: url("\(model)/model.\(variant).onnx"), float: url("\(model)/model.fp32.onnx"))
    }

    /// The frames of a set as float arrays: "heldout" or a drift set such as "brightness-3".
    static func frames(_ model: String, _ set: String, input: TensorType) throws -> [[Float]] {
        let path: String
        switch (model, set) {
        case ("digits", "heldout"): path = url("digits/heldout.npy").path
        case ("digits", _): path = url("digits/drift/\(set).npy").path
        case (_, "heldout"): path = url("\(model)/frames").path
        default: path = url("\(model)/drift/\(set)").path
        }
        let preprocessing = model == "patches"
            ? try PreprocessingFile.read(url("patches/preprocessing.json")).imagePreprocessing(source: "preprocessing.json") : nil
        return try FrameLoader.load(path, expecting: input, inputName: "input", preprocessing: preprocessing)
            .map { $0.tensor.floatValues() ?? [] }
    }

    static let driftSets = ["brightness", "gain", "noise", "blur"].flatMap { kind in (1...3).map { "\(kind)-\($0)" } }
}

/// A deterministic shuffle (SplitMix64), so every run replays the same order.
struct Shuffler {
    var state: UInt64
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    mutating func permutation(_ n: Int) -> [Int] {
        var p = Array(0..<n)
        for i in stride(from: n - 1, to: 0, by: -1) { p.swapAt(i, Int(next() % UInt64(i + 1))) }
        return p
    }

    /// `rounds` shuffled passes over `n` indices, concatenated.
    mutating func replay(_ n: Int, rounds: Int) -> [Int] { (0..<rounds).flatMap { _ in permutation(n) } }
}

extension MonitorConfiguration {
    /// The replay setting: 1 shadowed frame in 5, no time limit, an unlimited CPU budget
    /// (frames are fed as fast as the test can; time advances 100 ms per frame).
    static func oneInFive() -> MonitorConfiguration {
        var c = MonitorConfiguration()
        c.shadow.everyNth = 5
        c.shadow.minimumInterval = 0
        c.shadow.cpuShare = 1
        c.shadow.burstSeconds = 60
        return c
    }
}
