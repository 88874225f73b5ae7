#pragma once
// AVX-512 (F, BW) kernels of the K-quant integer dots (KQuantDots.h) for prefill: two tokens per 512-bit
// register, each 256-bit half holding exactly the eight int32 lanes, scale products and fused steps that
// avx2::kQuantDots keeps for its token, so the same bits as kQuantDotScalar at half the instructions per
// token. Callers check cpuHasAvx512() (CpuFeatures.h) first.

#include "backend/cpu/KQuantDots.h"
#include "core/DType.h"

#include <cstdint>

namespace lathe::avx512 {

// One weight row (superBlocks super-blocks of a K-quant type) against 1-8 tokens' activations, token t
// at x + t * xStride: out[t]. The row's codes are unpacked once for all the tokens.
void kQuantDots(DType weightType, const uint8_t* weightRow, const KActivationBlock* x, int64_t superBlocks,
                int nTokens, int64_t xStride, float* out);

} // namespace lathe::avx512
