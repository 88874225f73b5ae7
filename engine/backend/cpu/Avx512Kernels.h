#pragma once
// AVX-512 (F, BW, VL, VNNI) versions of the CPU backend's matmul kernels (prefill tiles, integer decode),
// for processors where cpuHasAvx512() (CpuFeatures.h) holds. Each is tested bit for bit against a scalar
// statement of its order (TestAvx512Kernels):
//
// - F16 weights: llamafile's tinyBLAS<16, __m512> tile of 4 rows x 6 tokens. Each output is a fused
//   sum in 16 lanes over 16-element steps, reduced as GCC's _mm512_reduce_add_ps (ggml::hsum16). This
//   is a different order from the AVX2 tile (8 lanes), as it is in llama.cpp: which one runs depends on
//   the processor, in both programs.
// - Q4_0 / Q4_1 / Q8_0 weights: tiles of 4 rows x 8 tokens with VNNI dot products, two tokens per
//   512-bit register (llamafile's tinyBLAS_Q0_AVX runs 4 x 4 in 256-bit registers; llama.cpp has no
//   tile for Q4_1). Every lane keeps the AVX2 kernels' arithmetic: a VNNI dot gives the same int32
//   lanes as maddubs + madd, and the scale products and fused steps are the same, so the outputs equal
//   quantizedDotScalar's bit for bit; the gain is half the instructions per block pair. Decode runs
//   four rows at a time, two per 512-bit register, on the same terms.

#include "backend/cpu/ActivationQuant.h"
#include "core/DType.h"

#include <cstdint>

namespace lathe::avx512 {

// F16 rows (nRows of n elements, n a multiple of 16) against nTokens activation rows x + t * xStride,
// each already rounded to fp16 and held as floats (what ggml multiplies: it converts the activations to
// fp16 first; widening them once here saves a conversion per tile step). out[t * outStride + r] =
// ggml::hsum16 over lanes l of the fused sum, in order, of rows[r][i] * x_t[i] over i % 16 == l.
// widened: room for nRows x n floats, 64-byte aligned, or null. Given room, rows of at most
// kWidenedRowsMax elements run against 12 tokens or more are widened to float there once, rather than at
// every step of every token tile: the same values, so the same bits. (SmolLM2's 1536 x 576 F16 matrix
// against 144 tokens, one thread, interleaved in one process: 2.65 -> 2.13 ms; 128 x 8192: 4.8 -> 5.3 ms,
// so long rows keep the conversion in the loop.)
constexpr int64_t kWidenedRowsMax = 4096;
void f16DotsRun(const void* const* rows, int nRows, const float* x, int64_t xStride, int nTokens, int64_t n,
                float* out, int64_t outStride, float* widened);

// out[i] = x[i] rounded to fp16 (nearest even) and widened back to float.
void roundThroughFp16(const float* x, float* out, int64_t n);

// The integer formats with kernels here: Q4_0, Q4_1, Q5_0 and Q8_0.
bool hasIntegerKernels(DType weightType);

// avx2::quantizedDotsRows (decode: nRows consecutive rows, rowStride bytes apart, against one activation
// row) for a format of hasIntegerKernels: out[r] = quantizedDotScalar(type, row r, x, nBlocks), the same
// bits, two rows per 512-bit register.
void quantizedDotsRows(DType weightType, const uint8_t* first, uint64_t rowStride, int64_t nRows,
                       const ActivationBlock* x, int64_t nBlocks, float* out);

// avx2::quantizedDots4Rows for a format of hasIntegerKernels and nTokens of 1..8: four rows against
// nTokens activation rows, out[t * outStride + r] = quantizedDotScalar(type, rows[r], xs + t * xStride,
// nBlocks), the same bits.
void quantizedDots4Rows(DType weightType, const uint8_t* const* rows, const ActivationBlock* xs,
                        int64_t xStride, int nTokens, int64_t nBlocks, float* out, int64_t outStride);

} // namespace lathe::avx512
