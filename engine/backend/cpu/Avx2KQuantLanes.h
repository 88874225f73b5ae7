#pragma once
// AVX2 prefill for K-quant weights (Q4_K, Q5_K, Q6_K) with one token in each 32-bit lane, the AVX2
// counterpart of avx512::kQuantLanes. A group of 8 tokens' activations is transposed once
// (transposeKQuads) so that lane t holds four codes of token t; a row's four codes broadcast from memory
// meet them in maddubs, and madd with the group's scale gives, per token, exactly the int32 that ggml's
// AVX2 kernel adds to its lane l for those four weights. ggml's eight lanes become eight registers per
// row and group, each holding that lane for 8 tokens, so the float steps and the mins run once per 8
// tokens in vertical order. Every output has kQuantDotScalar's bits. Callers check cpuHasAvx2() first.
//
// Measured in-process on one core (48 rows in 16-row tiles, 64 tokens, eight super-blocks, unpacking
// included, best of 200): 50-56 GMAC/s against avx2::kQuantDots' 23-34 (4 tokens per row call), 1.5-1.7x
// for Q4_K and Q6_K, 2.1-2.4x for Q5_K.

#include "backend/cpu/KQuantDots.h"
#include "core/DType.h"

#include <cstdint>

namespace lathe::avx2 {

inline constexpr int kQuadTokens = 8;
// Rows and groups per dot step: 2 x 4 lane registers, four groups' codes, a row's codes and scale, and a
// temporary fill the 16 registers.
inline constexpr int kQuadRows = 2;
inline constexpr int kQuadGroups = 4;
// The most rows per kQuantQuads call (a tile of CpuBackend's K-quant products).
inline constexpr int kMaxQuadRows = 16;
// A group with fewer tokens than this goes to kQuantDots. A group costs the same at any size, kQuantDots
// in proportion to its tokens: by the speed-ups below they break even at 8 / 2.4 to 8 / 1.5 tokens.
inline constexpr int kMinQuadTokens = 4;

// One activation super-block of a group of up to 8 tokens, token t in lane t (lanes past the group's
// last token are zero).
struct alignas(32) KQuadBlock {
    int32_t quads[kKSuperBlock / 4][kQuadTokens]; // codes 4q .. 4q + 3 as four int8
    int32_t groupPairs[4][kQuadTokens]; // Q4_K / Q5_K: group sums 2k, 2k + 1 (group j: bsums 2j + 2j + 1)
    int32_t bsumPairs[8][kQuadTokens];  // Q6_K: bsums 2l and 2l + 1
    float d[kQuadTokens];
};

// The weight side of one super-block of one row, decoded once per tile.
struct KQuadRowScales {
    float d = 0, dmin = 0;       // dmin: Q4_K / Q5_K
    int16_t halfScales[16] = {}; // the scale of codes 16h .. 16h + 15
    int16_t mins[8] = {};        // Q4_K / Q5_K: the eight groups' mins
    int16_t offsets[16] = {};    // Q6_K: -32 times each group's scale (the codes' offset)
};

// nTokens (1..8) tokens' superBlocks activation blocks, token t's at x + t * xStride, into
// out[0 .. superBlocks).
void transposeKQuads(const KActivationBlock* x, int64_t xStride, int nTokens, int64_t superBlocks,
                     KQuadBlock* out);

// nRows weight rows (superBlocks super-blocks of a K-quant type, rowStride bytes apart) as unsigned codes,
// super-block major (super-block i of row r at codes + (i * nRows + r) * 256), and their scales:
// scales[r * superBlocks + i].
void unpackKQuadRows(DType weightType, const uint8_t* first, uint64_t rowStride, int nRows,
                     int64_t superBlocks, uint8_t* codes, KQuadRowScales* scales);

// nRows (1..kMaxQuadRows) rows from unpackKQuadRows against nTokens (1..32) tokens in groups of 8, group
// g's blocks at xT + g * superBlocks: out[t * outStride + r] = kQuantDotScalar(weightType, row r, token t).
void kQuantQuads(DType weightType, const uint8_t* codes, const KQuadRowScales* scales, int nRows,
                 const KQuadBlock* xT, int nTokens, int64_t superBlocks, float* out, int64_t outStride);

} // namespace lathe::avx2
