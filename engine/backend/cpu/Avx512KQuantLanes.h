#pragma once
// AVX-512 VNNI prefill for K-quant weights (Q4_K, Q5_K, Q6_K) with one token in each 32-bit lane: a
// group of 16 tokens' activations is transposed once (transposeKActivations), so a word dot product
// (vpdpwssd) multiplies one pair of a weight row's scaled codes, broadcast from memory, by that pair of
// codes of all 16 tokens. ggml's eight int32 lanes (lane l: elements 4l..4l + 3 of each 32, times their
// group's scale) become eight registers per row, each holding that lane for 16 tokens, so a super-block
// needs no shuffle or fold before its float steps, and those run once per 16 tokens and lane in
// vertical order. Every output has kQuantDotScalar's bits. kQuantPanel (Avx512KQuantPanel.h) keeps the
// groups of fewer than kMinLaneTokens tokens. Callers check cpuHasAvx512() first.
//
// Measured on one core (48 rows in 16-row tiles, 64 tokens, eight super-blocks, unpacking included, the
// best of 200 runs): Q4_K about 100 GMAC/s against kQuantPanel's 56-60 (1.5-1.7x), Q5_K 2.2x, Q6_K
// 1.15-1.4x; the machine's word-dot peak is 175 (two vpdpwssd per cycle). Steps of 3 rows x 1 group ran
// at 47-65: their activations came from L2 at every step, and rows a whole unpacked row apart (4-16 KiB)
// shared one L1 set.

#include "backend/cpu/Avx512KQuantPanel.h"
#include "backend/cpu/KQuantDots.h"
#include "core/DType.h"

#include <cstdint>

namespace lathe::avx512 {

inline constexpr int kLaneTokens = 16;
// Rows and groups per dot step: 4 x 4 lane registers, four groups' pairs of codes and a row's pair fill 21
// of the 32 registers, and each load serves four dots.
inline constexpr int kLaneRows = 4;
inline constexpr int kLaneGroups = 4;
// The most rows per kQuantLanes call (a tile of CpuBackend's K-quant products).
inline constexpr int kMaxLaneRows = 16;
// A group with fewer tokens than this goes to kQuantPanel. A group costs the same at any size, the panel
// in proportion to its tokens: by the speed-ups above they break even at 16 / 2.2 to 16 / 1.15 tokens.
inline constexpr int kMinLaneTokens = 8;

// One activation super-block of a group of up to 16 tokens, token t in lane t (lanes past the group's
// last token are zero).
struct alignas(64) KLaneBlock {
    int32_t pairs[kKSuperBlock / 2][kLaneTokens]; // codes 2p and 2p + 1 as two int16, low word first
    int32_t groupPairs[4][kLaneTokens]; // Q4_K / Q5_K: group sums 2k, 2k + 1 (group j: bsums 2j + 2j + 1)
    int32_t bsumPairs[8][kLaneTokens];  // Q6_K: bsums 2l and 2l + 1
    float d[kLaneTokens];
};

// nTokens (1..16) tokens' superBlocks activation blocks, token t's at x + t * xStride, into
// out[0 .. superBlocks).
void transposeKActivations(const KActivationBlock* x, int64_t xStride, int nTokens, int64_t superBlocks,
                           KLaneBlock* out);

// nRows (1..kMaxLaneRows) rows (rows16 and scales from unpackKRows, KRowOrder::SuperBlockMajor) against
// nTokens (1..64) tokens in groups of 16, group g's blocks at xT + g * superBlocks (transposeKActivations):
// out[t * outStride + r] = kQuantDotScalar(weightType, row r, token t). The aheadBytes at ahead (the next
// tile's stored rows, or none) are fetched into L2 meanwhile, a share at each super-block.
void kQuantLanes(DType weightType, const int16_t* rows16, const KRowScales* scales, int nRows,
                 const KLaneBlock* xT, int nTokens, int64_t superBlocks, float* out, int64_t outStride,
                 const uint8_t* ahead = nullptr, uint64_t aheadBytes = 0);

} // namespace lathe::avx512
