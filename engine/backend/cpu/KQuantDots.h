#pragma once
// llama.cpp's CPU matmul for the K-quant weights (Q4_K, Q5_K, Q6_K: super-blocks of 256): each activation
// row is quantized to block_q8_K (one float scale per 256, int8 codes, and the sums of each 16 codes),
// and every weight super-block meets it in integer dot products, straight from the stored bytes. Before,
// these formats were decoded to float rows for every product (a SmolLM2 Q4_K_M decode spent 56% of its
// time in that decoding).
//
// The arithmetic is that of ggml's AVX2 kernels (ggml_vec_dot_q{4,5,6}_K_q8_K), which llama.cpp runs on
// any x86 processor with AVX2, AVX-512 included: eight int32 lanes, lane l holding, for each 32 weights,
// the scaled integer sum of elements 4l..4l+3; one fused multiply-add per super-block and lane by the
// product of the two scales; the weights' offsets (the mins of Q4_K / Q5_K, the -32 of Q6_K) taken from
// the activation sums. The scalar reference below walks those lanes one at a time.

#include "core/DType.h"

#include <cstdint>

namespace lathe {

inline constexpr int kKSuperBlock = 256;

// block_q8_K: x[j] ~ d * qs[j]; bsums[i] = the sum of qs[16i .. 16i + 15].
struct KActivationBlock {
    float d;
    int8_t qs[kKSuperBlock];
    int16_t bsums[kKSuperBlock / 16];
};

// True for the weight formats with an integer dot against KActivationBlock (Q4_K, Q5_K, Q6_K).
bool hasKQuantDot(DType weightType);

// x: n floats (n a multiple of 256) -> n / 256 blocks, as ggml's quantize_row_q8_K (the same on every
// x86 processor): the element of largest magnitude maps to -127, iscale = -127 / that element, codes
// rounded to nearest (ties to even) and capped at 127, d = 1 / iscale.
// Runs the AVX2 version (the same bits) where the processor has it.
void quantizeActivationsK(const float* x, int64_t n, KActivationBlock* out);
void quantizeActivationsKScalar(const float* x, int64_t n, KActivationBlock* out);

// One stored weight row (superBlocks super-blocks of weightType) against quantized activations.
// Runs the AVX2 kernel where the processor has it.
float kQuantDot(DType weightType, const uint8_t* weightRow, const KActivationBlock* x, int64_t superBlocks);

// The scalar reference: the AVX2 kernel's lanes and operation order, one lane at a time (same bits).
float kQuantDotScalar(DType weightType, const uint8_t* weightRow, const KActivationBlock* x,
                      int64_t superBlocks);

// Stored sizes of one super-block.
inline constexpr int kQ4KBytes = 144; // half d, dmin; u8 scales[12]; u8 qs[128]
inline constexpr int kQ5KBytes = 176; // half d, dmin; u8 scales[12]; u8 qh[32]; u8 qs[128]
inline constexpr int kQ6KBytes = 210; // u8 ql[128]; u8 qh[64]; i8 scales[16]; half d

} // namespace lathe
