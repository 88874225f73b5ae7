#pragma once
// llama.cpp's CPU matmul for 4/5/8-bit block weights: each activation row is quantized to 8-bit blocks
// of 32 (block_q8_0, or block_q8_1 with the block sum for weights that carry an offset) and multiplied
// by the weight blocks with integer dot products. Lathe does the same so that its logits follow
// llama.cpp's at near ties, and because it is the fast path: no float copy of the weights is made.
//
// Quantization follows ggml's x86 (AVX2) path: id = 127 / max|x|, round half to even, the scale stored
// as fp16 (here: a float holding that fp16 value).
//
// Per-token mode (ActivationQuantization::PerTokenInt8, SmoothQuant's W8A8 with dynamic per-token
// scales): one scale s = max|x| / 127 over the whole row, codes rint(x * 127 / max|x|) clamped to
// +-127, written into the same blocks (every block's d = s, kept in float: no fp16 rounding; its
// s = s * sum(qs)). The integer dots then compute d_w * s * sum(q_w * q_x) per block: with Q8_0 weights
// whose blocks all carry their row's scale, that is per-channel int8 weights times per-token int8
// activations.

#include "core/DType.h"

#include <cstdint>

namespace lathe {

struct ActivationBlock {
    float d;       // scale, fp16-rounded
    float s;       // fp16-rounded d * sum(qs) (used with Q4_1 / Q5_1 weights)
    int8_t qs[32]; // x[j] ~ d * qs[j]
};

inline constexpr int kActivationBlock = 32;

// True for the weight formats with an integer dot product here (Q4_0, Q4_1, Q5_0, Q5_1, Q8_0).
bool hasQuantizedDot(DType weightType);

// x: n floats (n a multiple of 32) -> n / 32 blocks. Runs the AVX2 kernel where the processor has it.
void quantizeActivations(const float* x, int64_t n, ActivationBlock* out);

// Per-token mode (above): x is one activation row of n floats (n a multiple of 32) -> n / 32 blocks.
// Runs the AVX2 kernel where the processor has it.
void quantizeActivationsPerToken(const float* x, int64_t n, ActivationBlock* out);

// Dot product of one stored weight row (nBlocks blocks of weightType) with quantized activations.
// Runs the AVX2 kernel where the processor has it.
float quantizedDot(DType weightType, const uint8_t* weightRow, const ActivationBlock* x, int64_t nBlocks);

// The scalar references of the three above: the same bits, one lane at a time (tests, other processors).
void quantizeActivationsScalar(const float* x, int64_t n, ActivationBlock* out);
void quantizeActivationsPerTokenScalar(const float* x, int64_t n, ActivationBlock* out);
float quantizedDotScalar(DType weightType, const uint8_t* weightRow, const ActivationBlock* x,
                         int64_t nBlocks);

} // namespace lathe
