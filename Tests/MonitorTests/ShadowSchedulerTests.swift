import Monitor
import Testing

@Suite struct ShadowSchedulerTests {
    func policy(every: Int, interval: Double = 0, share: Double = 1) -> ShadowPolicy {
        var p = ShadowPolicy()
        p.everyNth = every
        p.minimumInterval = interval
        p.cpuShare = share
        p.triggered = false
        return p
    }

    @Test func uniformStreamShadowsEveryNthFrame() {
        var s = ShadowScheduler(policy: policy(every: 5))
        let picked = (0..<50).filter { s.decide(time: Double($0) * 0.1, saturation: 0, inputOutOfRange: nil, warning: false) == .uniform }
        #expect(picked == [4, 9, 14, 19, 24, 29, 34, 39, 44, 49])
    }

    @Test func minimumIntervalLimitsTheUniformRate() {
        var s = ShadowScheduler(policy: policy(every: 1, interval: 1))
        // 10 frames per second for 10 s: one per second.
        let count = (0..<100).filter { s.decide(time: Double($0) * 0.1, saturation: 0, inputOutOfRange: nil, warning: false) == .uniform }.count
        #expect(count == 10)
    }

    @Test func warningRaisesTheUniformRate() {
        var s = ShadowScheduler(policy: policy(every: 8))
        let normal = (0..<80).filter { s.decide(time: Double($0), saturation: 0, inputOutOfRange: nil, warning: false) == .uniform }.count
        let boosted = (80..<160).filter { s.decide(time: Double($0), saturation: 0, inputOutOfRange: nil, warning: true) == .uniform }.count
        #expect(normal == 10)
        #expect(boosted == 40)   // every 8 / boost 4 = every 2nd frame
    }

    @Test func cpuBudgetBoundsFloatTime() {
        // Float takes 50 ms, frames come every 10 ms, share 10 % → at most one shadow per 500 ms.
        var s = ShadowScheduler(policy: policy(every: 1, share: 0.1))
        var shadows = 0
        for i in 0..<1000 {   // 10 s
            if s.decide(time: Double(i) * 0.01, saturation: 0, inputOutOfRange: nil, warning: false) != .none {
                shadows += 1
                s.recordFloat(seconds: 0.05)
            }
        }
        // 10 s × 0.1 / 0.05 s = 20, plus the initial burst (0.1 s of tokens → 2).
        #expect(shadows >= 19 && shadows <= 23)
        #expect(s.budgetDeferrals > 0)
    }

    @Test func jumpsInSaturationTriggerAShadowOutsideTheUniformStream() {
        var p = policy(every: 1000)
        p.triggered = true
        p.triggerJump = 0.02
        p.triggerInterval = 1
        var s = ShadowScheduler(policy: p)
        var decisions: [ShadowDecision] = []
        for i in 0..<20 { decisions.append(s.decide(time: Double(i), saturation: i == 10 ? 0.3 : 0, inputOutOfRange: 0, warning: false)) }
        #expect(decisions[10] == .triggered)
        #expect(decisions.filter { $0 != .none }.count == 1)
        // An input-range jump too.
        #expect(s.decide(time: 30, saturation: 0, inputOutOfRange: 0.5, warning: false) == .triggered)
    }

    @Test func invalidPolicyNamesTheKey() {
        var p = ShadowPolicy()
        p.everyNth = 0
        #expect(throws: MonitorError("shadow.every_nth is 0; expected an integer ≥ 1")) { try p.validate() }
        p = ShadowPolicy()
        p.cpuShare = 2
        #expect(throws: MonitorError.self) { try p.validate() }
    }
}
