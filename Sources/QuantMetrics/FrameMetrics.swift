// Measured on every int8 frame at (almost) no cost: confidence, input out of range, saturation,
// latency. The counts come from the kernels; these helpers only turn them into METRICS.md's values.

/// Per-frame helpers of METRICS.md's "measured on every int8 frame" table.
public enum FrameMetrics {
    /// `confidence`: the largest output probability. When `output` is already probabilities
    /// (all ≥ 0, Σ within 1e-3 of 1) its max; otherwise the max of its softmax, 1 / Σ exp(x − max).
    /// The whole buffer is one row. 0 for an empty buffer or one holding a NaN or ±inf (JSON-safe:
    /// an unusable output is the least confident one). No allocation.
    public static func confidence(_ output: UnsafeBufferPointer<Float>) -> Double {
        guard !output.isEmpty else { return 0 }
        var largest = -Double.infinity
        for v in output {
            guard v.isFinite else { return 0 }
            largest = max(largest, Double(v))
        }
        if Comparison.isProbabilities(output) { return largest }
        let (_, total) = Comparison.softmaxNormaliser(output)
        return 1 / total
    }

    /// `confidence` of an array.
    public static func confidence(_ output: [Float]) -> Double {
        output.withUnsafeBufferPointer { confidence($0) }
    }

    /// `count / total`, 0 when `total` is 0: the fraction behind `input_out_of_range` and the
    /// saturation values.
    public static func fraction(_ count: Int, of total: Int) -> Double {
        total > 0 ? Double(count) / Double(total) : 0
    }

    /// `input_out_of_range` from a count the preprocessing or the input quantizer made.
    public static func inputOutOfRange(count: Int, total: Int) -> Double { fraction(count, of: total) }

    /// How many elements of a float input lie strictly outside the input quantizer's representable
    /// range [scale·(qmin−zp), scale·(qmax−zp)]. NaN counts as out of range. No allocation.
    public static func countOutOfRange(_ input: UnsafeBufferPointer<Float>, scale: Float, zeroPoint: Int,
                                       qmin: Int, qmax: Int) -> Int {
        let low = Double(scale) * Double(qmin - zeroPoint), high = Double(scale) * Double(qmax - zeroPoint)
        var count = 0
        for v in input where !(Double(v) >= low && Double(v) <= high) { count += 1 }
        return count
    }

    /// `saturation_high` / `saturation_low` of one int8 tensor from the kernel's counters.
    public static func saturation(highCount: Int, lowCount: Int, total: Int) -> Saturation {
        Saturation(high: fraction(highCount, of: total), low: fraction(lowCount, of: total))
    }
}

/// The saturation of one int8 tensor: the fractions of elements whose requantized value, before the
/// final clamp, lay above qmax / below qmin. (A fused activation's own floor is not counted: that is
/// the kernel's business.)
public struct Saturation: Sendable, Codable, Equatable {
    public var high: Double
    public var low: Double

    public init(high: Double, low: Double) {
        self.high = high
        self.low = low
    }

    enum CodingKeys: String, CodingKey {
        case high = "saturation_high"
        case low = "saturation_low"
    }
}

/// Latency percentiles of a window, in milliseconds. JSON: `{"p50":…,"p95":…,"p99":…,"max":…}`,
/// which Telegraf's json parser flattens to `latency_ms_p95` under a `latency_ms` key.
public struct LatencyPercentiles: Sendable, Codable, Equatable {
    public var p50: Double
    public var p95: Double
    public var p99: Double
    public var max: Double

    public init(p50: Double, p95: Double, p99: Double, max: Double) {
        self.p50 = p50
        self.p95 = p95
        self.p99 = p99
        self.max = max
    }
}

/// Nearest-rank percentile of sorted values: the value of rank ⌈p/100 · n⌉ (1-based, at least 1).
/// So p50 of [1, 2, 3, 4] is 2 and p100 is the max; every result is one of the samples (no
/// interpolation). nil when empty.
public func nearestRankPercentile(_ sorted: UnsafeBufferPointer<Double>, _ p: Double) -> Double? {
    guard !sorted.isEmpty else { return nil }
    let rank = Int((p / 100 * Double(sorted.count)).rounded(.up))
    return sorted[min(max(rank, 1), sorted.count) - 1]
}

/// `nearestRankPercentile` of an array (sorted here).
public func nearestRankPercentile(_ values: [Double], _ p: Double) -> Double? {
    values.sorted().withUnsafeBufferPointer { nearestRankPercentile($0, p) }
}

/// Latency samples of one window in a buffer of fixed capacity, allocated once at init: `add` never
/// allocates, nor does `percentiles()` (it sorts a second buffer, also allocated at init, in place).
///
/// When more than `capacity` samples arrive in a window the buffer keeps the most recent `capacity`
/// (a ring): the percentiles then describe those; `max` and `count` still cover every sample added.
/// Percentiles are nearest-rank (see `nearestRankPercentile`). Not thread-safe: one per pipeline.
public final class LatencyRecorder {
    private let ring: SampleRing
    public var capacity: Int { ring.capacity }
    /// Samples kept (≤ capacity).
    public var stored: Int { ring.stored }
    /// Samples added since the last reset (may exceed capacity).
    public private(set) var count = 0
    /// The largest sample added since the last reset (exact even beyond capacity).
    public private(set) var maximum = 0.0

    public init(capacity: Int) {
        precondition(capacity > 0, "latency capacity must be positive")
        ring = SampleRing(capacity: capacity)
    }

    /// Records one latency in milliseconds. Non-finite or negative values are ignored (a clock
    /// glitch must not poison a window). No allocation.
    public func add(_ milliseconds: Double) {
        guard milliseconds.isFinite, milliseconds >= 0 else { return }
        ring.add(milliseconds)
        maximum = count == 0 ? milliseconds : Swift.max(maximum, milliseconds)
        count += 1
    }

    /// Empties the window (keeps the buffers).
    public func reset() {
        ring.reset()
        count = 0
        maximum = 0
    }

    /// p50 / p95 / p99 (nearest rank over the kept samples) and the max (over all samples);
    /// nil when the window is empty. No allocation.
    public func percentiles() -> LatencyPercentiles? {
        guard let (p50, p95, p99) = ring.percentiles(50, 95, 99) else { return nil }
        return LatencyPercentiles(p50: p50, p95: p95, p99: p99, max: maximum)
    }
}

/// In-place ascending heap sort (no allocation, unlike the standard library's sort; plain loops
/// and no local closures, which allocate in unoptimised builds).
func heapSort(_ a: UnsafeMutableBufferPointer<Double>) {
    let n = a.count
    guard n > 1 else { return }
    var start = n / 2 - 1
    while start >= 0 {
        siftDown(a, start, n)
        start -= 1
    }
    var end = n - 1
    while end > 0 {
        a.swapAt(0, end)
        siftDown(a, 0, end)
        end -= 1
    }
}

private func siftDown(_ a: UnsafeMutableBufferPointer<Double>, _ start: Int, _ end: Int) {
    var root = start
    while 2 * root + 1 < end {
        var child = 2 * root + 1
        if child + 1 < end, a[child] < a[child + 1] { child += 1 }
        guard a[root] < a[child] else { return }
        a.swapAt(root, child)
        root = child
    }
}
