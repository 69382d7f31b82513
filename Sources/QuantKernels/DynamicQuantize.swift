// DynamicQuantizeLinear (ONNX, uint8 output), as onnxruntime computes it
// (core/providers/cpu/quantization/dynamicquantizelinear.cc → `GetQuantizationParameter` in
// core/util/qmath.h, then `MlasQuantizeLinear`):
//   lo = min(0, min x), hi = max(0, max x)
//   scale = hi == lo ? 1 : (hi − lo) / 255                       (Float)
//   zp    = nearbyint(clamp(0 − lo / scale, 0, 255))
//   y     = clamp(nearbyint(x / scale) + zp, 0, 255)              (a true division)
// NaN inputs are skipped by the min/max (our choice) and quantize to zp (as QuantizeLinear here);
// ±inf make the scale infinite (as in onnxruntime). No saturation can occur except for ±inf.

public enum DynamicQuantizeLinear {
    /// The (scale, zeroPoint) of `count` floats.
    public static func parameters(input: UnsafePointer<Float>, count: Int) -> (scale: Float, zeroPoint: Int32) {
        var lowest: Float = 0, highest: Float = 0
        var vLow = SIMD8<Float>(), vHigh = SIMD8<Float>()
        var i = 0
        while i + 8 <= count {
            let v = loadVector8(input + i)
            for lane in 0..<8 {
                // Ordered compares: NaN lanes never replace the running min/max.
                if v[lane] < vLow[lane] { vLow[lane] = v[lane] }
                if v[lane] > vHigh[lane] { vHigh[lane] = v[lane] }
            }
            i += 8
        }
        while i < count {
            if input[i] < lowest { lowest = input[i] }
            if input[i] > highest { highest = input[i] }
            i += 1
        }
        lowest = Swift.min(lowest, vLow.min())
        highest = Swift.max(highest, vHigh.max())
        let scale: Float = highest == lowest ? 1 : (highest - lowest) / 255
        let initial = 0 - lowest / scale
        let zeroPoint = roundHalfEvenToInt32(Swift.max(0, Swift.min(255, initial)))
        return (scale, zeroPoint)
    }

    /// Quantizes `count` floats to UInt8 with `parameters(...)`; returns (scale, zeroPoint).
    /// `counts`: saturation of the output (only ±inf inputs can saturate), nil for none.
    @discardableResult
    public static func run(input: UnsafePointer<Float>, output: UnsafeMutablePointer<UInt8>, count: Int,
                           counts: UnsafeMutablePointer<SaturationCounts>?) -> (scale: Float, zeroPoint: Int32) {
        let (scale, zeroPoint) = parameters(input: input, count: count)
        var tally = SaturationTally(QuantizedOutputClamp(UInt8.self), counting: counts != nil)
        let scaleV = SIMD8<Float>(repeating: scale), zeroV = SIMD8<Int32>(repeating: zeroPoint)
        var i = 0
        while i + 8 <= count {
            let v = roundHalfEven8(loadVector8(input + i) / scaleV) &+ zeroV
            storeNarrowed8(tally.apply(v), output + i)
            i += 8
        }
        while i < count {
            output[i] = UInt8(truncatingIfNeeded: tally.apply(roundHalfEvenToInt32(input[i] / scale) &+ zeroPoint))
            i += 1
        }
        tally.flush(into: counts, written: count)
        return (scale, zeroPoint)
    }

    /// Reference: scalar min/max and quantization.
    @discardableResult
    public static func reference(input: UnsafePointer<Float>, output: UnsafeMutablePointer<UInt8>, count: Int,
                                 counts: UnsafeMutablePointer<SaturationCounts>?) -> (scale: Float, zeroPoint: Int32) {
        var lowest: Float = 0, highest: Float = 0
        for i in 0..<count {
            if input[i] < lowest { lowest = input[i] }
            if input[i] > highest { highest = input[i] }
        }
        let scale: Float = highest == lowest ? 1 : (highest - lowest) / 255
        let zeroPoint = roundHalfEvenToInt32(Swift.max(0, Swift.min(255, 0 - lowest / scale)))
        let clamp = QuantizedOutputClamp(UInt8.self)
        var local = SaturationCounts()
        for i in 0..<count {
            output[i] = UInt8(truncatingIfNeeded: clamp.apply(roundHalfEvenToInt32(input[i] / scale) &+ zeroPoint, &local))
        }
        if let counts { counts.pointee.add(local) }
        return (scale, zeroPoint)
    }
}
