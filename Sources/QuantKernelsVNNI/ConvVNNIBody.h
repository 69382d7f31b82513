// The loops of the VNNI convolution, written once over the 16-pixel vector operations that
// Vector256.h (AVX-VNNI, two ymm) or Vector512.h (AVX512-VNNI, one zmm) define as F(_…). Included
// by ConvVNNI.c once per variant with QW_NAME and QW_TARGET defined. Not a standalone header.

/// `rows` rows of `width` bytes (pitches `sourcePitch`, `destinationPitch`), each byte XORed with
/// `flip` (the signed → unsigned offset). The width class is chosen once: 16-byte chunks (the last
/// overlapping its predecessor), two overlapping 8-byte moves, or bytes.
QW_INLINE void F(_copyRows)(uint8_t *destination, ptrdiff_t destinationPitch, const uint8_t *source, ptrdiff_t sourcePitch,
                            int rows, int width, uint8_t flip) {
    const __m128i flip16 = _mm_set1_epi8((char)flip);
    if (width > 32) {
        for (int y = 0; y < rows; y++, destination += destinationPitch, source += sourcePitch) {
            for (int x = 0;; x += 16) {
                if (x + 16 > width) x = width - 16;
                _mm_storeu_si128((__m128i *)(destination + x), _mm_xor_si128(_mm_loadu_si128((const __m128i *)(source + x)), flip16));
                if (x + 16 >= width) break;
            }
        }
    } else if (width >= 16) {
        const int last = width - 16;
        for (int y = 0; y < rows; y++, destination += destinationPitch, source += sourcePitch) {
            const __m128i v0 = _mm_loadu_si128((const __m128i *)source), v1 = _mm_loadu_si128((const __m128i *)(source + last));
            _mm_storeu_si128((__m128i *)destination, _mm_xor_si128(v0, flip16));
            _mm_storeu_si128((__m128i *)(destination + last), _mm_xor_si128(v1, flip16));
        }
    } else if (width >= 8) {
        const int last = width - 8;
        for (int y = 0; y < rows; y++, destination += destinationPitch, source += sourcePitch) {
            const __m128i v0 = _mm_loadl_epi64((const __m128i *)source), v1 = _mm_loadl_epi64((const __m128i *)(source + last));
            _mm_storel_epi64((__m128i *)destination, _mm_xor_si128(v0, flip16));
            _mm_storel_epi64((__m128i *)(destination + last), _mm_xor_si128(v1, flip16));
        }
    } else {
        for (int y = 0; y < rows; y++, destination += destinationPitch, source += sourcePitch) {
            for (int x = 0; x < width; x++) destination[x] = source[x] ^ flip;
        }
    }
}

/// The epilogue mode bits of a call: countLow, countHigh, signed output.
QW_INLINE int F(_mode)(const qw_vnni_conv *c) {
    return (c->countLow ? 1 : 0) | (c->countHigh ? 2 : 0) | (c->outputSigned ? 4 : 0);
}

/// The call's epilogue with its flags replaced by the literal bits of `mode` (bit 8: track the
/// extremes instead of counting, the first pass of `QW_NAME`).
QW_INLINE F(_epilogue) F(_specialized)(const qw_vnni_conv *c, const int mode) {
    F(_epilogue) e = F(_makeEpilogue)(c);
    e.countLow = mode & 1;
    e.countHigh = (mode >> 1) & 1;
    e.outputSigned = (mode >> 2) & 1;
    e.track = (mode >> 3) & 1;
    return e;
}

/// The end of a pass: its counts into the call (0 when tracking); whether a tracked extreme
/// crossed a threshold, so that the counts need the exact pass.
QW_INLINE int F(_finish)(qw_vnni_conv *c, const F(_epilogue) *e, F(_tally) tally) {
    if (e->track) {
        c->lowCount = 0;
        c->highCount = 0;
        return F(_crossed)(e, tally);
    }
    F(_reduceTally)(tally, &c->lowCount, &c->highCount);
    return 0;
}

/// 16 pixels x 4 reduction rows (16 bytes each) → 64 bytes `[pixel][4]` (the vpdpbusd operand layout).
QW_INLINE void F(_quad)(uint8_t *destination, __m128i r0, __m128i r1, __m128i r2, __m128i r3) {
    __m128i t0 = _mm_unpacklo_epi8(r0, r1), t1 = _mm_unpackhi_epi8(r0, r1);
    __m128i t2 = _mm_unpacklo_epi8(r2, r3), t3 = _mm_unpackhi_epi8(r2, r3);
    _mm_storeu_si128((__m128i *)(destination + 0), _mm_unpacklo_epi16(t0, t2));
    _mm_storeu_si128((__m128i *)(destination + 16), _mm_unpackhi_epi16(t0, t2));
    _mm_storeu_si128((__m128i *)(destination + 32), _mm_unpacklo_epi16(t1, t3));
    _mm_storeu_si128((__m128i *)(destination + 48), _mm_unpackhi_epi16(t1, t3));
}

/// 4 output channels x 16 pixels over the packed panel `right` ([quads][16][4] u8) and the weight
/// block `left` ([quads][4 rows][4] s8), accumulators starting at the channels' effective biases;
/// requantizes and stores rows `rows` (≤ 4) of `count` (≤ 16) pixels.
QW_INLINE void F(_tile)(const F(_epilogue) *e, const float *multipliers, int perTensor, const uint8_t *right,
                        const int8_t *left, int quads, const int32_t *biasEff, int firstChannel, int rows, int count,
                        uint8_t *out, ptrdiff_t channelStride, F(_tally) *tally) {
    F(_v16) a0 = F(_set1)(biasEff[firstChannel]);
    F(_v16) a1 = F(_set1)(rows > 1 ? biasEff[firstChannel + 1] : 0);
    F(_v16) a2 = F(_set1)(rows > 2 ? biasEff[firstChannel + 2] : 0);
    F(_v16) a3 = F(_set1)(rows > 3 ? biasEff[firstChannel + 3] : 0);
    for (int q = 0; q < quads; q++) {
        const F(_v16) b = F(_load64)(right + q * 64);
        const int8_t *w = left + q * 16;
        a0 = F(_dp)(a0, b, F(_broadcastQuad)(w + 0));
        a1 = F(_dp)(a1, b, F(_broadcastQuad)(w + 4));
        a2 = F(_dp)(a2, b, F(_broadcastQuad)(w + 8));
        a3 = F(_dp)(a3, b, F(_broadcastQuad)(w + 12));
    }
    const F(_mask16) valid = count < 16 ? F(_validLanes)(count) : F(_allLanes)();
    uint8_t *destination = out + (ptrdiff_t)firstChannel * channelStride;
    const float *m = multipliers + (perTensor ? 0 : firstChannel);
    const int step = perTensor ? 0 : 1;
    if (rows == 4) {
        // Unrolled: the accumulators stay in registers.
        F(_store16)(e, a0, m[0], count < 16, valid, count, 0, destination, tally);
        F(_store16)(e, a1, m[step], count < 16, valid, count, 0, destination + channelStride, tally);
        F(_store16)(e, a2, m[2 * step], count < 16, valid, count, 0, destination + 2 * channelStride, tally);
        F(_store16)(e, a3, m[3 * step], count < 16, valid, count, 0, destination + 3 * channelStride, tally);
        return;
    }
    F(_store16)(e, a0, m[0], count < 16, valid, count, 0, destination, tally);
    if (rows > 1) F(_store16)(e, a1, m[step], count < 16, valid, count, 0, destination + channelStride, tally);
    if (rows > 2) F(_store16)(e, a2, m[2 * step], count < 16, valid, count, 0, destination + 2 * channelStride, tally);
}

#ifdef QW_WIDE
/// 8 output channels (two weight blocks, `left0` and `left1`) x 16 pixels: as `_tile` with 8 full rows
/// (32 vector registers: the accumulators, the panel vector and the broadcast weights all fit).
QW_INLINE void F(_tile8)(const F(_epilogue) *e, const float *multipliers, int perTensor, const uint8_t *right,
                         const int8_t *left0, const int8_t *left1, int quads, const int32_t *biasEff, int firstChannel,
                         int count, uint8_t *out, ptrdiff_t channelStride, F(_tally) *tally) {
    const int32_t *bias = biasEff + firstChannel;
    F(_v16) a0 = F(_set1)(bias[0]), a1 = F(_set1)(bias[1]), a2 = F(_set1)(bias[2]), a3 = F(_set1)(bias[3]);
    F(_v16) a4 = F(_set1)(bias[4]), a5 = F(_set1)(bias[5]), a6 = F(_set1)(bias[6]), a7 = F(_set1)(bias[7]);
    for (int q = 0; q < quads; q++) {
        const F(_v16) b = F(_load64)(right + q * 64);
        const int8_t *w = left0 + q * 16, *v = left1 + q * 16;
        a0 = F(_dp)(a0, b, F(_broadcastQuad)(w + 0));
        a1 = F(_dp)(a1, b, F(_broadcastQuad)(w + 4));
        a2 = F(_dp)(a2, b, F(_broadcastQuad)(w + 8));
        a3 = F(_dp)(a3, b, F(_broadcastQuad)(w + 12));
        a4 = F(_dp)(a4, b, F(_broadcastQuad)(v + 0));
        a5 = F(_dp)(a5, b, F(_broadcastQuad)(v + 4));
        a6 = F(_dp)(a6, b, F(_broadcastQuad)(v + 8));
        a7 = F(_dp)(a7, b, F(_broadcastQuad)(v + 12));
    }
    const F(_mask16) valid = count < 16 ? F(_validLanes)(count) : F(_allLanes)();
    uint8_t *d = out + (ptrdiff_t)firstChannel * channelStride;
    const float *m = multipliers + (perTensor ? 0 : firstChannel);
    const int step = perTensor ? 0 : 1;
    F(_store16)(e, a0, m[0], count < 16, valid, count, 0, d, tally);
    F(_store16)(e, a1, m[step], count < 16, valid, count, 0, d + channelStride, tally);
    F(_store16)(e, a2, m[2 * step], count < 16, valid, count, 0, d + 2 * channelStride, tally);
    F(_store16)(e, a3, m[3 * step], count < 16, valid, count, 0, d + 3 * channelStride, tally);
    F(_store16)(e, a4, m[4 * step], count < 16, valid, count, 0, d + 4 * channelStride, tally);
    F(_store16)(e, a5, m[5 * step], count < 16, valid, count, 0, d + 5 * channelStride, tally);
    F(_store16)(e, a6, m[6 * step], count < 16, valid, count, 0, d + 6 * channelStride, tally);
    F(_store16)(e, a7, m[7 * step], count < 16, valid, count, 0, d + 7 * channelStride, tally);
}
#endif

/// Every weight block over one packed panel of `count` pixels (a literal 16 at the full-panel call
/// sites, so the masks fold away): 8-row tiles where the variant has the registers, then 4-row ones.
QW_INLINE void F(_panel)(const F(_epilogue) *e, const qw_vnni_conv *c, const uint8_t *right, int quads,
                         const int32_t *biasEff, int count, uint8_t *out, ptrdiff_t outPlane, F(_tally) *tally) {
    const int outC = c->outChannels, blocks = (outC + 3) / 4;
    int block = 0;
#ifdef QW_WIDE
    for (; block + 2 <= outC / 4; block += 2) {
        F(_tile8)(e, c->multipliers, c->perTensor, right, c->panels + (ptrdiff_t)block * quads * 16,
                  c->panels + (ptrdiff_t)(block + 1) * quads * 16, quads, biasEff, block * 4, count, out, outPlane, tally);
    }
#endif
    for (; block < blocks; block++) {
        const int rows = outC - block * 4 < 4 ? outC - block * 4 : 4;
        F(_tile)(e, c->multipliers, c->perTensor, right, c->panels + (ptrdiff_t)block * quads * 16, quads, biasEff,
                 block * 4, rows, count, out, outPlane, tally);
    }
}

/// Depthwise: per output channel, a zero-point-padded u8 copy of its input channel; per filter row
/// and tap quad, 16 output pixels gather their 4 tap bytes with a dword permute and a byte shuffle
/// (4 pixels per 128-bit lane: byte i·sW + t·dW), then one vpdpbusd per 8 or 16 pixels.
QW_INLINE int F(_depthwiseBody)(qw_vnni_conv *c, const int mode) {
    const F(_epilogue) e = F(_specialized)(c, mode);
    const int inC = c->inChannels, outC = c->outChannels, kH = c->kernelHeight, qpr = c->quadsPerRow;
    const int sW = c->strideWidth, dW = c->dilationWidth;
    const int32_t zeroEff = c->inputSigned ? c->inputZero + 128 : c->inputZero;
    const uint8_t flip = c->inputSigned ? 0x80 : 0;
    qw_vnni_layout L = qw_vnni_scratch_layout(c);
    uint8_t *plane = (uint8_t *)c->scratch + L.paddedOffset;
    const int Hp = L.paddedHeight, Wp = L.paddedWidth;
    const ptrdiff_t inPlane = (ptrdiff_t)c->inHeight * c->inWidth, outPlane = (ptrdiff_t)c->outHeight * c->outWidth;
    // Byte i·sW + t·dW of a lane's 16 bytes is pixel i's tap t (taps past kW read tap 0: weight 0).
    uint8_t masks[8][16];   // per quad of the row (qpr ≤ 8, checked by the caller)
    for (int q = 0; q < qpr && q < 8; q++) {
        for (int i = 0; i < 4; i++) {
            for (int t = 0; t < 4; t++) {
                const int tap = 4 * q + t;
                masks[q][4 * i + t] = (uint8_t)(i * sW + (tap < c->kernelWidth ? t * dW : 0));
            }
        }
    }
    const F(_gather) g0 = F(_makeGather)(sW, masks[0]);
    const int firstColumn = c->padLeft < Wp ? c->padLeft : Wp;
    int endColumn = c->inWidth + c->padLeft;
    if (endColumn > Wp) endColumn = Wp;
    // Plane rows holding input rows: [rowStart, rowEnd).
    const int rowStart = c->padTop < Hp ? c->padTop : Hp;
    const int rowEnd = c->inHeight + c->padTop < Hp ? c->inHeight + c->padTop : Hp;
    F(_tally) tally = F(_makeTally)(e.track);
    const uint8_t *outEnd = (const uint8_t *)c->output + (ptrdiff_t)c->batch * outC * outPlane;
    // Two planes, alternating: channel k + 1 is copied into one while channel k is computed from the
    // other, so the gathers' wide loads do not wait on the copy's just-issued narrow stores. The
    // padding (zero point) is the same for every channel: written once per call; each channel then
    // rewrites only the positions inside the input.
    const size_t planeBytes = ((size_t)Hp * Wp + 63) / 64 * 64;
    memset(plane, (uint8_t)zeroEff, 2 * planeBytes);
    const int channels = c->batch * inC;
    for (int k = 0; k <= channels; k++) {
        // Copy (batch, channel) k, then compute k − 1.
        if (k < channels) {
            const uint8_t *in = (const uint8_t *)c->input + (ptrdiff_t)k * inPlane;
            uint8_t *destination = plane + (size_t)(k & 1) * planeBytes;
            if (rowEnd > rowStart && endColumn > firstColumn) {
                F(_copyRows)(destination + (ptrdiff_t)rowStart * Wp + firstColumn, Wp,
                             in + (ptrdiff_t)(rowStart - c->padTop) * c->inWidth + (firstColumn - c->padLeft), c->inWidth,
                             rowEnd - rowStart, endColumn - firstColumn, flip);
            }
        }
        if (k == 0) continue;
        const int n = (k - 1) / inC, ch = (k - 1) % inC;
        const uint8_t *source = plane + (size_t)((k - 1) & 1) * planeBytes;
        {
            for (int mi = 0; mi < c->channelMultiplier; mi++) {
                const int oc = ch * c->channelMultiplier + mi;
                const int8_t *taps = c->panels + (ptrdiff_t)oc * kH * qpr * 4;
                const int32_t b = c->bias ? c->bias[oc] : 0;
                // Σ (x − zx)(w − wz) + b = Σ x'(w − wz) + (b − zx'·Σ(w − wz)), all mod 2^32.
                const F(_v16) bias = F(_set1)((int32_t)((uint32_t)b - (uint32_t)zeroEff * (uint32_t)c->weightSums[oc]));
                const float multiplier = c->multipliers[c->perTensor ? 0 : oc];
                uint8_t *out = (uint8_t *)c->output + ((ptrdiff_t)n * outC + oc) * outPlane;
                if (kH == 3 && qpr == 1) {
                    // 3x3 (the common case): the three tap quads stay in registers; when the vertical
                    // stride equals the dilation, two output rows share two of their four input rows.
                    const F(_w) w0 = F(_broadcastQuad)(taps + 0), w1 = F(_broadcastQuad)(taps + 4), w2 = F(_broadcastQuad)(taps + 8);
                    const ptrdiff_t d = (ptrdiff_t)c->dilationHeight * Wp;
                    int oy = 0;
                    if (c->strideHeight == c->dilationHeight) {
                        for (; oy + 2 <= c->outHeight; oy += 2) {
                            const uint8_t *rowBase = source + (ptrdiff_t)oy * c->strideHeight * Wp;
                            for (int ox = 0; ox < c->outWidth; ox += 16) {
                                const int count = c->outWidth - ox < 16 ? c->outWidth - ox : 16;
                                const uint8_t *s0 = rowBase + (ptrdiff_t)ox * sW;
                                const F(_v16) x0 = F(_gather16)(s0, sW, &g0), x1 = F(_gather16)(s0 + d, sW, &g0);
                                const F(_v16) x2 = F(_gather16)(s0 + 2 * d, sW, &g0), x3 = F(_gather16)(s0 + 3 * d, sW, &g0);
                                const F(_v16) a = F(_dp)(F(_dp)(F(_dp)(bias, x0, w0), x1, w1), x2, w2);
                                const F(_v16) z = F(_dp)(F(_dp)(F(_dp)(bias, x1, w0), x2, w1), x3, w2);
                                const F(_mask16) valid = count < 16 ? F(_validLanes)(count) : F(_allLanes)();
                                // Row oy's bytes past `count` would land on row oy + 1, already stored: exact store.
                                uint8_t *destination = out + (ptrdiff_t)oy * c->outWidth + ox;
                                F(_store16)(&e, a, multiplier, count < 16, valid, count, 0, destination, &tally);
                                destination += c->outWidth;
                                F(_store16)(&e, z, multiplier, count < 16, valid, count, outEnd - destination >= 16, destination, &tally);
                            }
                        }
                    }
                    for (; oy < c->outHeight; oy++) {
                        const uint8_t *rowBase = source + (ptrdiff_t)oy * c->strideHeight * Wp;
                        for (int ox = 0; ox < c->outWidth; ox += 16) {
                            const int count = c->outWidth - ox < 16 ? c->outWidth - ox : 16;
                            const uint8_t *s0 = rowBase + (ptrdiff_t)ox * sW;
                            const F(_v16) x0 = F(_gather16)(s0, sW, &g0), x1 = F(_gather16)(s0 + d, sW, &g0);
                            const F(_v16) x2 = F(_gather16)(s0 + 2 * d, sW, &g0);
                            const F(_v16) a = F(_dp)(F(_dp)(F(_dp)(bias, x0, w0), x1, w1), x2, w2);
                            const F(_mask16) valid = count < 16 ? F(_validLanes)(count) : F(_allLanes)();
                            // Bytes past the row belong to later rows or channels, rewritten after this
                            // store: a whole 16-byte store is fine while it stays inside the output tensor.
                            uint8_t *destination = out + (ptrdiff_t)oy * c->outWidth + ox;
                            F(_store16)(&e, a, multiplier, count < 16, valid, count, outEnd - destination >= 16, destination, &tally);
                        }
                    }
                    continue;
                }
                for (int oy = 0; oy < c->outHeight; oy++) {
                    const uint8_t *rowBase = source + (ptrdiff_t)oy * c->strideHeight * Wp;
                    for (int ox = 0; ox < c->outWidth; ox += 16) {
                        const int count = c->outWidth - ox < 16 ? c->outWidth - ox : 16;
                        F(_v16) acc = bias;
                        for (int fy = 0; fy < kH; fy++) {
                            const uint8_t *row = rowBase + (ptrdiff_t)fy * c->dilationHeight * Wp + (ptrdiff_t)ox * sW;
                            for (int q = 0; q < qpr; q++) {
                                const F(_gather) gq = F(_makeGather)(sW, masks[q]);
                                acc = F(_dp)(acc, F(_gather16)(row + 4 * q * dW, sW, &gq), F(_broadcastQuad)(taps + (fy * qpr + q) * 4));
                            }
                        }
                        const F(_mask16) valid = count < 16 ? F(_validLanes)(count) : F(_allLanes)();
                        uint8_t *destination = out + (ptrdiff_t)oy * c->outWidth + ox;
                        F(_store16)(&e, acc, multiplier, count < 16, valid, count, outEnd - destination >= 16, destination, &tally);
                    }
                }
            }
        }
    }
    return F(_finish)(c, &e, tally);
}

/// General (groups == 1) and pointwise convolutions: per 16-pixel panel, the u8 quads of the
/// reduction packed into `right`, then every 4-channel weight block over it.
QW_INLINE int F(_convBody)(qw_vnni_conv *c, const int mode) {
    const F(_epilogue) e = F(_specialized)(c, mode);
    const int quads = c->depthQuads, depthRows = quads * 4;
    const int inC = c->inChannels, outC = c->outChannels;
    const int32_t zeroEff = c->inputSigned ? c->inputZero + 128 : c->inputZero;
    const uint8_t flip = c->inputSigned ? 0x80 : 0;
    const __m128i flip16 = _mm_set1_epi8((char)flip);
    qw_vnni_layout L = qw_vnni_scratch_layout(c);
    uint8_t *scratch = (uint8_t *)c->scratch;
    int32_t *biasEff = (int32_t *)(void *)(scratch + L.biasOffset);
    uint8_t *right = scratch + L.panelOffset;
    // Σ (x − zx)(w − wz) + b = Σ x'(w − wz) + (b − zx'·Σ(w − wz)), x' = x (+128 when signed): all mod 2^32.
    for (int oc = 0; oc < outC; oc++) {
        int32_t b = c->bias ? c->bias[oc] : 0;
        biasEff[oc] = (int32_t)((uint32_t)b - (uint32_t)zeroEff * (uint32_t)c->weightSums[oc]);
    }
    F(_tally) tally = F(_makeTally)(e.track);
    const ptrdiff_t outPlane = (ptrdiff_t)c->outHeight * c->outWidth;
    if (c->pointwise) {
        const ptrdiff_t plane = (ptrdiff_t)c->inHeight * c->inWidth;
        for (int n = 0; n < c->batch; n++) {
            const uint8_t *in = (const uint8_t *)c->input + (ptrdiff_t)n * inC * plane;
            uint8_t *out = (uint8_t *)c->output + (ptrdiff_t)n * outC * outPlane;
            for (ptrdiff_t p = 0; p < plane; p += 16) {
                const int count = plane - p < 16 ? (int)(plane - p) : 16;
                for (int k = 0; k < depthRows; k += 4) {
                    __m128i r[4];
                    for (int j = 0; j < 4; j++) {
                        if (k + j >= inC) { r[j] = _mm_setzero_si128(); continue; }
                        const uint8_t *row = in + (ptrdiff_t)(k + j) * plane + p;
                        if (count == 16) {
                            r[j] = _mm_loadu_si128((const __m128i *)row);
                        } else {
                            uint8_t temporary[16] = {0};
                            for (int i = 0; i < count; i++) temporary[i] = row[i];
                            r[j] = _mm_loadu_si128((const __m128i *)temporary);
                        }
                        if (flip) r[j] = _mm_xor_si128(r[j], flip16);
                    }
                    F(_quad)(right + k * 16, r[0], r[1], r[2], r[3]);
                }
                if (count == 16) F(_panel)(&e, c, right, quads, biasEff, 16, out + p, outPlane, &tally);
                else F(_panel)(&e, c, right, quads, biasEff, count, out + p, outPlane, &tally);
            }
        }
    } else {
        // A zero-point-padded copy of the input (x' values), so every tap of every lane reads inside
        // it; then per 16-pixel run of one output row, im2col into `right`.
        uint8_t *padded = scratch + L.paddedOffset;
        int32_t *rowOffsets = (int32_t *)(void *)(scratch + L.offsetsOffset);
        const int Hp = L.paddedHeight, Wp = L.paddedWidth, kHW = c->kernelHeight * c->kernelWidth;
        const int depth = inC * kHW;
        for (int k = 0; k < depthRows; k++) {
            if (k >= depth) { rowOffsets[k] = -1; continue; }
            int ch = k / kHW, fy = (k % kHW) / c->kernelWidth, fx = k % c->kernelWidth;
            rowOffsets[k] = (ch * Hp + fy * c->dilationHeight) * Wp + fx * c->dilationWidth;
        }
        const ptrdiff_t inPlane = (ptrdiff_t)c->inHeight * c->inWidth;
        const int firstColumn = c->padLeft < Wp ? c->padLeft : Wp;
        int endColumn = c->inWidth + c->padLeft;
        if (endColumn > Wp) endColumn = Wp;
        const int rowStart = c->padTop < Hp ? c->padTop : Hp;
        const int rowEnd = c->inHeight + c->padTop < Hp ? c->inHeight + c->padTop : Hp;
        const int sW = c->strideWidth;
        // The padding (zero point) is the same for every channel and batch: written once per call.
        memset(padded, (uint8_t)zeroEff, (size_t)inC * Hp * Wp);
        for (int n = 0; n < c->batch; n++) {
            const uint8_t *in = (const uint8_t *)c->input + (ptrdiff_t)n * inC * inPlane;
            uint8_t *out = (uint8_t *)c->output + (ptrdiff_t)n * outC * outPlane;
            for (int ch = 0; ch < inC && endColumn > firstColumn && rowEnd > rowStart; ch++) {
                F(_copyRows)(padded + ((ptrdiff_t)ch * Hp + rowStart) * Wp + firstColumn, Wp,
                             in + ch * inPlane + (ptrdiff_t)(rowStart - c->padTop) * c->inWidth + (firstColumn - c->padLeft),
                             c->inWidth, rowEnd - rowStart, endColumn - firstColumn, flip);
            }
            for (int oy = 0; oy < c->outHeight; oy++) {
                const uint8_t *rowBase = padded + (ptrdiff_t)oy * c->strideHeight * Wp;
                for (int ox = 0; ox < c->outWidth; ox += 16) {
                    const int count = c->outWidth - ox < 16 ? c->outWidth - ox : 16;
                    const uint8_t *base = rowBase + (ptrdiff_t)ox * sW;
                    for (int k = 0; k < depthRows; k += 4) {
                        __m128i r[4];
                        for (int j = 0; j < 4; j++) {
                            const int32_t o = rowOffsets[k + j];
                            if (o < 0) { r[j] = _mm_setzero_si128(); continue; }
                            const uint8_t *s = base + o;
                            if (sW == 1) {
                                r[j] = _mm_loadu_si128((const __m128i *)s);
                            } else if (sW == 2) {
                                // Even bytes of 32: mask the odd ones, pack words to bytes, take lanes' low halves.
                                __m256i v = _mm256_and_si256(_mm256_loadu_si256((const __m256i *)s), _mm256_set1_epi16(0xFF));
                                r[j] = _mm256_castsi256_si128(_mm256_permute4x64_epi64(_mm256_packus_epi16(v, v), 0x08));
                            } else {
                                uint8_t temporary[16];
                                for (int i = 0; i < 16; i++) temporary[i] = s[i * sW];
                                r[j] = _mm_loadu_si128((const __m128i *)temporary);
                            }
                        }
                        F(_quad)(right + k * 16, r[0], r[1], r[2], r[3]);
                    }
                    uint8_t *destination = out + (ptrdiff_t)oy * c->outWidth + ox;
                    if (count == 16) F(_panel)(&e, c, right, quads, biasEff, 16, destination, outPlane, &tally);
                    else F(_panel)(&e, c, right, quads, biasEff, count, destination, outPlane, &tally);
                }
            }
        }
    }
    return F(_finish)(c, &e, tally);
}

/// The loops compiled once per epilogue mode (countLow, countHigh, signed output, track as literal
/// bits), so the per-store flag tests fold away. Return whether a tracked extreme crossed.
__attribute__((target(QW_TARGET))) static int F(_depthwise)(qw_vnni_conv *c, const int mode) {
    switch (mode) {
    case 0: return F(_depthwiseBody)(c, 0);
    case 1: return F(_depthwiseBody)(c, 1);
    case 2: return F(_depthwiseBody)(c, 2);
    case 3: return F(_depthwiseBody)(c, 3);
    case 4: return F(_depthwiseBody)(c, 4);
    case 5: return F(_depthwiseBody)(c, 5);
    case 6: return F(_depthwiseBody)(c, 6);
    case 7: return F(_depthwiseBody)(c, 7);
    case 9: return F(_depthwiseBody)(c, 9);
    case 10: return F(_depthwiseBody)(c, 10);
    case 11: return F(_depthwiseBody)(c, 11);
    case 13: return F(_depthwiseBody)(c, 13);
    case 14: return F(_depthwiseBody)(c, 14);
    default: return F(_depthwiseBody)(c, 15);
    }
}

__attribute__((target(QW_TARGET))) static int F(_general)(qw_vnni_conv *c, const int mode) {
    switch (mode) {
    case 0: return F(_convBody)(c, 0);
    case 1: return F(_convBody)(c, 1);
    case 2: return F(_convBody)(c, 2);
    case 3: return F(_convBody)(c, 3);
    case 4: return F(_convBody)(c, 4);
    case 5: return F(_convBody)(c, 5);
    case 6: return F(_convBody)(c, 6);
    case 7: return F(_convBody)(c, 7);
    case 9: return F(_convBody)(c, 9);
    case 10: return F(_convBody)(c, 10);
    case 11: return F(_convBody)(c, 11);
    case 13: return F(_convBody)(c, 13);
    case 14: return F(_convBody)(c, 14);
    default: return F(_convBody)(c, 15);
    }
}

/// Counting in two passes (`twoPass`; the caller's policy: QuantKernels' TwoPassCounting): the
/// first keeps each lane's extremes (one vminps / vmaxps per counted side and 16 outputs instead of
/// a compare and a masked add); only when an extreme crossed a threshold does the exact pass run,
/// storing the same bytes again and counting. The input is never the output (the planner gives
/// them separate buffers). Without `twoPass`, one exact pass.
__attribute__((target(QW_TARGET))) static void QW_NAME(qw_vnni_conv *c) {
    int (*run)(qw_vnni_conv *, int) = c->depthwise ? F(_depthwise) : F(_general);
    const int mode = F(_mode)(c);
    c->recounted = 0;
    if ((mode & 3) == 0 || !c->twoPass) { run(c, mode); return; }
    c->recounted = run(c, mode | 8);
    if (c->recounted) run(c, mode);
}
