// Per-channel affine transform (BatchNormalization folded at load time, or Mul+Add by [C,1,1]).

/// y[n][c][s] = x[n][c][s] * scale[c] + shift[c]   (BatchNormalization folded to an affine at load)
public enum ChannelAffineFloat {
    /// Reference: the triple loop named after the layout.
    public static func reference(input: UnsafePointer<Float>, output: UnsafeMutablePointer<Float>,
                                 scale: UnsafePointer<Float>, shift: UnsafePointer<Float>,
                                 batch: Int, channels: Int, spatial: Int) {
        for n in 0..<batch {
            for channel in 0..<channels {
                for s in 0..<spatial {
                    let i = (n * channels + channel) * spatial + s
                    output[i] = input[i] * scale[channel] + shift[channel]
                }
            }
        }
    }

    /// `output[n][c][s] = input[n][c][s] * scale[c] + shift[c]` for an NCHW-style tensor viewed as
    /// [batch, channels, spatial] (spatial = H·W, or 1 for [N, C]). `scale`/`shift` hold `channels`
    /// values. In-place (`output == input`) is allowed. SIMD8 over the spatial run; same rounding
    /// as `reference` (multiply then add, no fused multiply-add).
    public static func run(input: UnsafePointer<Float>, output: UnsafeMutablePointer<Float>,
                           scale: UnsafePointer<Float>, shift: UnsafePointer<Float>,
                           batch: Int, channels: Int, spatial: Int) {
        if spatial == 1 {
            // [N, C]: vectorise across channels instead.
            for n in 0..<batch {
                let x = input + n * channels
                let y = output + n * channels
                var c = 0
                while c + 8 <= channels {
                    ewStore8(ewLoad8(x + c) * ewLoad8(scale + c) + ewLoad8(shift + c), y + c)
                    c += 8
                }
                while c < channels { y[c] = x[c] * scale[c] + shift[c]; c += 1 }
            }
            return
        }
        for n in 0..<batch {
            for channel in 0..<channels {
                let base = (n * channels + channel) * spatial
                let x = input + base
                let y = output + base
                let a = scale[channel], b = shift[channel]
                let av = SIMD8<Float>(repeating: a), bv = SIMD8<Float>(repeating: b)
                var s = 0
                while s + 8 <= spatial {
                    ewStore8(ewLoad8(x + s) * av + bv, y + s)
                    s += 8
                }
                while s < spatial { y[s] = x[s] * a + b; s += 1 }
            }
        }
    }
}
