// Shared helpers for the test targets: tolerance comparisons of floats.

/// Whether `actual` is within `atol + rtol·|expected|` of `expected`.
///
/// Equal infinities are close; any NaN (even NaN against NaN) is not, so an output element a
/// kernel never wrote (tests pre-fill outputs with NaN) always shows up as a mismatch.
public func isClose(_ actual: Float, _ expected: Float, rtol: Float, atol: Float) -> Bool {
    if actual.isInfinite || expected.isInfinite { return actual == expected }
    // A NaN on either side makes the comparison false: NaN is never close.
    return abs(actual - expected) <= atol + rtol * abs(expected)
}

/// The index of the first element where `actual` is not `isClose` to `expected`, or nil when every
/// element is close. Arrays of different lengths mismatch at the end of the shorter one.
public func firstMismatch(_ actual: [Float], _ expected: [Float], rtol: Float = 1e-5, atol: Float = 1e-6) -> Int? {
    for i in 0..<min(actual.count, expected.count) where !isClose(actual[i], expected[i], rtol: rtol, atol: atol) {
        return i
    }
    return actual.count == expected.count ? nil : min(actual.count, expected.count)
}

/// Whether `actual` and `expected` have the same length and every element is `isClose`.
public func allClose(_ actual: [Float], _ expected: [Float], rtol: Float = 1e-5, atol: Float = 1e-6) -> Bool {
    firstMismatch(actual, expected, rtol: rtol, atol: atol) == nil
}
