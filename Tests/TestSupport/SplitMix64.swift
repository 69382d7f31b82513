// Shared helpers for the test targets: a deterministic random generator.
// Pure Swift (no Foundation, no Testing) so any test target can depend on it.

/// SplitMix64 (Steele, Lea & Flood 2014): a tiny, fast, deterministic 64-bit generator.
///
/// Every test run with the same seed sees the same sequence, so randomized tests are reproducible.
/// Tests depend on the exact sequence for a seed: do not change the algorithm or the value
/// derivations below. Conforms to `RandomNumberGenerator`, so it also works with the standard
/// library's `random(in:using:)` APIs.
public struct SplitMix64: RandomNumberGenerator, Sendable {
    /// The internal state; advanced by the golden-ratio increment on every `next()`.
    public var state: UInt64

    /// A generator whose first output is derived from `seed`.
    public init(seed: UInt64) { state = seed }

    /// The next 64 random bits.
    public mutating func next() -> UInt64 {
        // Wrapping add/multiply: SplitMix64 is defined modulo 2^64.
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// Uniform in `lower...upper` (both inclusive; modulo bias is negligible for test-sized ranges).
    public mutating func int(_ lower: Int, _ upper: Int) -> Int {
        lower + Int(next() % UInt64(upper - lower + 1))
    }

    /// Uniform in `[lower, upper)`, from the top 24 bits of one `next()`.
    public mutating func float(_ lower: Float, _ upper: Float) -> Float {
        lower + (upper - lower) * Float(next() >> 40) / Float(1 << 24)
    }

    /// Uniform in `[-1, 1)`. Bit-identical to `float(-1, 1)`: both compute
    /// `(top 24 bits) / 2^23 - 1` with a single rounding.
    public mutating func float() -> Float { float(-1, 1) }

    /// `count` values uniform in `[-1, 1)`.
    public mutating func floats(_ count: Int) -> [Float] { (0..<count).map { _ in float() } }

    /// `count` values uniform in `[lower, upper)`.
    public mutating func floats(_ count: Int, _ lower: Float, _ upper: Float) -> [Float] {
        (0..<count).map { _ in float(lower, upper) }
    }

    /// A fair coin, from the lowest bit of one `next()`.
    public mutating func bool() -> Bool { next() & 1 == 1 }

    /// A Fisher–Yates shuffle of `array` (drawing `int(0, i)` for i = count-1 down to 1).
    /// Deliberately not `Array.shuffled(using:)`, whose draws the standard library may change.
    public mutating func shuffled<Element>(_ array: [Element]) -> [Element] {
        var array = array
        if array.count > 1 {
            for i in stride(from: array.count - 1, to: 0, by: -1) { array.swapAt(i, int(0, i)) }
        }
        return array
    }
}
