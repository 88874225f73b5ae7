#pragma once
// AVX2 + FMA + F16C versions of the CPU backend's hot loops, each giving the same bits as its scalar
// reference (ActivationQuant, GgmlFloatOrder, the float dot of CpuBackend): the scalar code already
// follows the lane layout and operation order of ggml's AVX2 kernels, so these are that layout in
// registers. Tests compare every function with its reference for bitwise equality.
//
// Run-time dispatch: callers check cpuHasAvx2() (CpuFeatures.h) and fall back to the scalar code.
// GCC's target attribute compiles only these functions for AVX2, so the binary runs on any x86-64.
// (Highway was considered: its portable ops do not promise ggml's exact instruction sequence, such as
// maddubs then madd into eight int32 lanes then one fma per block, which is what keeps Lathe's greedy
// tokens on llama.cpp's at near ties.)

#include "backend/cpu/ActivationQuant.h"
#include "core/DType.h"

#include <cstddef>
#include <cstdint>

namespace lathe::avx2 {

// quantizeActivations (ActivationQuant.h).
void quantizeActivations(const float* x, int64_t n, ActivationBlock* out);

// quantizeActivationsPerToken (ActivationQuant.h): one scale for the whole row.
void quantizeActivationsPerToken(const float* x, int64_t n, ActivationBlock* out);

// dequantizeRow(DType::LQ3_64, row, out, n) (io/Quants.h): n a multiple of 64. The same bits: a code
// times an fp16 scale is exact in float, so the fused c * d + m rounds as the reference's mul-then-add.
void dequantizeLq3(const uint8_t* row, float* out, int64_t n);

// out[r] = dotLanes8(F32, dequantized rows[r], x, n) for nRows (1..8) LQ3_64 rows of n elements (a
// multiple of 64) against one activation row, the weights decoded in registers: the decode matmul,
// which would otherwise write every row out and read it back.
void lq3Dots(const uint8_t* const* rows, int nRows, const float* x, int64_t n, float* out);

// Dot products of one weight row (nBlocks blocks of weightType: Q4_0, Q4_1, Q5_0, Q5_1, Q8_0) with
// nTokens (1..4) rows of quantized activations, x[t] = xs + t * xStride blocks; out[t] as
// quantizedDot(weightType, row, x[t], nBlocks) gives. The weight blocks are unpacked once for all tokens.
void quantizedDots(DType weightType, const uint8_t* row, const ActivationBlock* xs, int64_t xStride,
                   int nTokens, int64_t nBlocks, float* out);

// quantizedDots of nRows consecutive rows (rowStride bytes apart) with one activation row: the decode
// matmul, dispatched once for the rows instead of once per row. out[r] as quantizedDots gives.
void quantizedDotsRows(DType weightType, const uint8_t* first, uint64_t rowStride, int64_t nRows,
                       const ActivationBlock* x, int64_t nBlocks, float* out);

// quantizedDots for four rows of the same format at once (Q4_0, Q5_0, Q8_0: quantizedDots4RowsSupported)
// against nTokens (1..2) activation rows: out[t * outStride + r] = quantizedDots(type, rows[r], x[t]).
bool quantizedDots4RowsSupported(DType weightType);
void quantizedDots4Rows(DType weightType, const uint8_t* const* rows, const ActivationBlock* xs,
                        int64_t xStride, int nTokens, int64_t nBlocks, float* out, int64_t outStride);

// The same tile on 16-bit operands, for prefill, for those formats and Q4_1 (int16TileSupported):
// widenRows4 unpacks four rows once (block b of row r to out[4b + r], its scale as a float to
// scales[4b + r], and Q4_1's offset m to mins[4b + r]; mins may be null for the others) and
// widenActivations the activation blocks once; int16Dots4Rows then runs two madd per pair and block where
// quantizedDots4Rows runs two sign steps, maddubs and madd (and quantizedDots, for Q4_1, maddubs and
// madd). The integers and everything after them are the same, so the same bits. xw[t * xStride + b] is
// xs[t * xStride + b] widened; mins is widenRows4's, or null for the formats without an offset.
struct Int16Block {
    int16_t pairs[2][16]; // lane l of pairs[0]: elements 4l, 4l + 1; of pairs[1]: 4l + 2, 4l + 3
};
bool int16TileSupported(DType weightType);
void widenActivations(const ActivationBlock* x, int64_t n, Int16Block* out);
void widenRows4(DType weightType, const uint8_t* const* rows, int64_t nBlocks, Int16Block* out, float* scales,
                float* mins);
void int16Dots4Rows(const Int16Block* rows, const float* scales, const float* mins, const Int16Block* xw,
                    const ActivationBlock* xs, int64_t xStride, int nTokens, int64_t nBlocks, float* out,
                    int64_t outStride);

// sum w[i] * x[i] in eight lanes of fused multiply-adds, reduced as llamafile's hsum (ggml::hsum8:
// ((0+4)+(2+6))+((1+5)+(3+7))), the tail fused in order: the CPU backend's float dot, and for n % 8 == 0
// what llama.cpp's prefill tiles compute per output. w is F32, F16 or BF16 (n elements); x floats.
float dotLanes8(DType weightType, const void* w, const float* x, int64_t n);

// The same dot for nRows (1..8) weight rows x nTokens (1..3) activation rows at once, all pairs in
// registers (up to 4 x 3, or 8 x 1): out[t * outStride + r] = dotLanes8(type, rows[r], xs[t], n).
void floatDots(DType weightType, const void* const* rows, int nRows, const float* const* xs, int nTokens,
               int64_t n, float* out, int64_t outStride);

// floatDots over nTokens (any number) activation rows x + t * xStride, in tiles of three tokens (the
// last two or one): the prefill matmul's token block in one call. The same outputs. For F16 weights the
// caller passes the activations rounded through fp16 (roundThroughFp16), which is what ggml multiplies:
// its F16 matmul converts them to fp16 first, and widening them back is exact.
void floatDotsRun(DType weightType, const void* const* rows, int nRows, const float* x, int64_t xStride,
                  int nTokens, int64_t n, float* out, int64_t outStride);

// out[r] = ggml_vec_dot_f16(rows[r], x) for nRows F16 rows of n elements and one fp16 row x: four
// accumulators of eight lanes over 32-element steps, GGML_F32Cx8_REDUCE, the tail summed in double.
// The decode matmul of F16 weights, as llama.cpp's CPU backend computes it.
void f16DotsGgml(const void* const* rows, int nRows, const uint16_t* x, int64_t n, float* out);

// out[i] = x[i] rounded to fp16 (nearest even, as F16C and ggml_cpu_fp32_to_fp16 round).
void toFp16(const float* x, uint16_t* out, int64_t n);

// out[i] = row[i] as a float (exact) for an F16 or BF16 row of n elements: prefill widens a tile's rows
// once, so that its tiles run as F32 (the same order, so the same bits) without widening at every step.
void toFloat(DType rowType, const void* row, float* out, int64_t n);

// out[i] = x[i] rounded to fp16 (nearest even) and widened back to float: F16 prefill's activations, as
// floats so that the tiles' inner loop widens only the weights (13% faster than fp16 activations).
void roundThroughFp16(const float* x, float* out, int64_t n);

// ggml::dotF32: four fused accumulators of eight lanes over 32-element steps.
float dotF32Fused(const float* x, const float* y, int64_t n);

// dotsF32FusedTransposed for nQueries queries (any number) against the same keys: out[g * 8 + s] for
// g < nQueries, s < count. Each key is loaded once per pair of queries.
void queriesDotsF32FusedTransposed(const float* const* xs, int nQueries, const float* const* ys, int count,
                                   int64_t n, float* out);

// acc[i] = fma(v[i], p, acc[i]) for i < n.
void fmaInto(float* acc, const float* v, float p, int64_t n);

// out[g] = dotF32Fused(xs[g], y, n) for g < count: the queries of one KV head share y's loads.
void dotsF32Fused(const float* const* xs, int count, const float* y, int64_t n, float* out);

// out[s] = dotF32Fused(x, ys[s], n) for s < count (count <= 8): one query against eight keys, the
// eight final reductions done at once on a transposed block.
void dotsF32FusedTransposed(const float* x, const float* const* ys, int count, int64_t n, float* out);

// out[d] = ggml::hsum8 over lanes l of acc[l][d], where acc[l][d] is the fused sum, in order, of
// values[i][d] * p[i] over the i < count with i % 8 == l: attention's P.V for a multi-row batch whose
// cells are 0..count-1 (llamafile's sgemm lanes). n is a multiple of 8.
void weightedSumLanes8(const float* const* values, const float* p, int count, int64_t n, float* out);

// out[d] = ggml::reduce4x8 over accumulators a and lanes l of acc[a][l][d], where acc[a][l][d] is the
// fused sum, in order, of values[i][d] * p[i] over the i < count with (i / 8) % 4 == a and i % 8 == l:
// attention's P.V for one row (ggml_vec_dot_f32 over the cells 0..count-1). n is a multiple of 8.
void weightedSum4x8Lanes(const float* const* values, const float* p, int count, int64_t n, float* out);

// weightedSumLanes8 in dot-product form, for values stored transposed: out[t * outStride + r] = ggml::hsum8
// over lanes l of the fused sum, in order, of rows[r][i] * xs[t][i] over the i < n with i % 8 == l. Equal
// to weightedSumLanes8 with values[i][r] = rows[r][i] and p = xs[t]; reads nothing past n. Any nRows and
// nTokens (tiles of 4 rows x 3 tokens in registers).
void cellLaneDots(const float* const* rows, int nRows, const float* const* xs, int nTokens, int64_t n,
                  float* out, int64_t outStride);

// fmaInto(accs[g], v, ps[g], n) for g < count, v loaded once.
void fmaIntoMany(float* const* accs, const float* v, const float* ps, int count, int64_t n);

// Rope of adjacent pairs (RopeStyle::Interleaved): pair i of head is (head[2i], head[2i + 1]), rotated by
// cosSin[2i], cosSin[2i + 1] as ggml::rotatePair does (the same bits), for i < nDims / 2.
void ropeAdjacentPairs(float* head, const float* cosSin, int nDims);

// ggml's softmax of one row of cells 0..n-1 after the scores, for n rounded down to a multiple of 8:
// x[i] = ggml::expf(x[i] - maxScore) in place, and the sum as ggml forms it: each group of eight cells
// summed as ggml::hsum8 and added in order to a double. Returns that sum.
double expAndSumInEights(float* x, int64_t n, float maxScore);

// out[i] = ggml::silu(gate[i]) * up[i] for i < n rounded down to a multiple of 8 (the caller does the
// tail as ggml does, through libm).
void siluMul(const float* gate, const float* up, float* out, int64_t n);

// out[i] = ggml::expf(in[i]) for i < n rounded down to a multiple of 8.
void expf8(const float* in, float* out, int64_t n);

} // namespace lathe::avx2
