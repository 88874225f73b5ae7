#pragma once
// AVX2 kernels of the K-quant integer dots (KQuantDots.h): ggml's AVX2 lanes, the same bits as
// kQuantDotScalar. Callers check cpuHasAvx2() (CpuFeatures.h) first.

#include "backend/cpu/KQuantDots.h"
#include "core/DType.h"

#include <cstdint>

namespace lathe::avx2 {

// One weight row (superBlocks super-blocks of a K-quant type) against 1-4 tokens' activations, token t
// at x + t * xStride: out[t]. The row's codes are unpacked once for all the tokens.
void kQuantDots(DType weightType, const uint8_t* weightRow, const KActivationBlock* x, int64_t superBlocks,
                int nTokens, int64_t xStride, float* out);

// quantizeActivationsK (KQuantDots.h) with AVX2: the same operations on eight elements at a time, so
// the same bits, NaN and infinity included.
void quantizeActivationsK(const float* x, int64_t n, KActivationBlock* out);

} // namespace lathe::avx2
