// The canary: a new int8 model against its own float reference on frames the device has seen and on
// the frames bundled with it, before it may serve. And the figures probation compares.
import FrameSources
import Foundation
import Monitor
import QuantGraph
import QuantMetrics

/// Thresholds a canary must meet (the manifest's, else the device's defaults).
public struct CanaryThresholds: Sendable, Equatable, Codable {
    public var minSQNR: Double
    /// Top-1 agreement (classifiers only).
    public var minAgreement: Double
    public var maxSaturation: Double

    public init(minSQNR: Double = 15, minAgreement: Double = 0.9, maxSaturation: Double = 1) {
        self.minSQNR = minSQNR
        self.minAgreement = minAgreement
        self.maxSaturation = maxSaturation
    }

    /// The manifest's thresholds where it gives them, these otherwise.
    public func overridden(by canary: Manifest.Canary?) -> CanaryThresholds {
        CanaryThresholds(minSQNR: canary?.minSQNR ?? minSQNR, minAgreement: canary?.minAgreement ?? minAgreement,
                         maxSaturation: canary?.maxSaturation ?? maxSaturation)
    }

    enum CodingKeys: String, CodingKey { case minSQNR = "min_sqnr_db", minAgreement = "min_agreement", maxSaturation = "max_saturation" }
}

/// What a model pair gave on a set of frames.
public struct CanaryFigures: Sendable, Equatable, Codable {
    public var frames: Int
    /// Mean SQNR of the compared output, dB.
    public var meanSQNR: Double
    /// Fraction of frames whose top-1 class agrees (nil: not a classifier).
    public var agreement: Double?
    /// Mean over frames of the most saturated tensor's fraction.
    public var meanSaturation: Double

    public init(frames: Int, meanSQNR: Double, agreement: Double?, meanSaturation: Double) {
        self.frames = frames
        self.meanSQNR = meanSQNR
        self.agreement = agreement
        self.meanSaturation = meanSaturation
    }

    enum CodingKeys: String, CodingKey { case frames, meanSQNR = "sqnr_db", agreement = "top1_agree", meanSaturation = "saturation" }

    public var summary: String {
        String(format: "%d frames: SQNR %.1f dB", frames, meanSQNR) + (agreement.map { String(format: ", top-1 agreement %.3f", $0) } ?? "")
            + String(format: ", saturation %.4f", meanSaturation)
    }
}

public enum Canary {
    /// Runs both models of the pair on each frame (model inputs, float32) and compares them.
    public static func measure(_ models: MonitoredModels, frames: [[Float]]) -> CanaryFigures {
        let reader = SaturationReader(model: models.int8, activationBounds: models.activationBounds)
        let outputName = models.int8.outputs[models.int8Output].name
        var int8Out = [Float](repeating: 0, count: models.int8.outputs[models.int8Output].type.elementCount)
        var sqnr = 0.0, agree = 0, saturation = 0.0, count = 0
        for frame in frames where frame.count == models.int8.inputs[0].type.elementCount {
            frame.withUnsafeBytes { models.int8.inputBuffer(0).copyMemory(from: $0) }
            models.int8.resetCounters()
            models.int8.run()
            saturation += reader.read(models.int8).max
            _ = int8Out.withUnsafeMutableBufferPointer { models.int8.readDequantized(outputName, into: $0) }
            frame.withUnsafeBytes { models.float.inputBuffer(0).copyMemory(from: $0) }
            models.float.run()
            let floatOut = models.float.outputBuffer(models.floatOutput).bindMemory(to: Float.self)
            let c = int8Out.withUnsafeBufferPointer { Comparison.compare(reference: floatOut, quantized: $0, classAxisCount: models.classes, k: 1) }
            sqnr += c.sqnrDb
            if (c.top1Agree ?? 0) >= 1 { agree += 1 }
            count += 1
        }
        let n = Double(max(count, 1))
        return CanaryFigures(frames: count, meanSQNR: sqnr / n, agreement: models.classes != nil ? Double(agree) / n : nil,
                             meanSaturation: saturation / n)
    }

    /// Refuses (step `canary`) when the figures miss a threshold, naming it and both numbers.
    public static func check(_ figures: CanaryFigures, _ thresholds: CanaryThresholds) throws(UpdateRefusal) {
        guard figures.frames > 0 else { throw UpdateRefusal(.canary, "no frames to check the model on (none stored yet and none bundled)") }
        if figures.meanSQNR < thresholds.minSQNR {
            throw UpdateRefusal(.canary, String(format: "mean SQNR %.2f dB over %d frames is below the threshold %.2f dB", figures.meanSQNR, figures.frames, thresholds.minSQNR))
        }
        if let a = figures.agreement, a < thresholds.minAgreement {
            throw UpdateRefusal(.canary, String(format: "top-1 agreement %.3f over %d frames is below the threshold %.3f", a, figures.frames, thresholds.minAgreement))
        }
        if figures.meanSaturation > thresholds.maxSaturation {
            throw UpdateRefusal(.canary, String(format: "mean saturation %.4f over %d frames is above the threshold %.4f", figures.meanSaturation, figures.frames, thresholds.maxSaturation))
        }
    }

    /// The bundled frames of an installed slot (.npy model inputs), as float32 values.
    public static func frames(files: [String], input: TensorType) throws(UpdateRefusal) -> [[Float]] {
        var out: [[Float]] = []
        for path in files {
            do {
                let tensor = try NPY.read(contentsOf: URL(fileURLWithPath: path))
                guard tensor.type == input else {
                    throw UpdateRefusal(.canary, "bundled frame \((path as NSString).lastPathComponent) holds \(tensor.type); the model input is \(input)")
                }
                out.append(tensor.withUnsafeBytes { Array($0.bindMemory(to: Float.self)) })
            } catch let refusal as UpdateRefusal {
                throw refusal
            } catch {
                throw UpdateRefusal(.canary, "bundled frame \((path as NSString).lastPathComponent): \(error)")
            }
        }
        return out
    }
}
