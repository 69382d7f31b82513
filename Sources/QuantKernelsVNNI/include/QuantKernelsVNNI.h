#ifndef QUANTKERNELS_VNNI_H
#define QUANTKERNELS_VNNI_H
// Optional x86-64 fast paths chosen at run time: the int8 convolution (QuantKernels' Conv2DInt8) with
// u8 x s8 dot products by vpdpbusd (AVX-VNNI on ymm, or AVX512-VNNI on zmm registers), and the float
// GEMM's one-depth-block case on AVX-512F. Everything else (packing of the weights, the choice of
// path, the portable kernels) stays in QuantKernels; this target only holds inner loops that Swift,
// built for x86-64-v3, cannot express. On other architectures it compiles to stubs reporting no support.
#include <stdint.h>
#include <stddef.h>

/// Bit flags of `qw_vnni_support()`.
enum {
    QW_VNNI_AVX = 1,       ///< AVX-VNNI (VEX vpdpbusd ymm): Alder Lake+, Zen 5.
    QW_VNNI_AVX512 = 2,    ///< AVX512-VNNI (+F, BW, VL; vpdpbusd zmm): Cascade/Ice Lake+, Zen 4+.
};

/// Which variants this CPU runs (0 when none, and always 0 off x86-64).
int qw_vnni_support(void);

/// One int8 convolution (groups == 1) or pointwise (1x1, stride 1, no padding) call.
typedef struct {
    // Geometry (NCHW input and output).
    int batch, inChannels, inHeight, inWidth;
    int outChannels, outHeight, outWidth;
    int kernelHeight, kernelWidth, strideHeight, strideWidth, dilationHeight, dilationWidth;
    int padTop, padLeft;
    int pointwise;            ///< 1x1, stride 1, no padding, out size == in size: channel rows are the reduction.
    int depthwise;            ///< groups == inC: output channel oc reads input channel oc / channelMultiplier.
    int channelMultiplier;    ///< outC / inC (depthwise).
    int quadsPerRow;          ///< Depthwise: ceil(kW / 4) tap quads per filter row.
    // Operands.
    const void *input;        ///< uint8 or int8 (inputSigned), [batch][inC][inH][inW].
    int inputSigned;
    int32_t inputZero;
    const int8_t *panels;     ///< [ceil(outC/4)][depthQuads][4 rows][4] s8 weights minus their zero points;
                              ///< depthwise: [outC][kH][quadsPerRow][4] taps (zero past kW).
    const int32_t *weightSums;///< [outC] Σ_k (w − wZero).
    int depthQuads;           ///< ceil(depth / 4), depth = inC·kH·kW.
    const int32_t *bias;      ///< [outC] or NULL.
    const float *multipliers; ///< [outC], or [1] when perTensor.
    int perTensor;
    // Requantization (see QuantKernels/Requantize.swift).
    int32_t zeroPoint, qmin, qmax, lower, upper;
    int countLow, countHigh;
    int twoPass;              ///< Count in two passes: extremes first, exact counts only if one crossed.
    int recounted;            ///< Out (twoPass): an extreme crossed, so the exact pass ran too.
    void *output;             ///< uint8 or int8 (outputSigned), [batch][outC][outH][outW].
    int outputSigned;
    void *scratch;            ///< qw_vnni_conv_scratch_bytes bytes, 64-byte aligned.
    int64_t lowCount, highCount; ///< Out: elements counted below qmin / above qmax.
} qw_vnni_conv;

/// Whether the depthwise kernel takes this geometry (its byte shuffles reach 3·sW + 3·dW ≤ 15).
int qw_vnni_depthwise_supported(int strideWidth, int dilationWidth);

/// Scratch bytes `qw_vnni_conv_run` needs for this geometry (fields up to padLeft and pointwise set).
size_t qw_vnni_conv_scratch_bytes(const qw_vnni_conv *c);

/// Runs the convolution with `variant` (one QW_VNNI_* flag that qw_vnni_support() reported).
void qw_vnni_conv_run(int variant, qw_vnni_conv *c);

/// Float GEMM (QuantKernels' GemmKernel, one depth block: k ≤ 256) on AVX-512F, 8 x 32 register tiles:
/// c[i][j] = clamp(alpha · Σ_p a[i][p]·b[p][j] (fused multiply-adds from 0, p in order) + rowBias[i]
/// + columnBias[j]) — the portable kernel's operations in its order, so the same bits.
typedef struct {
    int m, n, k;
    const float *a;            ///< a[i][p] at a[i·aRowStride + p·aColStride]
    long aRowStride, aColStride;
    const float *b;            ///< b[p][j] at b[p·bRowStride + j] (unit column stride)
    long bRowStride;
    float *c;                  ///< c[i][j] at c[i·ldc + j]
    long ldc;
    float alpha;
    const float *rowBias, *columnBias;   ///< or NULL
    int clamp;                 ///< apply [lower, upper] (NaN passes through)
    float lower, upper;
    float *scratch;            ///< 8·k floats (one packed 8-row panel of a)
} qw_sgemm;

/// Whether `qw_sgemm_avx512` runs on this CPU (AVX-512F).
int qw_sgemm_avx512_supported(void);
void qw_sgemm_avx512(const qw_sgemm *g);

#endif
