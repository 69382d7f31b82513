// Which frames get a float shadow run (METRICS.md, "Shadow sampling").

/// The shadow sampling policy. Two streams, kept apart in the statistics:
/// - uniform: every `everyNth` frame, and at most one per `minimumInterval` seconds; while any
///   detector is in `warning`, both are divided by `warningBoost` (more evidence, sooner);
/// - triggered: a frame whose saturation or input-out-of-range jumped (`triggerJump` above its
///   running average), at most one per `triggerInterval` seconds.
/// Both spend from one CPU budget: float inference may use at most `cpuShare` of one core's time,
/// measured from the real float latency (a token bucket refilled at `cpuShare` seconds per second,
/// holding at most `burstSeconds`). A uniform frame the budget cannot pay for stays due: the next
/// frame that fits is shadowed instead.
public struct ShadowPolicy: Sendable, Codable, Equatable {
    public var everyNth = 10
    public var minimumInterval = 1.0
    public var warningBoost = 4
    public var cpuShare = 0.25
    public var burstSeconds = 1.0
    public var triggered = true
    public var triggerJump = 0.02
    public var triggerInterval = 5.0

    public init() {}

    enum CodingKeys: String, CodingKey {
        case everyNth = "every_nth", minimumInterval = "min_interval_s", warningBoost = "warning_boost"
        case cpuShare = "cpu_share", burstSeconds = "burst_s", triggered, triggerJump = "trigger_jump", triggerInterval = "trigger_interval_s"
    }

    /// Checks the values; the message names the key and what was expected.
    public func validate() throws(MonitorError) {
        guard everyNth >= 1 else { throw MonitorError("shadow.every_nth is \(everyNth); expected an integer ≥ 1") }
        guard minimumInterval >= 0, minimumInterval.isFinite else { throw MonitorError("shadow.min_interval_s is \(minimumInterval); expected seconds ≥ 0") }
        guard warningBoost >= 1 else { throw MonitorError("shadow.warning_boost is \(warningBoost); expected an integer ≥ 1") }
        guard cpuShare > 0, cpuShare <= 1 else { throw MonitorError("shadow.cpu_share is \(cpuShare); expected a share of one core in (0, 1]") }
        guard burstSeconds > 0, burstSeconds.isFinite else { throw MonitorError("shadow.burst_s is \(burstSeconds); expected seconds > 0") }
        guard triggerJump > 0, triggerJump <= 1 else { throw MonitorError("shadow.trigger_jump is \(triggerJump); expected a fraction in (0, 1]") }
        guard triggerInterval >= 0, triggerInterval.isFinite else { throw MonitorError("shadow.trigger_interval_s is \(triggerInterval); expected seconds ≥ 0") }
    }
}

/// The per-frame decision.
public enum ShadowDecision: Sendable, Equatable {
    case none
    case uniform
    case triggered
}

/// Decides per frame. Pure bookkeeping (time is passed in), so tests drive it with any clock.
public struct ShadowScheduler: Sendable {
    public private(set) var policy: ShadowPolicy
    /// Shadow the next frame whatever the policy says (a `shadow` command): it counts as triggered,
    /// so it stays out of the unbiased statistics.
    public var forceNext = false
    var framesSinceUniform = 0
    var lastUniform = -Double.infinity
    var lastTriggered = -Double.infinity
    var lastTime: Double?
    /// CPU seconds of float inference the budget holds now.
    public private(set) var tokens: Double
    /// Running estimate of one float inference (seconds), from the real latencies.
    public private(set) var floatSeconds: Double?
    /// Running averages the trigger compares against.
    var saturationAverage: Double?
    var outOfRangeAverage: Double?
    /// Uniform frames that were due but could not be paid for (they were shadowed later).
    public private(set) var budgetDeferrals = 0

    public init(policy: ShadowPolicy) {
        self.policy = policy
        tokens = policy.burstSeconds * policy.cpuShare
    }

    /// Whether a frame's counters jumped above their running averages (updates the averages).
    mutating func jumped(saturation: Double, inputOutOfRange: Double?) -> Bool {
        var jump = false
        if let average = saturationAverage, saturation - average > policy.triggerJump { jump = true }
        saturationAverage = (saturationAverage ?? saturation) * 0.9 + saturation * 0.1
        if let oor = inputOutOfRange {
            if let average = outOfRangeAverage, oor - average > policy.triggerJump { jump = true }
            outOfRangeAverage = (outOfRangeAverage ?? oor) * 0.9 + oor * 0.1
        }
        return jump
    }

    /// The decision for a frame seen at `time` (seconds, monotonic) with its counters, given whether
    /// a detector is in `warning`.
    public mutating func decide(time: Double, saturation: Double, inputOutOfRange: Double?, warning: Bool) -> ShadowDecision {
        if let last = lastTime, time > last {
            tokens = min(tokens + (time - last) * policy.cpuShare, policy.burstSeconds * policy.cpuShare)
        }
        lastTime = time
        framesSinceUniform += 1
        let jump = jumped(saturation: saturation, inputOutOfRange: inputOutOfRange)
        let boost = warning ? policy.warningBoost : 1
        let every = max(1, policy.everyNth / boost)
        let interval = policy.minimumInterval / Double(boost)
        let affordable = tokens >= (floatSeconds ?? 0)
        if framesSinceUniform >= every, time - lastUniform >= interval {
            guard affordable else {
                budgetDeferrals += 1
                return .none
            }
            framesSinceUniform = 0
            lastUniform = time
            return .uniform
        }
        if forceNext {
            forceNext = false
            lastTriggered = time
            return .triggered
        }
        if policy.triggered, jump, affordable, time - lastTriggered >= policy.triggerInterval {
            lastTriggered = time
            return .triggered
        }
        return .none
    }

    /// Replaces the policy (a runtime setting changed); counters and the budget carry over.
    public mutating func update(policy: ShadowPolicy) throws(MonitorError) {
        try policy.validate()
        self.policy = policy
        tokens = min(tokens, policy.burstSeconds * policy.cpuShare)
    }

    /// Records one float inference's real duration (seconds): pays for it and updates the estimate.
    public mutating func recordFloat(seconds: Double) {
        guard seconds.isFinite, seconds >= 0 else { return }
        tokens -= seconds
        floatSeconds = floatSeconds.map { $0 * 0.8 + seconds * 0.2 } ?? seconds
    }
}
