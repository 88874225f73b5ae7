#pragma once
// AVX-512 versions of prefill attention's two products, for processors where cpuHasAvx512()
// (CpuFeatures.h) holds. They keep the order of the AVX2 kernels they stand in for (llama.cpp's order on
// an AVX2 build, which Lathe follows on every x86 processor), so their outputs are the same bits; the
// gain comes from 512-bit registers and from layouts made for them (keys in blocks of sixteen, one key per
// lane; values in pairs of rows). Tested bit for bit against the AVX2 kernels (TestAvx512Kernels).

#include <cstdint>

namespace lathe::avx512 {

// Whether queryKeyScores takes heads of n floats: n a multiple of 32, at most 128.
bool queryKeyScoresTakes(int64_t n);

// The scores of nQueries query heads (1..4) against nKeys keys of n floats (keys by pointer, as a paged
// cache holds them; 3 queries x 64 floats against 32-512 keys: 1.7-2.2x the AVX2 kernel with its scale
// and max loop, one thread, in one process):
// scores[g * scoresStride + i] = avx2::dotF32Fused(queries[g], keys[i], n) * scale, and maxScores[g] =
// the largest of row g (-inf if nKeys is 0; a NaN score does not count, as with std::max(max, score);
// between +0 and -0 it may pick either, which no softmax output can tell apart).
void queryKeyScores(const float* const* queries, int nQueries, const float* const* keys, int nKeys, int64_t n,
                    float scale, float* scores, int64_t scoresStride, float* maxScores);

// Attention's keys (n floats each) transposed in blocks of sixteen, for transposedKeyScores: element d of
// keys 16b..16b+15 side by side. The offset of key i's element d:
constexpr int64_t keyBlockOffset(int64_t d, int64_t i, int64_t n) {
    return i / 16 * 16 * n + d * 16 + i % 16;
}

// queryKeyScores on keys in the blocked layout above (64-byte aligned; read up to nKeys rounded up to
// 16). Sixteen keys lie in the lanes of a register, so each lane follows one dot's order (its accumulators
// and reductions as vertical adds) and no dot needs a reduction across lanes: the same bits as
// queryKeyScores, for the n it takes, any number of queries.
void transposedKeyScores(const float* const* queries, int nQueries, const float* keyBlocks, int nKeys,
                         int64_t n, float scale, float* scores, int64_t scoresStride, float* maxScores);

// Attention's values transposed in pairs of rows, for pairedCellLaneDots: a head's values, `stride`
// cells per row (a multiple of 8), keep rows (dimensions) 2p and 2p + 1 together, eight cells of each in
// turn: [row 2p, cells 8k..8k+7][row 2p + 1, cells 8k..8k+7] for k = 0, 1, ... The offset of row d's
// cell i:
constexpr int64_t pairedValueOffset(int64_t d, int64_t i, int64_t stride) {
    return d / 2 * 2 * stride + i / 8 * 16 + d % 2 * 8 + i % 8;
}

// avx2::cellLaneDots on values in the paired layout (pairs[p]: pair p's first float; 2 * nPairs rows), for
// queries of their own lengths: outs[q][r] = ggml::hsum8 over lanes l of the fused sum, in order, of row
// r's cell i times xs[q][i] over the i < lengths[q] with i % 8 == l. The same bits as cellLaneDots gives
// each query alone; reads nothing of xs[q] past lengths[q], nor values past the longest length rounded up
// to 8. Tiles of 4 pairs x 6 queries: up to six queries share each load of the values (the queries of two
// causal rows of one KV head, whose lengths differ by one).
void pairedCellLaneDots(const float* const* pairs, int nPairs, const float* const* xs, const int64_t* lengths,
                        int nQueries, float* const* outs);

} // namespace lathe::avx512
