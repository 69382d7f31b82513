// 16-pixel vectors of the AVX512-VNNI variant: one zmm register. Included by ConvVNNI.c before
// ConvVNNIBody.h, with QW_NAME and QW_TARGET defined. Not a standalone header.
#define F(name) QW_CONCAT(QW_NAME, name)
#define QW_INLINE __attribute__((target(QW_TARGET), always_inline)) static inline
#define QW_WIDE 1   // 32 vector registers: 8-row tiles

typedef __m512i F(_v16);
typedef __mmask16 F(_mask16);

QW_INLINE F(_v16) F(_set1)(int32_t x) { return _mm512_set1_epi32(x); }
QW_INLINE F(_v16) F(_load64)(const uint8_t *p) { return _mm512_loadu_si512((const void *)p); }
QW_INLINE F(_v16) F(_dp)(F(_v16) acc, F(_v16) x, __m512i w) { return _mm512_dpbusd_epi32(acc, x, w); }
typedef __m512i F(_w);
QW_INLINE F(_w) F(_broadcastQuad)(const int8_t *p) { return _mm512_set1_epi32(*(const int32_t *)(const void *)p); }
QW_INLINE F(_mask16) F(_validLanes)(int count) { return (__mmask16)((1u << count) - 1u); }
QW_INLINE F(_mask16) F(_allLanes)(void) { return (__mmask16)0xFFFF; }

typedef struct {
    __m512 lowThreshold, highThreshold, lowerBound, upperBound;
    __m512i offset;
    int countLow, countHigh, outputSigned, track;
} F(_epilogue);

QW_INLINE F(_epilogue) F(_makeEpilogue)(const qw_vnni_conv *c) {
    F(_epilogue) e;
    e.lowThreshold = _mm512_set1_ps((float)(c->qmin - c->zeroPoint) + 12582912.0f);
    e.highThreshold = _mm512_set1_ps((float)(c->qmax - c->zeroPoint) + 12582912.0f);
    e.lowerBound = _mm512_set1_ps((float)(c->lower - c->zeroPoint) + 12582912.0f);
    e.upperBound = _mm512_set1_ps((float)(c->upper - c->zeroPoint) + 12582912.0f);
    e.offset = _mm512_set1_epi32(0x4B400000 - c->zeroPoint);
    e.countLow = c->countLow;
    e.countHigh = c->countHigh;
    e.outputSigned = c->outputSigned;
    e.track = 0;
    return e;
}

/// Per-lane counts below qmin / above qmax; when tracking (the first pass, ConvVNNIBody.h), the
/// lanes' smallest / largest shifted value instead, as float bits.
typedef struct { __m512i low, high; } F(_tally);
QW_INLINE F(_tally) F(_makeTally)(int track) {
    F(_tally) t = { _mm512_setzero_si512(), _mm512_setzero_si512() };
    if (track) {
        t.low = _mm512_castps_si512(_mm512_set1_ps(__builtin_inff()));
        t.high = _mm512_castps_si512(_mm512_set1_ps(-__builtin_inff()));
    }
    return t;
}
/// Whether a tracked extreme lay below the low / above the high threshold (a counted side).
QW_INLINE int F(_crossed)(const F(_epilogue) *e, F(_tally) t) {
    int crossed = 0;
    if (e->countLow) crossed |= _mm512_cmp_ps_mask(_mm512_castsi512_ps(t.low), e->lowThreshold, _CMP_LT_OQ) != 0;
    if (e->countHigh) crossed |= _mm512_cmp_ps_mask(_mm512_castsi512_ps(t.high), e->highThreshold, _CMP_GT_OQ) != 0;
    return crossed;
}
QW_INLINE void F(_reduceTally)(F(_tally) t, int64_t *low, int64_t *high) {
    *low = _mm512_reduce_add_epi32(t.low);
    *high = _mm512_reduce_add_epi32(t.high);
}

/// As the 256-bit variant's: requantize, count the `valid` lanes, store (masked unless `wholeStore`).
QW_INLINE void F(_store16)(const F(_epilogue) *e, F(_v16) acc, float multiplier, int masked, F(_mask16) valid,
                           int count, int wholeStore, uint8_t *destination, F(_tally) *tally) {
    const __m512 magic = _mm512_set1_ps(12582912.0f);
    // Float(acc)·m, then + 1.5·2^23 (two roundings, as the scalar rule: no fused multiply-add).
    __m512 t = _mm512_add_ps(_mm512_mul_ps(_mm512_cvtepi32_ps(acc), _mm512_set1_ps(multiplier)), magic);
    const __m512i one = _mm512_set1_epi32(1);
    if (e->track) {
        // One vminps / vmaxps per counted side instead of a compare and a masked add.
        if (e->countLow) {
            const __m512 m = _mm512_castsi512_ps(tally->low);
            tally->low = _mm512_castps_si512(masked ? _mm512_mask_min_ps(m, valid, m, t) : _mm512_min_ps(m, t));
        }
        if (e->countHigh) {
            const __m512 m = _mm512_castsi512_ps(tally->high);
            tally->high = _mm512_castps_si512(masked ? _mm512_mask_max_ps(m, valid, m, t) : _mm512_max_ps(m, t));
        }
    } else {
        if (e->countLow) {
            __mmask16 k = _mm512_cmp_ps_mask(t, e->lowThreshold, _CMP_LT_OQ);
            if (masked) k &= valid;
            tally->low = _mm512_mask_add_epi32(tally->low, k, tally->low, one);
        }
        if (e->countHigh) {
            __mmask16 k = _mm512_cmp_ps_mask(t, e->highThreshold, _CMP_GT_OQ);
            if (masked) k &= valid;
            tally->high = _mm512_mask_add_epi32(tally->high, k, tally->high, one);
        }
    }
    t = _mm512_min_ps(_mm512_max_ps(t, e->lowerBound), e->upperBound);
    __m512i v = _mm512_sub_epi32(_mm512_castps_si512(t), e->offset);
    // In range [lower, upper] ⊂ the output type's: the saturating narrowings are exact.
    __m128i bytes = e->outputSigned ? _mm512_cvtsepi32_epi8(v) : _mm512_cvtusepi32_epi8(v);
    if (count == 16 || wholeStore) {
        _mm_storeu_si128((__m128i *)destination, bytes);
    } else {
        _mm_mask_storeu_epi8(destination, (__mmask16)((1u << count) - 1u), bytes);
    }
}

typedef struct { __m512i perm, mask; } F(_gather);
QW_INLINE F(_gather) F(_makeGather)(int sW, const uint8_t mask[16]) {
    // 128-bit lane j (pixels 4j … 4j+3) starts j·sW dwords on (sW ≤ 4: within the 64-byte load).
    F(_gather) g = { _mm512_setr_epi32(0, 1, 2, 3, sW, sW + 1, sW + 2, sW + 3,
                                       2 * sW, 2 * sW + 1, 2 * sW + 2, 2 * sW + 3, 3 * sW, 3 * sW + 1, 3 * sW + 2, 3 * sW + 3),
                     _mm512_broadcast_i32x4(_mm_loadu_si128((const __m128i *)mask)) };
    return g;
}
/// Tap quads of 16 output pixels from a padded plane row at `s` (reads s … s + 63).
QW_INLINE F(_v16) F(_gather16)(const uint8_t *s, int sW, const F(_gather) *g) {
    (void)sW;
    return _mm512_shuffle_epi8(_mm512_permutexvar_epi32(g->perm, _mm512_loadu_si512((const void *)s)), g->mask);
}
