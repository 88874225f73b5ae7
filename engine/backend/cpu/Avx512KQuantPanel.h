#pragma once
// AVX-512 VNNI prefill for K-quant weights (Q4_K, Q5_K, Q6_K) as a panel product: a tile's weight rows
// are unpacked once into int16 (each code times its group's scale) and the activations widened once to
// int16, so the inner loop is one word dot product (vpdpwssd) per row, token and 32 weights, against
// maddubs + madd + add per 32 weights and token in kQuantDots, which unpacks each row again for every
// few tokens. Each chunk of 32 is stored permuted so that word-dot lane j holds elements 4j, 4j + 1 and
// lane j + 8 elements 4j + 2, 4j + 3: adding the two halves of a super-block's sums gives exactly the
// eight int32 lanes of ggml's AVX2 kernel, and the float steps after them are avx2::kQuantDots's, so
// every output has kQuantDotScalar's bits. Callers check cpuHasAvx512() first.

#include "backend/cpu/KQuantDots.h"
#include "core/DType.h"

#include <cstdint>

namespace lathe::avx512 {

// Rows per panel call (a tile's other rows take kQuantDots) and the most tokens per call (6 measured
// 4-24% faster than 4 on a Llama-3.2-1B-shaped Q4_K_M prefill).
inline constexpr int kPanelRows = 4;
inline constexpr int kPanelTokens = 6;

// count activation super-blocks as 256 int16 each, in panel order.
void widenKActivations(const KActivationBlock* x, int64_t count, int16_t* out);

// The weight side of one super-block's float steps for one row, decoded once per tile by unpackKRows
// rather than at every panel call (Llama-3.2-1B-shaped Q4_K_M pp128, five alternating pairs: 1.06x to
// 1.25x, median 1.16x).
struct KRowScales {
    float d = 0, dmin = 0;      // dmin: Q4_K / Q5_K
    int16_t mins16[8] = {};     // Q4_K / Q5_K: the eight groups' mins
    int16_t scales16[16] = {};  // Q6_K: the sixteen groups' scales
    int16_t offsets16[16] = {}; // Q6_K: -32 times each scale (the codes' offset, taken from the bsums)
};

// The layout of unpackKRows' output. Panel (kQuantPanel): row after row, out[(r * superBlocks + i) * 256
// ...], each chunk of 32 permuted so that its two halves fold into ggml's eight lanes. SuperBlockMajor
// (kQuantLanes, Avx512KQuantLanes.h): the stored order, super-block after super-block, out[(i * nRows + r)
// * 256 ...], so the rows a dot step reads at once are 512 bytes apart rather than a whole unpacked row
// (4-16 KiB, the same L1 set).
enum class KRowOrder { Panel, SuperBlockMajor };

// nRows weight rows (superBlocks super-blocks of a K-quant type, rowStride bytes apart) as codes times
// scales, 256 int16 per row and super-block in the given layout, and each super-block's scales:
// scales[r * superBlocks + i].
void unpackKRows(DType weightType, const uint8_t* first, uint64_t rowStride, int nRows, int64_t superBlocks,
                 int16_t* out, KRowScales* scales, KRowOrder order = KRowOrder::Panel);

// kPanelRows rows (rows16 and scales from unpackKRows) against nTokens (2, 4 or 6) tokens, token t's
// activations at x + t * xStride (x16 likewise, from widenKActivations):
// out[t * outStride + r] = kQuantDotScalar(weightType, row r, x + t * xStride, superBlocks).
void kQuantPanel(DType weightType, const int16_t* rows16, const KRowScales* scales, const KActivationBlock* x,
                 const int16_t* x16, int64_t xStride, int nTokens, int64_t superBlocks, float* out,
                 int64_t outStride);

} // namespace lathe::avx512
