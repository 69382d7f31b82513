// The body of the VNNI convolution, included once per variant by ConvVNNI.c with
//   QW_NAME  the function's name,   QW_TARGET  its target attribute string,
//   QW_DPBUSD(acc, u8, s8)  the vpdpbusd intrinsic of that variant.
// Not a standalone header.

/// 16 pixels x 4 reduction rows (16 bytes each) → 64 bytes `[pixel][4]` (the vpdpbusd operand layout).
__attribute__((target(QW_TARGET), always_inline)) static inline void
QW_CONCAT(QW_NAME, _quad)(uint8_t *destination, __m128i r0, __m128i r1, __m128i r2, __m128i r3) {
    __m128i t0 = _mm_unpacklo_epi8(r0, r1), t1 = _mm_unpackhi_epi8(r0, r1);
    __m128i t2 = _mm_unpacklo_epi8(r2, r3), t3 = _mm_unpackhi_epi8(r2, r3);
    _mm_storeu_si128((__m128i *)(destination + 0), _mm_unpacklo_epi16(t0, t2));
    _mm_storeu_si128((__m128i *)(destination + 16), _mm_unpackhi_epi16(t0, t2));
    _mm_storeu_si128((__m128i *)(destination + 32), _mm_unpacklo_epi16(t1, t3));
    _mm_storeu_si128((__m128i *)(destination + 48), _mm_unpackhi_epi16(t1, t3));
}

/// `width` bytes from `source` to `destination`, each XORed with `flip` (the signed → unsigned offset):
/// 16-byte chunks, the last one overlapping its predecessor; byte by byte only below 16.
__attribute__((target(QW_TARGET), always_inline)) static inline void
QW_CONCAT(QW_NAME, _copyRow)(uint8_t *destination, const uint8_t *source, int width, uint8_t flip) {
    const __m128i flip16 = _mm_set1_epi8((char)flip);
    if (width >= 16) {
        for (int x = 0;; x += 16) {
            if (x + 16 > width) x = width - 16;
            _mm_storeu_si128((__m128i *)(destination + x), _mm_xor_si128(_mm_loadu_si128((const __m128i *)(source + x)), flip16));
            if (x + 16 >= width) break;
        }
    } else {
        for (int x = 0; x < width; x++) destination[x] = source[x] ^ flip;
    }
}

/// Lane masks of the first `count` of 16 lanes.
__attribute__((target(QW_TARGET), always_inline)) static inline void
QW_CONCAT(QW_NAME, _validLanes)(int count, __m256i *valid0, __m256i *valid1) {
    const __m256i lanes = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    const __m256i limit = _mm256_set1_epi32(count);
    *valid0 = _mm256_cmpgt_epi32(limit, lanes);
    *valid1 = _mm256_cmpgt_epi32(limit, _mm256_add_epi32(lanes, _mm256_set1_epi32(8)));
}

/// Requantizes 16 accumulators (`acc0` lanes 0–7, `acc1` 8–15) of one output channel, counts the
/// `valid` lanes (all when !masked) and stores them: all 16 bytes when `wholeStore` (the caller
/// knows the bytes past `count` are rewritten later), else the first `count`.
__attribute__((target(QW_TARGET), always_inline)) static inline void
QW_CONCAT(QW_NAME, _store16)(const qw_epilogue *e, __m256i acc0, __m256i acc1, int32_t biasValue, float multiplier,
                             int masked, __m256i valid0, __m256i valid1, int count, int wholeStore,
                             uint8_t *destination, __m256i *lowCount, __m256i *highCount) {
    const __m256 magic = _mm256_set1_ps(12582912.0f);
    const __m256i bias = _mm256_set1_epi32(biasValue);
    const __m256 m = _mm256_set1_ps(multiplier);
    // Float(acc)·m, then + 1.5·2^23 (two roundings, as the scalar rule: no fused multiply-add).
    __m256 t0 = _mm256_add_ps(_mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_add_epi32(acc0, bias)), m), magic);
    __m256 t1 = _mm256_add_ps(_mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_add_epi32(acc1, bias)), m), magic);
    if (e->countLow) {
        __m256i l0 = _mm256_castps_si256(_mm256_cmp_ps(t0, e->lowThreshold, _CMP_LT_OQ));
        __m256i l1 = _mm256_castps_si256(_mm256_cmp_ps(t1, e->lowThreshold, _CMP_LT_OQ));
        if (masked) { l0 = _mm256_and_si256(l0, valid0); l1 = _mm256_and_si256(l1, valid1); }
        *lowCount = _mm256_sub_epi32(*lowCount, _mm256_add_epi32(l0, l1));
    }
    if (e->countHigh) {
        __m256i h0 = _mm256_castps_si256(_mm256_cmp_ps(t0, e->highThreshold, _CMP_GT_OQ));
        __m256i h1 = _mm256_castps_si256(_mm256_cmp_ps(t1, e->highThreshold, _CMP_GT_OQ));
        if (masked) { h0 = _mm256_and_si256(h0, valid0); h1 = _mm256_and_si256(h1, valid1); }
        *highCount = _mm256_sub_epi32(*highCount, _mm256_add_epi32(h0, h1));
    }
    t0 = _mm256_min_ps(_mm256_max_ps(t0, e->lowerBound), e->upperBound);
    t1 = _mm256_min_ps(_mm256_max_ps(t1, e->lowerBound), e->upperBound);
    __m256i v0 = _mm256_sub_epi32(_mm256_castps_si256(t0), e->offset);
    __m256i v1 = _mm256_sub_epi32(_mm256_castps_si256(t1), e->offset);
    // In range [lower, upper] ⊂ the output type's: the saturating packs are exact.
    __m256i words = _mm256_permute4x64_epi64(_mm256_packs_epi32(v0, v1), 0xD8);
    __m128i lo = _mm256_castsi256_si128(words), hi = _mm256_extracti128_si256(words, 1);
    __m128i bytes = e->outputSigned ? _mm_packs_epi16(lo, hi) : _mm_packus_epi16(lo, hi);
    if (count == 16 || wholeStore) {
        _mm_storeu_si128((__m128i *)destination, bytes);
    } else {
        uint8_t temporary[16];
        _mm_storeu_si128((__m128i *)temporary, bytes);
        for (int i = 0; i < count; i++) destination[i] = temporary[i];
    }
}

/// The requantization constants of a call, kept in registers (not re-read from `c` after stores).
__attribute__((target(QW_TARGET), always_inline)) static inline qw_epilogue
QW_CONCAT(QW_NAME, _epilogue)(const qw_vnni_conv *c) {
    qw_epilogue e;
    e.lowThreshold = _mm256_set1_ps((float)(c->qmin - c->zeroPoint) + 12582912.0f);
    e.highThreshold = _mm256_set1_ps((float)(c->qmax - c->zeroPoint) + 12582912.0f);
    e.lowerBound = _mm256_set1_ps((float)(c->lower - c->zeroPoint) + 12582912.0f);
    e.upperBound = _mm256_set1_ps((float)(c->upper - c->zeroPoint) + 12582912.0f);
    e.offset = _mm256_set1_epi32(0x4B400000 - c->zeroPoint);
    e.countLow = c->countLow;
    e.countHigh = c->countHigh;
    e.outputSigned = c->outputSigned;
    return e;
}

/// 4 output channels x 16 pixels over the packed panel `right` ([quads][16][4] u8) and the weight
/// block `left` ([quads][4 rows][4] s8); requantizes and stores rows `rows` (≤ 4) of `count` (≤ 16) pixels.
__attribute__((target(QW_TARGET), always_inline)) static inline void
QW_CONCAT(QW_NAME, _tile)(const qw_epilogue *e, const float *multipliers, int perTensor, const uint8_t *right, const int8_t *left, int quads,
                          const int32_t *biasEff, int firstChannel, int rows, int count,
                          uint8_t *out, ptrdiff_t channelStride, __m256i *lowCount, __m256i *highCount) {
    __m256i a00 = _mm256_setzero_si256(), a01 = a00, a10 = a00, a11 = a00, a20 = a00, a21 = a00, a30 = a00, a31 = a00;
    for (int q = 0; q < quads; q++) {
        __m256i b0 = _mm256_loadu_si256((const __m256i *)(right + q * 64));
        __m256i b1 = _mm256_loadu_si256((const __m256i *)(right + q * 64 + 32));
        const int8_t *w = left + q * 16;
        __m256i w0 = _mm256_set1_epi32(*(const int32_t *)(const void *)(w + 0));
        a00 = QW_DPBUSD(a00, b0, w0); a01 = QW_DPBUSD(a01, b1, w0);
        __m256i w1 = _mm256_set1_epi32(*(const int32_t *)(const void *)(w + 4));
        a10 = QW_DPBUSD(a10, b0, w1); a11 = QW_DPBUSD(a11, b1, w1);
        __m256i w2 = _mm256_set1_epi32(*(const int32_t *)(const void *)(w + 8));
        a20 = QW_DPBUSD(a20, b0, w2); a21 = QW_DPBUSD(a21, b1, w2);
        __m256i w3 = _mm256_set1_epi32(*(const int32_t *)(const void *)(w + 12));
        a30 = QW_DPBUSD(a30, b0, w3); a31 = QW_DPBUSD(a31, b1, w3);
    }
    __m256i valid0 = _mm256_set1_epi32(-1), valid1 = valid0;
    if (count < 16) QW_CONCAT(QW_NAME, _validLanes)(count, &valid0, &valid1);
    for (int r = 0; r < rows; r++) {
        __m256i acc0 = r == 0 ? a00 : r == 1 ? a10 : r == 2 ? a20 : a30;
        __m256i acc1 = r == 0 ? a01 : r == 1 ? a11 : r == 2 ? a21 : a31;
        const int oc = firstChannel + r;
        QW_CONCAT(QW_NAME, _store16)(e, acc0, acc1, biasEff[oc], multipliers[perTensor ? 0 : oc], count < 16,
                                     valid0, valid1, count, 0, out + (ptrdiff_t)oc * channelStride, lowCount, highCount);
    }
}

__attribute__((target(QW_TARGET))) static void QW_CONCAT(QW_NAME, _depthwise)(qw_vnni_conv *c);

__attribute__((target(QW_TARGET))) static void QW_NAME(qw_vnni_conv *c) {
    if (c->depthwise) { QW_CONCAT(QW_NAME, _depthwise)(c); return; }
    const qw_epilogue e = QW_CONCAT(QW_NAME, _epilogue)(c);
    const int quads = c->depthQuads, depthRows = quads * 4;
    const int inC = c->inChannels, outC = c->outChannels, blocks = (outC + 3) / 4;
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
    __m256i lowCount = _mm256_setzero_si256(), highCount = lowCount;
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
                            memcpy(temporary, row, (size_t)count);
                            r[j] = _mm_loadu_si128((const __m128i *)temporary);
                        }
                        r[j] = _mm_xor_si128(r[j], flip16);
                    }
                    QW_CONCAT(QW_NAME, _quad)(right + k * 16, r[0], r[1], r[2], r[3]);
                }
                for (int block = 0; block < blocks; block++) {
                    const int rows = outC - block * 4 < 4 ? outC - block * 4 : 4;
                    QW_CONCAT(QW_NAME, _tile)(&e, c->multipliers, c->perTensor, right, c->panels + (ptrdiff_t)block * quads * 16, quads, biasEff,
                                              block * 4, rows, count, out + p, outPlane, &lowCount, &highCount);
                }
            }
        }
    } else {
        // General (groups == 1): a zero-point-padded copy of the input (x' values), so every tap of
        // every lane reads inside it; then per 16-pixel run of one output row, im2col into `right`.
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
        const int sW = c->strideWidth;
        for (int n = 0; n < c->batch; n++) {
            const uint8_t *in = (const uint8_t *)c->input + (ptrdiff_t)n * inC * inPlane;
            uint8_t *out = (uint8_t *)c->output + (ptrdiff_t)n * outC * outPlane;
            // The padding (zero point) is the same for every channel and batch: written once per call.
            if (n == 0) memset(padded, (uint8_t)zeroEff, (size_t)inC * Hp * Wp);
            for (int ch = 0; ch < inC && endColumn > firstColumn; ch++) {
                for (int y = 0; y < Hp; y++) {
                    const int inY = y - c->padTop;
                    if (inY < 0 || inY >= c->inHeight) continue;
                    QW_CONCAT(QW_NAME, _copyRow)(padded + ((ptrdiff_t)ch * Hp + y) * Wp + firstColumn,
                                                 in + ch * inPlane + (ptrdiff_t)inY * c->inWidth + (firstColumn - c->padLeft),
                                                 endColumn - firstColumn, flip);
                }
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
                                __m256i v = _mm256_and_si256(_mm256_loadu_si256((const __m256i *)s), _mm256_set1_epi16(0xFF));
                                __m256i packed = _mm256_permute4x64_epi64(_mm256_packus_epi16(v, v), 0x08);
                                r[j] = _mm256_castsi256_si128(packed);
                            } else {
                                uint8_t temporary[16];
                                for (int i = 0; i < 16; i++) temporary[i] = s[i * sW];
                                r[j] = _mm_loadu_si128((const __m128i *)temporary);
                            }
                        }
                        QW_CONCAT(QW_NAME, _quad)(right + k * 16, r[0], r[1], r[2], r[3]);
                    }
                    for (int block = 0; block < blocks; block++) {
                        const int rows = outC - block * 4 < 4 ? outC - block * 4 : 4;
                        QW_CONCAT(QW_NAME, _tile)(&e, c->multipliers, c->perTensor, right, c->panels + (ptrdiff_t)block * quads * 16, quads, biasEff,
                                                  block * 4, rows, count, out + (ptrdiff_t)oy * c->outWidth + ox, outPlane,
                                                  &lowCount, &highCount);
                    }
                }
            }
        }
    }
    // Lane tallies hold −count per lane… negated above, so they are positive counts here.
    int32_t lanes[8];
    int64_t low = 0, high = 0;
    _mm256_storeu_si256((__m256i *)lanes, lowCount);
    for (int i = 0; i < 8; i++) low += lanes[i];
    _mm256_storeu_si256((__m256i *)lanes, highCount);
    for (int i = 0; i < 8; i++) high += lanes[i];
    c->lowCount = low;
    c->highCount = high;
}

/// Depthwise: per output channel, a zero-point-padded u8 copy of its input channel; per filter row
/// and tap quad, 16 output pixels gather their 4 tap bytes with one vpshufb per 8 pixels (4 pixels
/// per 128-bit lane: byte i·sW + t·dW of a 16-byte load), then one vpdpbusd.
__attribute__((target(QW_TARGET))) static void QW_CONCAT(QW_NAME, _depthwise)(qw_vnni_conv *c) {
    const qw_epilogue e = QW_CONCAT(QW_NAME, _epilogue)(c);
    const int inC = c->inChannels, outC = c->outChannels, kH = c->kernelHeight, qpr = c->quadsPerRow;
    const int sW = c->strideWidth, dW = c->dilationWidth;
    const int32_t zeroEff = c->inputSigned ? c->inputZero + 128 : c->inputZero;
    const uint8_t flip = c->inputSigned ? 0x80 : 0;
    qw_vnni_layout L = qw_vnni_scratch_layout(c);
    uint8_t *plane = (uint8_t *)c->scratch + L.paddedOffset;
    const int Hp = L.paddedHeight, Wp = L.paddedWidth;
    const ptrdiff_t inPlane = (ptrdiff_t)c->inHeight * c->inWidth, outPlane = (ptrdiff_t)c->outHeight * c->outWidth;
    // Byte i·sW + t·dW of a lane's 16-byte load is pixel i's tap t (taps past kW read tap 0: weight 0).
    uint8_t masks[8][16];   // per quad index within the row (qpr ≤ 8 supported by the caller)
    for (int q = 0; q < qpr && q < 8; q++) {
        for (int i = 0; i < 4; i++) {
            for (int t = 0; t < 4; t++) {
                const int tap = 4 * q + t;
                masks[q][4 * i + t] = (uint8_t)(i * sW + (tap < c->kernelWidth ? t * dW : 0));
            }
        }
    }
    const int firstColumn = c->padLeft < Wp ? c->padLeft : Wp;
    int endColumn = c->inWidth + c->padLeft;
    if (endColumn > Wp) endColumn = Wp;
    __m256i lowCount = _mm256_setzero_si256(), highCount = lowCount;
    // The padding (zero point) is the same for every channel: written once per call; each channel
    // then rewrites only the positions inside the input.
    memset(plane, (uint8_t)zeroEff, (size_t)Hp * Wp);
    for (int n = 0; n < c->batch; n++) {
        for (int ch = 0; ch < inC; ch++) {
            const uint8_t *in = (const uint8_t *)c->input + ((ptrdiff_t)n * inC + ch) * inPlane;
            for (int y = 0; y < Hp && endColumn > firstColumn; y++) {
                const int inY = y - c->padTop;
                if (inY < 0 || inY >= c->inHeight) continue;
                QW_CONCAT(QW_NAME, _copyRow)(plane + (ptrdiff_t)y * Wp + firstColumn,
                                             in + (ptrdiff_t)inY * c->inWidth + (firstColumn - c->padLeft),
                                             endColumn - firstColumn, flip);
            }
            for (int mi = 0; mi < c->channelMultiplier; mi++) {
                const int oc = ch * c->channelMultiplier + mi;
                const int8_t *taps = c->panels + (ptrdiff_t)oc * kH * qpr * 4;
                const int32_t b = c->bias ? c->bias[oc] : 0;
                const int32_t biasEff = (int32_t)((uint32_t)b - (uint32_t)zeroEff * (uint32_t)c->weightSums[oc]);
                const float multiplier = c->multipliers[c->perTensor ? 0 : oc];
                uint8_t *out = (uint8_t *)c->output + ((ptrdiff_t)n * outC + oc) * outPlane;
                const uint8_t *outEnd = (const uint8_t *)c->output + (ptrdiff_t)c->batch * outC * outPlane;
                for (int oy = 0; oy < c->outHeight; oy++) {
                    const uint8_t *rowBase = plane + (ptrdiff_t)oy * c->strideHeight * Wp;
                    for (int ox = 0; ox < c->outWidth; ox += 16) {
                        const int count = c->outWidth - ox < 16 ? c->outWidth - ox : 16;
                        __m256i acc0 = _mm256_setzero_si256(), acc1 = acc0;
                        for (int fy = 0; fy < kH; fy++) {
                            const uint8_t *row = rowBase + (ptrdiff_t)fy * c->dilationHeight * Wp + (ptrdiff_t)ox * sW;
                            for (int q = 0; q < qpr; q++) {
                                const uint8_t *s = row + 4 * q * dW;
                                const __m256i mask = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)masks[q]));
                                const __m256i w = _mm256_set1_epi32(*(const int32_t *)(const void *)(taps + (fy * qpr + q) * 4));
                                __m256i p0 = _mm256_inserti128_si256(_mm256_castsi128_si256(_mm_loadu_si128((const __m128i *)s)),
                                                                     _mm_loadu_si128((const __m128i *)(s + 4 * sW)), 1);
                                __m256i p1 = _mm256_inserti128_si256(_mm256_castsi128_si256(_mm_loadu_si128((const __m128i *)(s + 8 * sW))),
                                                                     _mm_loadu_si128((const __m128i *)(s + 12 * sW)), 1);
                                acc0 = QW_DPBUSD(acc0, _mm256_shuffle_epi8(p0, mask), w);
                                acc1 = QW_DPBUSD(acc1, _mm256_shuffle_epi8(p1, mask), w);
                            }
                        }
                        __m256i valid0 = _mm256_set1_epi32(-1), valid1 = valid0;
                        if (count < 16) QW_CONCAT(QW_NAME, _validLanes)(count, &valid0, &valid1);
                        // Bytes past the row belong to later rows or channels, rewritten after this store: a
                        // whole 16-byte store is fine while it stays inside the output tensor.
                        uint8_t *destination = out + (ptrdiff_t)oy * c->outWidth + ox;
                        QW_CONCAT(QW_NAME, _store16)(&e, acc0, acc1, biasEff, multiplier, count < 16, valid0, valid1, count,
                                                     outEnd - destination >= 16, destination, &lowCount, &highCount);
                    }
                }
            }
        }
    }
    int32_t lanes[8];
    int64_t low = 0, high = 0;
    _mm256_storeu_si256((__m256i *)lanes, lowCount);
    for (int i = 0; i < 8; i++) low += lanes[i];
    _mm256_storeu_si256((__m256i *)lanes, highCount);
    for (int i = 0; i < 8; i++) high += lanes[i];
    c->lowCount = low;
    c->highCount = high;
}
