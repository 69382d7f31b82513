import QuantMetrics
import Testing

@Suite struct DetectorTests {
    @Test func cusumAccumulatesOnlyShiftsBeyondTheAllowance() {
        var d = CUSUMDetector(mean: 40, sigma: 2, direction: .decrease)
        // 0.4σ below the mean: under the 0.5σ allowance, nothing accumulates.
        for _ in 0..<1000 { d.add(39.2) }
        #expect(d.statistic == 0)
        #expect(d.state == .ok)
        // 2σ below: 1.5σ of evidence per frame → warning after 5 frames (7.5 > 7), drift after 10 (15 > 14).
        var changes: [(Int, DriftState)] = []
        for i in 1...12 { if let s = d.add(36) { changes.append((i, s)) } }
        #expect(changes.map(\.0) == [5, 10])
        #expect(changes.map(\.1) == [.warning, .drift])
    }

    @Test func cusumClipsOutliersSoOneFrameCannotRaiseDrift() {
        var d = CUSUMDetector(mean: 40, sigma: 2, direction: .decrease)
        d.add(-120)   // 80σ below, clipped to 3σ: S = 2.5
        #expect(abs(d.statistic - 2.5) < 1e-12)
        #expect(d.state == .ok)
    }

    @Test func cusumRecoversWithHysteresis() {
        var d = CUSUMDetector(mean: 40, sigma: 2, direction: .decrease)
        for _ in 0..<40 { d.add(30) }   // capped at 2 × 14 = 28
        #expect(d.statistic == 28)
        #expect(d.state == .drift)
        var states: [DriftState] = []
        for _ in 0..<60 { if let s = d.add(40) { states.append(s) } }   // −0.5 per frame
        // drift → warning below 7 (= 14 × ½), → ok below 3.5 (= 7 × ½).
        #expect(states == [.warning, .ok])
        #expect(d.statistic == 0)
    }

    @Test func cusumFloorsSigmaOfAConstantBaseline() {
        let d = CUSUMDetector(mean: 120, sigma: 0, direction: .decrease)
        #expect(d.sigma == 1)
    }

    @Test func increaseDirectionWatchesTheUpperSide() {
        var d = CUSUMDetector(mean: 0.1, sigma: 1, direction: .increase)
        d.add(-5)
        #expect(d.statistic == 0)
        d.add(2.1)
        #expect(abs(d.statistic - 1.5) < 1e-12)
    }

    @Test func disagreementCUSUMNeedsSeveralDisagreements() {
        var d = DisagreementCUSUM(baselineAgreement: 1)
        #expect(d.baselineRate == 0.02)
        #expect(abs(d.driftRate - 0.07) < 1e-12)
        // ln(0.07 / 0.02) ≈ 1.2528 per disagreement: warning after 3, drift after 6.
        var changes: [(Int, DriftState)] = []
        for i in 1...6 { if let s = d.add(agree: 0) { changes.append((i, s)) } }
        #expect(changes.map(\.0) == [3, 6])
        #expect(changes.map(\.1) == [.warning, .drift])
        // Agreement pulls it down by ln(0.93 / 0.98) ≈ 0.0524 per frame.
        let before = d.statistic
        d.add(agree: 1)
        #expect(abs(before - d.statistic - 0.052367) < 1e-5)
    }

    @Test func disagreementCUSUMStaysQuietAtTheBaselineRate() {
        var d = DisagreementCUSUM(baselineAgreement: 0.95)
        var worst = DriftState.ok
        for i in 0..<10_000 {
            d.add(agree: i % 20 == 0 ? 0 : 1)   // exactly the baseline's 5 %
            worst = max(worst, d.state)
        }
        #expect(worst == .ok)
    }

    @Test func ewmaChartWarnsOnARiseAndStopsAtItsCeiling() {
        var chart = EWMAChart(mean: 0, sigma: 0)   // σ floored at 0.002
        #expect(chart.sigma == 0.002)
        var worst = DriftState.ok
        for _ in 0..<200 { chart.add(0.05); worst = max(worst, chart.state) }
        #expect(chart.statistic > 8)        // far beyond the drift threshold…
        #expect(worst == .warning)          // …but input statistics only warn.
        for _ in 0..<200 { chart.add(0) }
        #expect(chart.state == .ok)
    }

    @Test func ewmaChartIgnoresADropBelowTheMean() {
        var chart = EWMAChart(mean: 0.01, sigma: 0.005)
        for _ in 0..<100 { chart.add(0) }
        #expect(chart.statistic == 0)
        #expect(chart.state == .ok)
    }

    @Test func runningStatisticsMatchTheTwoPassFormulas() {
        var s = RunningStatistics()
        let values = [2.0, 4, 4, 4, 5, 5, 7, 9]
        for v in values { s.add(v) }
        s.add(.nan)
        #expect(s.count == 8)
        #expect(s.mean == 5)
        #expect(abs(s.standardDeviation - (32.0 / 7).squareRoot()) < 1e-12)
        let restored = RunningStatistics(count: s.count, mean: s.mean, standardDeviation: s.standardDeviation)
        #expect(abs(restored.standardDeviation - s.standardDeviation) < 1e-12)
    }

    @Test func driftStatesAreOrdered() {
        #expect(DriftState.ok < .warning && DriftState.warning < .drift)
        #expect([DriftState.warning, .drift, .ok].max() == .drift)
    }
}
