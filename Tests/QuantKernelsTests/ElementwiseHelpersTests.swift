// Shared helpers for author B's kernel tests: a deterministic RNG and naive index arithmetic.
import Testing

/// SplitMix64: tiny deterministic generator so every test run sees the same cases.
struct KernelBRandom {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        // Wrapping arithmetic is the definition of SplitMix64.
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    /// Uniform in lo...hi.
    mutating func int(_ lo: Int, _ hi: Int) -> Int { lo + Int(next() % UInt64(hi - lo + 1)) }
    /// Uniform in [lo, hi).
    mutating func float(_ lo: Float, _ hi: Float) -> Float {
        lo + (hi - lo) * Float(next() >> 40) / Float(1 << 24)
    }
    mutating func bool() -> Bool { next() & 1 == 1 }
    mutating func floats(_ n: Int, _ lo: Float = -4, _ hi: Float = 4) -> [Float] {
        (0..<n).map { _ in float(lo, hi) }
    }
    mutating func shuffled(_ a: [Int]) -> [Int] {
        var a = a
        if a.count > 1 {
            for i in stride(from: a.count - 1, to: 0, by: -1) { a.swapAt(i, int(0, i)) }
        }
        return a
    }
}

func shapeCount(_ s: [Int]) -> Int { s.reduce(1, *) }

/// Row-major coordinates of a linear index.
func unravel(_ index: Int, _ shape: [Int]) -> [Int] {
    var rest = index
    var c = [Int](repeating: 0, count: shape.count)
    for d in shape.indices.reversed() {
        c[d] = rest % shape[d]
        rest /= shape[d]
    }
    return c
}

/// Row-major linear index of coordinates.
func ravel(_ c: [Int], _ shape: [Int]) -> Int {
    var i = 0
    for d in shape.indices { i = i * shape[d] + c[d] }
    return i
}

/// |a − b| ≤ atol + rtol·|b|, or both NaN, or equal infinities.
func close(_ a: Float, _ b: Float, rtol: Float = 1e-5, atol: Float = 1e-6) -> Bool {
    if a.isNaN || b.isNaN { return a.isNaN && b.isNaN }
    if a.isInfinite || b.isInfinite { return a == b }
    return abs(a - b) <= atol + rtol * abs(b)
}

func allClose(_ a: [Float], _ b: [Float], rtol: Float = 1e-5, atol: Float = 1e-6) -> Bool {
    a.count == b.count && zip(a, b).allSatisfy { close($0, $1, rtol: rtol, atol: atol) }
}

@Test func splitMixIsDeterministic() {
    var a = KernelBRandom(seed: 42), b = KernelBRandom(seed: 42)
    for _ in 0..<10 { #expect(a.next() == b.next()) }
    var r = KernelBRandom(seed: 1)
    for _ in 0..<1000 {
        let v = r.int(-3, 5)
        #expect(v >= -3 && v <= 5)
        let f = r.float(-1, 1)
        #expect(f >= -1 && f < 1)
    }
}
