// 16-pixel vectors of the AVX-VNNI variant: two ymm registers (pixels 0–7, 8–15). Included by
// ConvVNNI.c before ConvVNNIBody.h, with QW_NAME and QW_TARGET defined. Not a standalone header.
#define F(name) QW_CONCAT(QW_NAME, name)
#define QW_INLINE __attribute__((target(QW_TARGET), always_inline)) static inline

typedef struct { __m256i lo, hi; } F(_v16);
typedef struct { __m256i lo, hi; } F(_mask16);

QW_INLINE F(_v16) F(_set1)(int32_t x) { F(_v16) r = { _mm256_set1_epi32(x), _mm256_set1_epi32(x) }; return r; }
/// 64 bytes: 16 pixels' u8 quads.
QW_INLINE F(_v16) F(_load64)(const uint8_t *p) {
    F(_v16) r = { _mm256_loadu_si256((const __m256i *)p), _mm256_loadu_si256((const __m256i *)(p + 32)) };
    return r;
}
/// acc + Σ_4 u8(x)·s8(w), w one broadcast 4-byte quad.
QW_INLINE F(_v16) F(_dp)(F(_v16) acc, F(_v16) x, __m256i w) {
    acc.lo = _mm256_dpbusd_avx_epi32(acc.lo, x.lo, w);
    acc.hi = _mm256_dpbusd_avx_epi32(acc.hi, x.hi, w);
    return acc;
}
typedef __m256i F(_w);
QW_INLINE F(_w) F(_broadcastQuad)(const int8_t *p) { return _mm256_set1_epi32(*(const int32_t *)(const void *)p); }

/// Lanes < count (count < 16).
QW_INLINE F(_mask16) F(_validLanes)(int count) {
    const __m256i lanes = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    const __m256i limit = _mm256_set1_epi32(count);
    F(_mask16) m = { _mm256_cmpgt_epi32(limit, lanes), _mm256_cmpgt_epi32(limit, _mm256_add_epi32(lanes, _mm256_set1_epi32(8))) };
    return m;
}
QW_INLINE F(_mask16) F(_allLanes)(void) { F(_mask16) m = { _mm256_set1_epi32(-1), _mm256_set1_epi32(-1) }; return m; }

typedef struct {
    __m256 lowThreshold, highThreshold, lowerBound, upperBound;
    __m256i offset;
    int countLow, countHigh, outputSigned, track;
} F(_epilogue);

QW_INLINE F(_epilogue) F(_makeEpilogue)(const qw_vnni_conv *c) {
    F(_epilogue) e;
    e.lowThreshold = _mm256_set1_ps((float)(c->qmin - c->zeroPoint) + 12582912.0f);
    e.highThreshold = _mm256_set1_ps((float)(c->qmax - c->zeroPoint) + 12582912.0f);
    e.lowerBound = _mm256_set1_ps((float)(c->lower - c->zeroPoint) + 12582912.0f);
    e.upperBound = _mm256_set1_ps((float)(c->upper - c->zeroPoint) + 12582912.0f);
    e.offset = _mm256_set1_epi32(0x4B400000 - c->zeroPoint);
    e.countLow = c->countLow;
    e.countHigh = c->countHigh;
    e.outputSigned = c->outputSigned;
    e.track = 0;
    return e;
}

/// Per-lane saturation tallies (count per lane), reduced once per call; when tracking (the first
/// pass, ConvVNNIBody.h), the lanes' smallest / largest shifted value instead, as float bits.
typedef struct { __m256i low, high; } F(_tally);
QW_INLINE F(_tally) F(_makeTally)(int track) {
    F(_tally) t = { _mm256_setzero_si256(), _mm256_setzero_si256() };
    if (track) {
        t.low = _mm256_castps_si256(_mm256_set1_ps(__builtin_inff()));
        t.high = _mm256_castps_si256(_mm256_set1_ps(-__builtin_inff()));
    }
    return t;
}
/// Whether a tracked extreme lay below the low / above the high threshold (a counted side).
QW_INLINE int F(_crossed)(const F(_epilogue) *e, F(_tally) t) {
    int crossed = 0;
    if (e->countLow) crossed |= _mm256_movemask_ps(_mm256_cmp_ps(_mm256_castsi256_ps(t.low), e->lowThreshold, _CMP_LT_OQ)) != 0;
    if (e->countHigh) crossed |= _mm256_movemask_ps(_mm256_cmp_ps(_mm256_castsi256_ps(t.high), e->highThreshold, _CMP_GT_OQ)) != 0;
    return crossed;
}
QW_INLINE void F(_reduceTally)(F(_tally) t, int64_t *low, int64_t *high) {
    int32_t lanes[8];
    int64_t l = 0, h = 0;
    _mm256_storeu_si256((__m256i *)lanes, t.low);
    for (int i = 0; i < 8; i++) l += lanes[i];
    _mm256_storeu_si256((__m256i *)lanes, t.high);
    for (int i = 0; i < 8; i++) h += lanes[i];
    *low = l;
    *high = h;
}

/// Requantizes 16 accumulators (bias included) with `multiplier`, counts the lanes of `valid` (all
/// unless `masked`) and stores them: all 16 bytes when `wholeStore` (the caller knows the bytes past
/// `count` are rewritten later), else the first `count`.
QW_INLINE void F(_store16)(const F(_epilogue) *e, F(_v16) acc, float multiplier, int masked, F(_mask16) valid,
                           int count, int wholeStore, uint8_t *destination, F(_tally) *tally) {
    const __m256 magic = _mm256_set1_ps(12582912.0f);
    const __m256 m = _mm256_set1_ps(multiplier);
    // Float(acc)·m, then + 1.5·2^23 (two roundings, as the scalar rule: no fused multiply-add).
    __m256 t0 = _mm256_add_ps(_mm256_mul_ps(_mm256_cvtepi32_ps(acc.lo), m), magic);
    __m256 t1 = _mm256_add_ps(_mm256_mul_ps(_mm256_cvtepi32_ps(acc.hi), m), magic);
    if (e->track) {
        // One vminps / vmaxps per counted side and 8 lanes (plus one to join the halves) instead of
        // two compares and two adds; invalid lanes take the neutral value.
        if (e->countLow) {
            __m256 s0 = t0, s1 = t1;
            if (masked) {
                const __m256 inf = _mm256_set1_ps(__builtin_inff());
                s0 = _mm256_blendv_ps(inf, t0, _mm256_castsi256_ps(valid.lo));
                s1 = _mm256_blendv_ps(inf, t1, _mm256_castsi256_ps(valid.hi));
            }
            tally->low = _mm256_castps_si256(_mm256_min_ps(_mm256_castsi256_ps(tally->low), _mm256_min_ps(s0, s1)));
        }
        if (e->countHigh) {
            __m256 s0 = t0, s1 = t1;
            if (masked) {
                const __m256 ninf = _mm256_set1_ps(-__builtin_inff());
                s0 = _mm256_blendv_ps(ninf, t0, _mm256_castsi256_ps(valid.lo));
                s1 = _mm256_blendv_ps(ninf, t1, _mm256_castsi256_ps(valid.hi));
            }
            tally->high = _mm256_castps_si256(_mm256_max_ps(_mm256_castsi256_ps(tally->high), _mm256_max_ps(s0, s1)));
        }
    } else {
        if (e->countLow) {
            __m256i l0 = _mm256_castps_si256(_mm256_cmp_ps(t0, e->lowThreshold, _CMP_LT_OQ));
            __m256i l1 = _mm256_castps_si256(_mm256_cmp_ps(t1, e->lowThreshold, _CMP_LT_OQ));
            if (masked) { l0 = _mm256_and_si256(l0, valid.lo); l1 = _mm256_and_si256(l1, valid.hi); }
            tally->low = _mm256_sub_epi32(tally->low, _mm256_add_epi32(l0, l1));
        }
        if (e->countHigh) {
            __m256i h0 = _mm256_castps_si256(_mm256_cmp_ps(t0, e->highThreshold, _CMP_GT_OQ));
            __m256i h1 = _mm256_castps_si256(_mm256_cmp_ps(t1, e->highThreshold, _CMP_GT_OQ));
            if (masked) { h0 = _mm256_and_si256(h0, valid.lo); h1 = _mm256_and_si256(h1, valid.hi); }
            tally->high = _mm256_sub_epi32(tally->high, _mm256_add_epi32(h0, h1));
        }
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

/// Depthwise gather state: the dword permute (pixels 4–7 of 8 start sW dwords on) and byte shuffle.
typedef struct { __m256i perm, mask; } F(_gather);
QW_INLINE F(_gather) F(_makeGather)(int sW, const uint8_t mask[16]) {
    F(_gather) g = { _mm256_setr_epi32(0, 1, 2, 3, sW, sW + 1, sW + 2, sW + 3),
                     _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)mask)) };
    return g;
}
/// Tap quads of 16 output pixels from a padded plane row at `s` (reads s … s + 8·sW + 31).
QW_INLINE F(_v16) F(_gather16)(const uint8_t *s, int sW, const F(_gather) *g) {
    F(_v16) r;
    r.lo = _mm256_shuffle_epi8(_mm256_permutevar8x32_epi32(_mm256_loadu_si256((const __m256i *)s), g->perm), g->mask);
    r.hi = _mm256_shuffle_epi8(_mm256_permutevar8x32_epi32(_mm256_loadu_si256((const __m256i *)(s + 8 * sW)), g->perm), g->mask);
    return r;
}
