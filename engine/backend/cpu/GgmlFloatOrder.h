#pragma once
// Float kernels that give the same bits as llama.cpp's CPU backend (ggml, x86 AVX2 + FMA build): the
// order in which products are summed, where a fused multiply-add rounds once, and ggml's polynomial exp.
// Near ties between the top two logits, a different rounding anywhere flips the greedy token, so the
// default CPU path follows ggml exactly; the float reference path (CpuBackendOptions) does not use these.
//
// Everything here is scalar C++ with std::fma where ggml uses an FMA instruction; the file is compiled
// with -ffp-contract=off so the compiler adds no contractions of its own. Lane layouts are described
// per function: "lane l of accumulator a" is the value ggml keeps in element l of vector register a.

#include <cstdint>

namespace lathe::ggml {

// ggml_v_expf (AVX2 + FMA): exp by a degree-5 polynomial on the reduced argument; one lane, same bits.
float expf(float x);

// silu(x) = x / (1 + exp(-x)) with expf above (ggml_v_silu).
inline float silu(float x) {
    return x / (1.0f + ggml::expf(0.0f - x));
}

// ggml_vec_dot_f32 (AVX2): 4 accumulators of 8 lanes over steps of 32, then the tree reduction of
// GGML_F32x8_REDUCE; the n % 32 tail is added one product at a time.
float dotF32(const float* x, const float* y, int64_t n);

// Sum of the 8 lanes of an AVX register as ggml's softmax and llamafile's hsum do:
// (v0 + v4) + (v2 + v6) + ((v1 + v5) + (v3 + v7)), in that grouping.
float hsum8(const float* v);

// The sum of the 16 lanes of an AVX-512 register as llamafile's hsum(__m512) does (GCC's
// _mm512_reduce_add_ps): lane l + lane l + 8 for l < 8, then hsum8 of those eight.
float hsum16(const float* v);

// ggml's rope rotation of one pair as its compiler contracted it:
// x0' = fma(x0, c, -(x1 * s)), x1' = fma(x0, s, x1 * c).
void rotatePair(float& x0, float& x1, float c, float s);

// Reduction of GGML_F32x8_REDUCE for 4 accumulators of 8 lanes (acc[a][lane]).
float reduce4x8(const float (*acc)[8]);

} // namespace lathe::ggml
