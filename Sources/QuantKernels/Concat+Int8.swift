// QLinearConcat (com.microsoft): each input is requantized to the output's scale/zero point with a
// 256-entry identity lookup table, or copied when its scale and zero point equal the output's —
// as onnxruntime's contrib_ops/cpu/quantization/qlinear_concat.cc does (`QlinearBuildLookupTable`
// with f = identity: table[q] = clamp(nearbyint(xScale·(q − xZero) / yScale) + yZero)).
// The copy/table decision compares the parameters exactly (`has_same_scale`/`has_same_zero_point`).

/// Load-time plan of one QLinearConcat input: copy, or map through a table.
public struct QLinearConcatInput: Sendable {
    /// nil: same scale and zero point as the output, the input is copied.
    public let table: LookupTable8?

    public init<T: QuantizedScalar>(_: T.Type, inputScale: Float, inputZero: Int32, outputScale: Float, outputZero: Int32) {
        if inputScale == outputScale && inputZero == outputZero {
            table = nil
        } else {
            table = LookupTable8(T.self, inputScale: inputScale, inputZero: inputZero, outputScale: outputScale,
                                 outputZero: outputZero, function: { $0 })
        }
    }
}

public enum ConcatInt8 {
    /// One input's share of a QLinearConcat along an axis, in `concatCopy`'s terms: `outer` blocks of
    /// `inputBlock` elements go to output blocks of `outputBlock` elements at element `offset`.
    /// `counts` (the output tensor's) gets the table's saturation; copies count as written, never saturated.
    @_specialize(where T == UInt8)
    @_specialize(where T == Int8)
    public static func run<T: QuantizedScalar>(input: UnsafePointer<T>, output: UnsafeMutablePointer<T>, plan: QLinearConcatInput,
                                               outer: Int, inputBlock: Int, outputBlock: Int, offset: Int,
                                               counts: UnsafeMutablePointer<SaturationCounts>?) {
        guard let table = plan.table else {
            concatCopy(input: input, output: output, outer: outer, inputBlock: inputBlock, outputBlock: outputBlock, offset: offset)
            if let counts { counts.pointee.total += outer * inputBlock }
            return
        }
        for o in 0..<outer {
            table.run(input: input + o * inputBlock, output: output + o * outputBlock + offset, count: inputBlock, counts: counts)
        }
    }

    /// Reference: element by element through `LookupTable8.reference`.
    public static func reference<T: QuantizedScalar>(input: UnsafePointer<T>, output: UnsafeMutablePointer<T>, plan: QLinearConcatInput,
                                                     outer: Int, inputBlock: Int, outputBlock: Int, offset: Int,
                                                     counts: UnsafeMutablePointer<SaturationCounts>?) {
        for o in 0..<outer {
            for i in 0..<inputBlock {
                let source = input + o * inputBlock + i, target = output + o * outputBlock + offset + i
                if let table = plan.table {
                    table.reference(input: source, output: target, count: 1, counts: counts)
                } else {
                    target.pointee = source.pointee
                    if let counts { counts.pointee.total += 1 }
                }
            }
        }
    }
}
