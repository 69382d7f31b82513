import Testing
@testable import QuantKernels
import TestSupport

private func naive(_ op: UnaryFloatOperator, _ x: Float) -> Float {
    switch op {
    case .relu: return max(0, x)
    case .leakyRelu(let a): return x >= 0 ? x : a * x
    case .clip(let lo, let hi): return min(max(x, lo), hi)
    case .sigmoid: return 1 / (1 + kernelExp(-x))
    case .hardSigmoid(let a, let b): return max(0, min(1, a * x + b))
    case .hardSwish: return x * max(0, min(1, x / 6 + 0.5))
    case .tanh: return kernelTanh(x)
    case .identity: return x
    }
}

private let allOps: [UnaryFloatOperator] = [
    .relu, .leakyRelu(alpha: 0.1), .clip(lower: -1, upper: 6), .clip(lower: 0, upper: .infinity), .sigmoid,
    .hardSigmoid(alpha: 0.2, beta: 0.5), .hardSwish, .tanh, .identity,
]

@Test func unaryMatchesNaiveOnRandomCounts() {
    var rng = SplitMix64(seed: 11)
    for op in allOps {
        for count in [0, 1, 7, 8, 9, 15, 16, 17, 63, 100] {
            let x = rng.floats(count, -8, 8)
            var y = [Float](repeating: .nan, count: count)
            var ref = y
            UnaryFloat.run(op, input: x, output: &y, count: count)
            UnaryFloat.reference(op, input: x, output: &ref, count: count)
            let want = x.map { naive(op, $0) }
            #expect(allClose(y, want, rtol: 1e-6, atol: 1e-7), "\(op) count \(count)")
            #expect(allClose(y, ref, rtol: 0, atol: 0), "\(op) fast != reference")
        }
    }
}

@Test func unaryInPlace() {
    var rng = SplitMix64(seed: 12)
    let x = rng.floats(37, -4, 4)
    var buf = x
    buf.withUnsafeMutableBufferPointer { p in
        UnaryFloat.run(.leakyRelu(alpha: 0.5), input: p.baseAddress!, output: p.baseAddress!, count: 37)
    }
    #expect(buf == x.map { $0 < 0 ? 0.5 * $0 : $0 })
}

@Test func unaryHandComputed() {
    func one(_ op: UnaryFloatOperator, _ xs: [Float]) -> [Float] {
        var y = [Float](repeating: 0, count: xs.count)
        UnaryFloat.run(op, input: xs, output: &y, count: xs.count)
        return y
    }
    #expect(one(.relu, [-1, 0, 2.5]) == [0, 0, 2.5])
    #expect(one(.leakyRelu(alpha: 0.01), [-100, 3]) == [-1, 3])
    #expect(one(.clip(lower: 0, upper: 6), [-3, 3, 9]) == [0, 3, 6])
    // HardSigmoid defaults alpha 0.2, beta 0.5: -3 → 0, 0 → 0.5, 1 → 0.7, 5 → 1.
    #expect(allClose(one(.hardSigmoid(alpha: 0.2, beta: 0.5), [-3, 0, 1, 5]), [0, 0.5, 0.7, 1]))
    // HardSwish: -3 → 0, 0 → 0, 1 → 1·(1/6+0.5) = 2/3, 3 → 3, 4 → 4.
    #expect(allClose(one(.hardSwish, [-4, -3, 0, 1, 3, 4]), [0, 0, 0, 2.0 / 3, 3, 4]))
    #expect(allClose(one(.sigmoid, [0, 2]), [0.5, 0.880797077977882]))
    #expect(allClose(one(.tanh, [0.5, -2]), [0.46211715726000974, -0.9640275800758169]))
}

@Test func channelAffineMatchesNaive() {
    var rng = SplitMix64(seed: 13)
    for (batch, channels, spatial) in [(1, 3, 1), (2, 5, 1), (1, 17, 1), (2, 3, 7), (1, 4, 16), (3, 2, 49), (0, 3, 4)] {
        let n = batch * channels * spatial
        let x = rng.floats(n, -4, 4), scale = rng.floats(channels, -4, 4), shift = rng.floats(channels, -4, 4)
        var y = [Float](repeating: .nan, count: n)
        var ref = y
        ChannelAffineFloat.run(input: x, output: &y, scale: scale, shift: shift, batch: batch, channels: channels, spatial: spatial)
        ChannelAffineFloat.reference(input: x, output: &ref, scale: scale, shift: shift, batch: batch, channels: channels, spatial: spatial)
        var want = [Float](repeating: 0, count: n)
        for i in 0..<n {
            let c = (i / spatial) % channels
            want[i] = x[i] * scale[c] + shift[c]
        }
        #expect(y == want)
        #expect(ref == want)
    }
}
