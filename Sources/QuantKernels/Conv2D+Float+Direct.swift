// Direct float convolution for few input channels (a network's RGB stem), in the summation order
// of onnxruntime's NCHW-input convolution kernel (MLAS `MlasConvNchwFloatKernel`, which its NCHWc
// transformer picks for such layers), so that int8 models with a float stem (mixed precision) agree
// with onnxruntime bit for bit:
//
//   for each input channel ic: s_ic = Σ_{filterY, filterX} x·w   (fused multiply-add chain from 0)
//   out = s_0 + s_1 + … (plain adds, in ic order), then + bias, then the clamp.
//
// Measured on the `patches` stem (3→16, 3x3, stride 2, 96x96 → 48x48, Clip fused): 0.13 ms per
// run (release, one thread, x86-64 built for Haswell; `quantwatch infer --profile`).

/// Input channels below which a one-group convolution takes the direct path.
let directMaximumInputChannels = 8

extension Conv2DFloat {
    /// One zero-padded input plane, plus 16 floats of slack for the strided SIMD loads.
    static func directScratchCount(_ g: Conv2DGeometry) -> Int {
        let (paddedHeight, paddedWidth) = directPaddedSize(g)
        return paddedHeight * paddedWidth + 16
    }

    static func directPaddedSize(_ g: Conv2DGeometry) -> (Int, Int) {
        let height = (g.outHeight - 1) * g.strideHeight + (g.kernelHeight - 1) * g.dilationHeight + 1
        let width = (g.outWidth - 1) * g.strideWidth + (g.kernelWidth - 1) * g.dilationWidth + 1
        return (max(height, g.padTop + g.inHeight), max(width + 8 * g.strideWidth, g.padLeft + g.inWidth))
    }

    static func runDirect(input: UnsafePointer<Float>, weights: UnsafePointer<Float>, bias: UnsafePointer<Float>?,
                          output: UnsafeMutablePointer<Float>, geometry g: Conv2DGeometry, clamp: FloatClamp,
                          scratch: UnsafeMutablePointer<Float>) {
        let (paddedHeight, paddedWidth) = directPaddedSize(g)
        let plane = g.outHeight * g.outWidth
        let kernelSize = g.kernelHeight * g.kernelWidth
        for batch in 0..<g.batch {
            let out = output + batch * g.outChannels * plane
            for inChannel in 0..<g.inChannels {
                // Zero-padded copy of this input plane: padding taps then add exactly 0.
                scratch.update(repeating: 0, count: paddedHeight * paddedWidth + 16)
                let source = input + (batch * g.inChannels + inChannel) * g.inHeight * g.inWidth
                for y in 0..<g.inHeight {
                    (scratch + (y + g.padTop) * paddedWidth + g.padLeft).update(from: source + y * g.inWidth, count: g.inWidth)
                }
                for outChannel in 0..<g.outChannels {
                    let filter = weights + (outChannel * g.inChannels + inChannel) * kernelSize
                    let target = out + outChannel * plane
                    for outY in 0..<g.outHeight {
                        let rowBase = UnsafePointer(scratch) + outY * g.strideHeight * paddedWidth
                        let outRow = target + outY * g.outWidth
                        var outX = 0
                        while outX + 8 <= g.outWidth {
                            var sum = SIMD8<Float>()
                            for filterY in 0..<g.kernelHeight {
                                let row = rowBase + filterY * g.dilationHeight * paddedWidth + outX * g.strideWidth
                                for filterX in 0..<g.kernelWidth {
                                    let w = SIMD8<Float>(repeating: filter[filterY * g.kernelWidth + filterX])
                                    sum = fusedMultiplyAdd8(taps8(row + filterX * g.dilationWidth, g.strideWidth), w, sum)
                                }
                            }
                            if inChannel > 0 { sum += loadVector8(outRow + outX) }
                            storeVector8(sum, outRow + outX)
                            outX += 8
                        }
                        while outX < g.outWidth {
                            var sum: Float = 0
                            for filterY in 0..<g.kernelHeight {
                                let row = rowBase + filterY * g.dilationHeight * paddedWidth + outX * g.strideWidth
                                for filterX in 0..<g.kernelWidth {
                                    sum = fusedMultiplyAdd(row[filterX * g.dilationWidth], filter[filterY * g.kernelWidth + filterX], sum)
                                }
                            }
                            outRow[outX] = inChannel > 0 ? outRow[outX] + sum : sum
                            outX += 1
                        }
                    }
                }
            }
            // Epilogue: bias, then the clamp.
            for outChannel in 0..<g.outChannels {
                let target = out + outChannel * plane
                let b = bias?[outChannel] ?? 0
                for i in 0..<plane {
                    var v = target[i]
                    if bias != nil { v += b }
                    target[i] = clamp.apply(v)
                }
            }
        }
    }
}
