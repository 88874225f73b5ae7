#pragma once
// AVX-512 versions of prefill attention's two products, for processors where cpuHasAvx512()
// (CpuFeatures.h) holds. They keep the order of the AVX2 kernels they stand in for (llama.cpp's order on
// an AVX2 build, which Lathe follows on every x86 processor), so their outputs are the same bits; the
// gain is half the instructions per step and the queries held in registers. Tested bit for bit against
// the AVX2 kernels and scalar statements of the order (TestAvx512Kernels).

#include <cstdint>

namespace lathe::avx512 {

// Whether queryKeyScores takes heads of n floats: n a multiple of 32, at most 128.
bool queryKeyScoresTakes(int64_t n);

// The scores of nQueries query heads (1..4) against nKeys keys of n floats:
// scores[g * scoresStride + i] = avx2::dotF32Fused(queries[g], keys[i], n) * scale, and maxScores[g] =
// the largest of row g (-inf if nKeys is 0; a NaN score does not count, as with std::max(max, score);
// between +0 and -0 it may pick either, which no softmax output can tell apart).
void queryKeyScores(const float* const* queries, int nQueries, const float* const* keys, int nKeys, int64_t n,
                    float scale, float* scores, int64_t scoresStride, float* maxScores);

} // namespace lathe::avx512
