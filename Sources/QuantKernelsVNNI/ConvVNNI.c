// Runtime-dispatched VNNI int8 convolution (see include/QuantKernelsVNNI.h). The arithmetic is the
// portable kernels' (QuantKernels/Conv2D+Int8.swift, rule in Requantize.swift), bit for bit:
// exact Int32 dot products (wrapping bias arithmetic), Float(acc)·m rounded half-to-even through
// the 1.5·2^23 addition, the same saturation counts.
#include "QuantKernelsVNNI.h"

#if defined(__x86_64__)
#include <immintrin.h>
#include <string.h>

// Keep a·b + c as two roundings (the rule), never contracted into a fused multiply-add.
#pragma clang fp contract(off)

typedef struct {
    size_t biasOffset, panelOffset, offsetsOffset, paddedOffset, total;
    int paddedHeight, paddedWidth;
} qw_vnni_layout;

static size_t round64(size_t x) { return (x + 63) / 64 * 64; }

static qw_vnni_layout qw_vnni_scratch_layout(const qw_vnni_conv *c) {
    qw_vnni_layout L = {0};
    const int depth = c->inChannels * c->kernelHeight * c->kernelWidth;
    const int quads = (depth + 3) / 4;
    L.biasOffset = 0;
    L.panelOffset = round64((size_t)(c->outChannels > 0 ? c->outChannels : 1) * 4);
    L.offsetsOffset = L.panelOffset + round64((size_t)quads * 64);
    L.paddedOffset = L.offsetsOffset + round64((size_t)quads * 16);
    L.total = L.paddedOffset;
    if (c->depthwise) {
        // Two zero-point-padded u8 planes (channels alternate); a 16-pixel gather reads up to 64 bytes
        // (one zmm, or two 32-byte loads sW·8 apart) from its row position.
        const int rounded = (c->outWidth + 15) / 16 * 16;
        L.paddedHeight = (c->outHeight - 1) * c->strideHeight + (c->kernelHeight - 1) * c->dilationHeight + 1;
        L.paddedWidth = rounded * c->strideWidth + c->quadsPerRow * 4 * c->dilationWidth + 64;  // gathers read 64 bytes
        if (L.paddedHeight < 0) L.paddedHeight = 0;
        L.total += 2 * round64((size_t)L.paddedHeight * (size_t)L.paddedWidth);   // two planes, alternating
    } else if (!c->pointwise) {
        const int rounded = (c->outWidth + 15) / 16 * 16;
        L.paddedHeight = (c->outHeight - 1) * c->strideHeight + (c->kernelHeight - 1) * c->dilationHeight + 1;
        L.paddedWidth = (rounded - 1) * c->strideWidth + (c->kernelWidth - 1) * c->dilationWidth + 1
            + (c->strideWidth == 2 ? 1 : 0);
        if (L.paddedHeight < 0) L.paddedHeight = 0;
        L.total += round64((size_t)c->inChannels * (size_t)L.paddedHeight * (size_t)L.paddedWidth);
    }
    L.total += 64;
    return L;
}

int qw_vnni_depthwise_supported(int strideWidth, int dilationWidth) {
    // The byte shuffle reaches 3·sW + 3·dW within a lane; the dword permute needs sW ≤ 4 (implied).
    return strideWidth >= 1 && dilationWidth >= 1 && 3 * strideWidth + 3 * dilationWidth <= 15;
}

size_t qw_vnni_conv_scratch_bytes(const qw_vnni_conv *c) { return qw_vnni_scratch_layout(c).total; }

int qw_vnni_support(void) {
    static int cached = -1;
    if (cached >= 0) return cached;
    __builtin_cpu_init();
    int flags = 0;
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("avxvnni")) flags |= QW_VNNI_AVX;
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw")
        && __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512vnni"))
        flags |= QW_VNNI_AVX512;
    cached = flags;
    return flags;
}

#define QW_CONCAT2(a, b) a##b
#define QW_CONCAT(a, b) QW_CONCAT2(a, b)

#define QW_NAME qw_conv_avxvnni
#define QW_TARGET "avx2,fma,avxvnni"
#include "Vector256.h"
#include "ConvVNNIBody.h"
#undef F
#undef QW_INLINE
#undef QW_NAME
#undef QW_TARGET

#define QW_NAME qw_conv_avx512vnni
#define QW_TARGET "avx2,fma,avx512f,avx512bw,avx512vl,avx512vnni"
#include "Vector512.h"
#include "ConvVNNIBody.h"
#undef QW_WIDE
#undef F
#undef QW_INLINE
#undef QW_NAME
#undef QW_TARGET

void qw_vnni_conv_run(int variant, qw_vnni_conv *c) {
    if (variant == QW_VNNI_AVX512) qw_conv_avx512vnni(c);
    else qw_conv_avxvnni(c);
}

#else

int qw_vnni_support(void) { return 0; }
int qw_vnni_depthwise_supported(int strideWidth, int dilationWidth) { (void)strideWidth; (void)dilationWidth; return 0; }
int qw_vnni_depthwise_supported(int strideWidth, int dilationWidth) {
    // The byte shuffle reaches 3·sW + 3·dW within a lane; the dword permute needs sW ≤ 4 (implied).
    return strideWidth >= 1 && dilationWidth >= 1 && 3 * strideWidth + 3 * dilationWidth <= 15;
}

size_t qw_vnni_conv_scratch_bytes(const qw_vnni_conv *c) { (void)c; return 0; }
void qw_vnni_conv_run(int variant, qw_vnni_conv *c) { (void)variant; (void)c; __builtin_trap(); }

#endif
