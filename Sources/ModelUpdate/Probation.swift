// Probation after a switch: the new model's shadow frames against the previous model's figures.
// Pure arithmetic; the daemon feeds it frames and acts on its verdict.
import Foundation

/// The previous model's figures the new one is held to.
public struct ProbationReference: Sendable, Equatable, Codable {
    public var sqnrDb: Double?
    public var agreement: Double?
    /// "baseline" (the previous model's drift baseline) or "canary" (its figures on the canary frames).
    public var source: String
    public init(sqnrDb: Double?, agreement: Double?, source: String) {
        self.sqnrDb = sqnrDb
        self.agreement = agreement
        self.source = source
    }
    enum CodingKeys: String, CodingKey { case sqnrDb = "sqnr_db", agreement = "top1_agree", source }
}

public struct ProbationPolicy: Sendable, Equatable, Codable {
    public var periodMs: Int64
    public var minShadows: Int
    public var marginDb: Double
    public var marginAgreement: Double
    /// Consecutive frames the new model fails to run before it is rolled back.
    public var maxFailures: Int
    public init(periodMs: Int64 = 600_000, minShadows: Int = 30, marginDb: Double = 3, marginAgreement: Double = 0.05, maxFailures: Int = 3) {
        self.periodMs = periodMs
        self.minShadows = minShadows
        self.marginDb = marginDb
        self.marginAgreement = marginAgreement
        self.maxFailures = maxFailures
    }
}

public struct Probation: Sendable {
    public enum Verdict: Sendable, Equatable {
        case pending
        case passed(String)
        case failed(String)
    }

    public let record: ProbationRecord
    public let policy: ProbationPolicy
    public private(set) var shadows = 0
    public private(set) var sqnrSum = 0.0
    public private(set) var agreements = 0
    public private(set) var classified = 0
    public private(set) var consecutiveFailures = 0

    public init(record: ProbationRecord, policy: ProbationPolicy) {
        self.record = record
        self.policy = policy
    }

    /// One shadowed frame of the new model: its SQNR, and whether int8 and float agree on top-1 (nil: not a classifier).
    public mutating func observe(sqnrDb: Double, top1Agree: Double?) {
        consecutiveFailures = 0
        shadows += 1
        sqnrSum += sqnrDb.isFinite ? sqnrDb : 100
        if let a = top1Agree {
            classified += 1
            if a >= 1 { agreements += 1 }
        }
    }

    /// A frame ran (not shadowed): resets the failure run.
    public mutating func ran() { consecutiveFailures = 0 }

    /// A frame the new model failed to run.
    public mutating func failed() { consecutiveFailures += 1 }

    public var meanSQNR: Double? { shadows > 0 ? sqnrSum / Double(shadows) : nil }
    public var agreement: Double? { classified > 0 ? Double(agreements) / Double(classified) : nil }

    /// The figures so far, for an event: `shadowed`, `sqnr_db`, `top1_agree` and the reference's.
    public var figureValues: [String: Double] {
        var figures = ["shadowed": Double(shadows)]
        if let s = meanSQNR { figures["sqnr_db"] = s }
        if let a = agreement { figures["top1_agree"] = a }
        if let s = record.reference.sqnrDb { figures["reference_sqnr_db"] = s }
        if let a = record.reference.agreement { figures["reference_top1_agree"] = a }
        return figures
    }

    /// The figures so far, one line.
    public var figures: String {
        var parts = ["\(shadows) shadowed frames"]
        if let s = meanSQNR { parts.append(String(format: "mean SQNR %.2f dB", s)) }
        if let a = agreement { parts.append(String(format: "top-1 agreement %.3f", a)) }
        return parts.joined(separator: ", ")
    }

    public func verdict(nowMs: Int64) -> Verdict {
        if consecutiveFailures >= policy.maxFailures {
            return .failed("the new model failed to run \(consecutiveFailures) frames in a row")
        }
        if shadows >= policy.minShadows {
            if let ref = record.reference.sqnrDb, let s = meanSQNR, s < ref - policy.marginDb {
                return .failed(String(format: "mean SQNR %.2f dB over %d shadowed frames is more than %.2f dB below the previous model's %.2f dB",
                                      s, shadows, policy.marginDb, ref) + " (its \(record.reference.source))")
            }
            if let ref = record.reference.agreement, let a = agreement, a < ref - policy.marginAgreement {
                return .failed(String(format: "top-1 agreement %.3f over %d shadowed frames is more than %.3f below the previous model's %.3f",
                                      a, classified, policy.marginAgreement, ref) + " (its \(record.reference.source))")
            }
        }
        if nowMs >= record.untilMs {
            return .passed("probation passed: " + figures + (shadows < policy.minShadows ? " (fewer than \(policy.minShadows): not compared)" : ""))
        }
        return .pending
    }
}

