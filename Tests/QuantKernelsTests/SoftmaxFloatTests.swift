import Foundation
import Testing
@testable import QuantKernels
import TestSupport

private func naiveSoftmax(_ x: [Float], outer: Int, axis: Int, inner: Int) -> [Float] {
    var y = [Float](repeating: 0, count: x.count)
    for o in 0..<outer {
        for i in 0..<inner {
            let idx = (0..<axis).map { (o * axis + $0) * inner + i }
            let m = idx.map { Double(x[$0]) }.max()!
            let s = idx.map { Foundation.exp(Double(x[$0]) - m) }.reduce(0, +)
            for k in idx { y[k] = Float(Foundation.exp(Double(x[k]) - m) / s) }
        }
    }
    return y
}

@Test func softmaxMatchesNaive() {
    var rng = SplitMix64(seed: 31)
    for (outer, axis, inner) in [(1, 1, 1), (1, 10, 1), (3, 7, 1), (2, 5, 3), (1, 1000, 1), (4, 3, 17), (0, 3, 2)] {
        let x = rng.floats(outer * axis * inner, -10, 10)
        var y = [Float](repeating: .nan, count: x.count)
        SoftmaxFloat.run(input: x, output: &y, outer: outer, axisSize: axis, inner: inner)
        #expect(allClose(y, naiveSoftmax(x, outer: outer, axis: axis, inner: inner), rtol: 1e-5, atol: 1e-7))
    }
}

@Test func softmaxIsStableForLargeInputs() {
    let x: [Float] = [1000, 1001, 1002, -1000]
    var y = [Float](repeating: 0, count: 4)
    SoftmaxFloat.run(input: x, output: &y, outer: 1, axisSize: 4, inner: 1)
    #expect(allClose(y, [0.09003057, 0.24472847, 0.66524096, 0], rtol: 1e-5, atol: 1e-7))
    #expect(abs(y.reduce(0, +) - 1) < 1e-6)
    // In place.
    var buf: [Float] = [1, 2, 3]
    buf.withUnsafeMutableBufferPointer { p in
        SoftmaxFloat.run(input: p.baseAddress!, output: p.baseAddress!, outer: 1, axisSize: 3, inner: 1)
    }
    #expect(allClose(buf, [0.09003057, 0.24472847, 0.66524096]))
}
