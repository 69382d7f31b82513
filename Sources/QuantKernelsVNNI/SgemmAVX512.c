// Float GEMM on AVX-512F, chosen at run time by QuantKernels' GemmKernel for one depth block
// (k ≤ 256): bit-identical to the portable 6x16 kernel (each output is fma(a, b, acc) from +0 over
// p = 0 … k−1 in order, then · alpha, + row bias, + column bias, clamp — the same operations).
#include "QuantKernelsVNNI.h"

#if defined(__x86_64__)
#include <immintrin.h>

#pragma clang fp contract(off)

int qw_sgemm_avx512_supported(void) {
    static int cached = -1;
    if (cached < 0) {
        __builtin_cpu_init();
        cached = __builtin_cpu_supports("avx512f") ? 1 : 0;
    }
    return cached;
}

#define QW_SG __attribute__((target("avx2,fma,avx512f"), always_inline)) static inline

/// The epilogue of one row of 16 lanes (lanes outside `mask` are neither read nor written).
QW_SG void qw_sg_store(const qw_sgemm *g, __m512 v, int row, int column, __mmask16 mask) {
    if (g->alpha != 1.0f) v = _mm512_mul_ps(v, _mm512_set1_ps(g->alpha));
    if (g->rowBias) v = _mm512_add_ps(v, _mm512_set1_ps(g->rowBias[row]));
    if (g->columnBias) v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(mask, g->columnBias + column));
    if (g->clamp) {
        // value < lower ? lower : (value > upper ? upper : value): NaN passes through.
        const __m512 lower = _mm512_set1_ps(g->lower), upper = _mm512_set1_ps(g->upper);
        const __mmask16 below = _mm512_cmp_ps_mask(v, lower, _CMP_LT_OQ);
        const __mmask16 above = _mm512_cmp_ps_mask(v, upper, _CMP_GT_OQ);
        v = _mm512_mask_blend_ps(below, _mm512_mask_blend_ps(above, v, upper), lower);
    }
    _mm512_mask_storeu_ps(g->c + (long)row * g->ldc + column, mask, v);
}

__attribute__((target("avx2,fma,avx512f"))) void qw_sgemm_avx512(const qw_sgemm *g) {
    const int m = g->m, n = g->n, k = g->k;
    float *panel = g->scratch;
    for (int row0 = 0; row0 < m; row0 += 8) {
        const int rows = m - row0 < 8 ? m - row0 : 8;
        // Pack 8 rows of a depth-major (panel[p·8 + r]), zero rows past m.
        for (int p = 0; p < k; p++) {
            for (int r = 0; r < 8; r++) {
                panel[p * 8 + r] = r < rows ? g->a[(long)(row0 + r) * g->aRowStride + (long)p * g->aColStride] : 0.0f;
            }
        }
        for (int column = 0; column < n; column += 32) {
            const int columns = n - column < 32 ? n - column : 32;
            const __mmask16 mask0 = columns >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << columns) - 1u);
            const __mmask16 mask1 = columns >= 32 ? (__mmask16)0xFFFF : columns > 16 ? (__mmask16)((1u << (columns - 16)) - 1u) : 0;
            __m512 c00 = _mm512_setzero_ps(), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00, c30 = c00, c31 = c00;
            __m512 c40 = c00, c41 = c00, c50 = c00, c51 = c00, c60 = c00, c61 = c00, c70 = c00, c71 = c00;
            const float *b = g->b + column;
            const float *a = panel;
            for (int p = 0; p < k; p++, b += g->bRowStride, a += 8) {
                const __m512 b0 = _mm512_maskz_loadu_ps(mask0, b), b1 = _mm512_maskz_loadu_ps(mask1, b + 16);
                __m512 av = _mm512_set1_ps(a[0]);
                c00 = _mm512_fmadd_ps(av, b0, c00); c01 = _mm512_fmadd_ps(av, b1, c01);
                av = _mm512_set1_ps(a[1]);
                c10 = _mm512_fmadd_ps(av, b0, c10); c11 = _mm512_fmadd_ps(av, b1, c11);
                av = _mm512_set1_ps(a[2]);
                c20 = _mm512_fmadd_ps(av, b0, c20); c21 = _mm512_fmadd_ps(av, b1, c21);
                av = _mm512_set1_ps(a[3]);
                c30 = _mm512_fmadd_ps(av, b0, c30); c31 = _mm512_fmadd_ps(av, b1, c31);
                av = _mm512_set1_ps(a[4]);
                c40 = _mm512_fmadd_ps(av, b0, c40); c41 = _mm512_fmadd_ps(av, b1, c41);
                av = _mm512_set1_ps(a[5]);
                c50 = _mm512_fmadd_ps(av, b0, c50); c51 = _mm512_fmadd_ps(av, b1, c51);
                av = _mm512_set1_ps(a[6]);
                c60 = _mm512_fmadd_ps(av, b0, c60); c61 = _mm512_fmadd_ps(av, b1, c61);
                av = _mm512_set1_ps(a[7]);
                c70 = _mm512_fmadd_ps(av, b0, c70); c71 = _mm512_fmadd_ps(av, b1, c71);
            }
            const __m512 lo[8] = { c00, c10, c20, c30, c40, c50, c60, c70 };
            const __m512 hi[8] = { c01, c11, c21, c31, c41, c51, c61, c71 };
            for (int r = 0; r < rows; r++) {
                qw_sg_store(g, lo[r], row0 + r, column, mask0);
                if (mask1) qw_sg_store(g, hi[r], row0 + r, column + 16, mask1);
            }
        }
    }
}

#else

int qw_sgemm_avx512_supported(void) { return 0; }
void qw_sgemm_avx512(const qw_sgemm *g) { (void)g; __builtin_trap(); }

#endif
