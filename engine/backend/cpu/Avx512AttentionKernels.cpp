#include "backend/cpu/Avx512AttentionKernels.h"

#include "core/DType.h"
#include "core/Error.h"

#if defined(__x86_64__)

#include <algorithm>
#include <cmath>
#include <cstring>
#include <immintrin.h>

// clang-format off: the target pragma must come after the system headers, never before.
#include "backend/cpu/Avx512TargetBegin.inc"
// clang-format on

namespace lathe::avx512 {
namespace {

#include "backend/cpu/X86BlockLoads.inc"

// Lanes 0..7 plus lanes 8..15.
inline __m256 halvesAdded(__m512 v) {
    const __m256 high = _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1));
    return _mm256_add_ps(_mm512_castps512_ps256(v), high);
}

// kQueries queries of kSteps * 32 floats, held in registers, against the keys eight at a time. Each dot is
// avx2::dotF32Fused's: four accumulators of eight lanes over 32-float steps, the first step a fused
// multiply-add onto zero. Here accumulators 0|1 share one 16-lane register and 2|3 another, so one add
// and one add of halves give (0 + 2) + (1 + 3); reduceEightDots then finishes eight dots at once.
template <int kQueries, int kSteps>
void scoresOfQueries(const float* const* queries, const float* const* keys, int nKeys, float scale,
                     float* scores, int64_t scoresStride, float* maxScores) {
    __m512 q[kQueries][2 * kSteps];
    for (int g = 0; g < kQueries; ++g)
        for (int j = 0; j < 2 * kSteps; ++j)
            q[g][j] = _mm512_loadu_ps(queries[g] + 16 * j);
    const __m512 zero = _mm512_setzero_ps();
    const __m256 scaleV = _mm256_set1_ps(scale);
    __m256 largest[kQueries];
    for (int g = 0; g < kQueries; ++g)
        largest[g] = _mm256_set1_ps(-INFINITY);
    for (int i0 = 0; i0 < nKeys; i0 += 8) {
        const int count = std::min(8, nKeys - i0);
        __m256 reduced[kQueries][8];
        for (int s = 0; s < 8; ++s) {
            const float* key = keys[i0 + (s < count ? s : 0)]; // past the end: computed, never stored
            __m512 low[kQueries], high[kQueries];
            for (int step = 0; step < kSteps; ++step) {
                const __m512 k0 = _mm512_loadu_ps(key + 32 * step);
                const __m512 k1 = _mm512_loadu_ps(key + 32 * step + 16);
                for (int g = 0; g < kQueries; ++g) {
                    low[g] = _mm512_fmadd_ps(q[g][2 * step], k0, step == 0 ? zero : low[g]);
                    high[g] = _mm512_fmadd_ps(q[g][2 * step + 1], k1, step == 0 ? zero : high[g]);
                }
            }
            for (int g = 0; g < kQueries; ++g)
                reduced[g][s] = halvesAdded(_mm512_add_ps(low[g], high[g]));
        }
        const __mmask8 valid = __mmask8((1u << count) - 1);
        for (int g = 0; g < kQueries; ++g) {
            const __m256 scaled = _mm256_mul_ps(reduceEightDots(reduced[g]), scaleV);
            _mm256_mask_storeu_ps(scores + g * scoresStride + i0, valid, scaled);
            // max(scaled, largest) keeps largest where scaled is NaN, as std::max(largest, scaled) does.
            largest[g] = _mm256_mask_max_ps(largest[g], valid, scaled, largest[g]);
        }
    }
    for (int g = 0; g < kQueries; ++g)
        maxScores[g] = maxLane(largest[g]); // largest holds no NaN: the masked max keeps NaN scores out
}

template <int kQueries>
void scoresOfQueries(const float* const* queries, const float* const* keys, int nKeys, int64_t n, float scale,
                     float* scores, int64_t scoresStride, float* maxScores) {
    switch (n) {
    case 32:
        return scoresOfQueries<kQueries, 1>(queries, keys, nKeys, scale, scores, scoresStride, maxScores);
    case 64:
        return scoresOfQueries<kQueries, 2>(queries, keys, nKeys, scale, scores, scoresStride, maxScores);
    case 96:
        return scoresOfQueries<kQueries, 3>(queries, keys, nKeys, scale, scores, scoresStride, maxScores);
    default:
        return scoresOfQueries<kQueries, 4>(queries, keys, nKeys, scale, scores, scoresStride, maxScores);
    }
}

// scoresOfQueries with sixteen keys in the lanes: for each of avx2::dotF32Fused's accumulators a (0..3)
// and lanes l (0..7), the fused sum over steps of query element 32 * step + 8a + l times that element of
// the sixteen keys; then per l (0 + 2) + (1 + 3), t_k = l_k + l_(k+4) and (t0 + t1) + (t2 + t3), as the
// reductions there. Every step a vertical operation.
template <int kQueries, int kSteps>
void scoresOfTransposedKeys(const float* const* queries, const float* keyBlocks, int nKeys, float scale,
                            float* scores, int64_t scoresStride, float* maxScores) {
    const __m512 zero = _mm512_setzero_ps();
    const __m512 scaleV = _mm512_set1_ps(scale);
    __m512 largest[kQueries];
    for (int g = 0; g < kQueries; ++g)
        largest[g] = _mm512_set1_ps(-INFINITY);
    for (int i0 = 0; i0 < nKeys; i0 += 16) {
        const float* keys = keyBlocks + int64_t(i0) * 32 * kSteps; // block i0 / 16 of 16 x n floats
        __m512 t[kQueries][4]; // lanes l = 0..3 reduced, then t_k once lane k + 4 is
        for (int l = 0; l < 8; ++l) {
            __m512 acc[kQueries][4];
            for (int step = 0; step < kSteps; ++step)
                for (int a = 0; a < 4; ++a) {
                    const int d = 32 * step + 8 * a + l;
                    const __m512 k = _mm512_load_ps(keys + d * 16);
                    for (int g = 0; g < kQueries; ++g)
                        acc[g][a] =
                            _mm512_fmadd_ps(_mm512_set1_ps(queries[g][d]), k, step == 0 ? zero : acc[g][a]);
                }
            for (int g = 0; g < kQueries; ++g) {
                const __m512 reduced =
                    _mm512_add_ps(_mm512_add_ps(acc[g][0], acc[g][2]), _mm512_add_ps(acc[g][1], acc[g][3]));
                t[g][l % 4] = l < 4 ? reduced : _mm512_add_ps(t[g][l % 4], reduced);
            }
        }
        const __mmask16 valid = nKeys - i0 >= 16 ? __mmask16(0xffff) : __mmask16((1u << (nKeys - i0)) - 1);
        for (int g = 0; g < kQueries; ++g) {
            const __m512 dots =
                _mm512_add_ps(_mm512_add_ps(t[g][0], t[g][1]), _mm512_add_ps(t[g][2], t[g][3]));
            const __m512 scaled = _mm512_mul_ps(dots, scaleV);
            _mm512_mask_storeu_ps(scores + g * scoresStride + i0, valid, scaled);
            // max(scaled, largest) keeps largest where scaled is NaN, as std::max(largest, scaled) does.
            largest[g] = _mm512_mask_max_ps(largest[g], valid, scaled, largest[g]);
        }
    }
    for (int g = 0; g < kQueries; ++g)
        maxScores[g] =
            maxLane(_mm256_max_ps(_mm512_castps512_ps256(largest[g]),
                                  _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(largest[g]), 1))));
}

template <int kQueries>
void scoresOfTransposedKeys(const float* const* queries, const float* keyBlocks, int nKeys, int64_t n,
                            float scale, float* scores, int64_t scoresStride, float* maxScores) {
    switch (n) {
    case 32:
        return scoresOfTransposedKeys<kQueries, 1>(queries, keyBlocks, nKeys, scale, scores, scoresStride,
                                                   maxScores);
    case 64:
        return scoresOfTransposedKeys<kQueries, 2>(queries, keyBlocks, nKeys, scale, scores, scoresStride,
                                                   maxScores);
    case 96:
        return scoresOfTransposedKeys<kQueries, 3>(queries, keyBlocks, nKeys, scale, scores, scoresStride,
                                                   maxScores);
    default:
        return scoresOfTransposedKeys<kQueries, 4>(queries, keyBlocks, nKeys, scale, scores, scoresStride,
                                                   maxScores);
    }
}

// Eight floats at p in both halves of a register (a load: vbroadcastf64x4).
inline __m512 bothHalves(const float* p) {
    return _mm512_castpd_ps(_mm512_broadcast_f64x4(_mm256_castps_pd(_mm256_loadu_ps(p))));
}

// The first `count` of eight floats at p (the rest zero) in both halves, reading nothing past them.
inline __m512 bothHalvesMasked(const float* p, __mmask8 count) {
    const __m256d v = _mm256_castps_pd(_mm256_maskz_loadu_ps(count, p));
    return _mm512_castpd_ps(_mm512_insertf64x4(_mm512_castpd256_pd512(v), v, 1));
}

// The lanes of the eight cells from i on that are below n.
inline __mmask8 cellsBelow(int64_t n, int64_t i) {
    return n - i >= 8 ? __mmask8(0xff) : n <= i ? __mmask8(0) : __mmask8((1u << (n - i)) - 1);
}

// ggml::hsum8 of each half of v, in its order ((4 + 0) + (6 + 2)) + ((5 + 1) + (7 + 3)): lane 0 holds the
// low half's, lane 8 the high half's.
inline void hsum8Halves(__m512 v, float& low, float& high) {
    const __m512 t = _mm512_add_ps(v, _mm512_shuffle_f32x4(v, v, 0xb1)); // l + (l ^ 4)
    const __m512 u = _mm512_add_ps(t, _mm512_permute_ps(t, 0x4e));       // t + (t ^ 2)
    const __m512 s = _mm512_add_ps(u, _mm512_permute_ps(u, 0xb1));       // u + (u ^ 1)
    low = _mm512_cvtss_f32(s);
    high = _mm512_cvtss_f32(
        _mm512_castps256_ps512(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(s), 1))));
}

// kPairs pairs of rows x kQueries queries, each register two rows' eight lanes for one query. Cells below
// every query's length run unmasked; in the groups after them each query adds only its own cells (a
// masked fused multiply-add leaves the other lanes as they are, as fma(0, 0, acc) = acc does in
// avx2::cellLaneDots), and the values are read under the longest length's mask.
template <int kPairs, int kQueries>
void pairedCellTile(const float* const* pairs, const float* const* xs, const int64_t* lengths,
                    float* const* outs) {
    __m512 acc[kPairs][kQueries];
    for (int p = 0; p < kPairs; ++p)
        for (int q = 0; q < kQueries; ++q)
            acc[p][q] = _mm512_setzero_ps();
    int64_t shortest = lengths[0], longest = lengths[0];
    for (int q = 1; q < kQueries; ++q) {
        shortest = std::min(shortest, lengths[q]);
        longest = std::max(longest, lengths[q]);
    }
    int64_t i = 0;
    for (; i + 8 <= shortest; i += 8) {
        __m512 x[kQueries];
        for (int q = 0; q < kQueries; ++q)
            x[q] = bothHalves(xs[q] + i);
        for (int p = 0; p < kPairs; ++p) {
            const __m512 w = _mm512_loadu_ps(pairs[p] + 2 * i);
            for (int q = 0; q < kQueries; ++q)
                acc[p][q] = _mm512_fmadd_ps(w, x[q], acc[p][q]);
        }
    }
    for (; i < longest; i += 8) {
        __m512 x[kQueries];
        __mmask16 lanes[kQueries];
        for (int q = 0; q < kQueries; ++q) {
            const __mmask8 mine = cellsBelow(lengths[q], i);
            x[q] = bothHalvesMasked(xs[q] + i, mine);
            lanes[q] = __mmask16(mine | mine << 8);
        }
        const __mmask8 any = cellsBelow(longest, i);
        for (int p = 0; p < kPairs; ++p) {
            const __m512 w = _mm512_maskz_loadu_ps(__mmask16(any | any << 8), pairs[p] + 2 * i);
            for (int q = 0; q < kQueries; ++q)
                acc[p][q] = _mm512_mask3_fmadd_ps(w, x[q], acc[p][q], lanes[q]);
        }
    }
    for (int p = 0; p < kPairs; ++p)
        for (int q = 0; q < kQueries; ++q)
            hsum8Halves(acc[p][q], outs[q][2 * p], outs[q][2 * p + 1]);
}

template <int kPairs>
void pairedCellQueries(const float* const* pairs, const float* const* xs, const int64_t* lengths,
                       int nQueries, float* const* outs) {
    switch (nQueries) {
    case 1:
        return pairedCellTile<kPairs, 1>(pairs, xs, lengths, outs);
    case 2:
        return pairedCellTile<kPairs, 2>(pairs, xs, lengths, outs);
    case 3:
        return pairedCellTile<kPairs, 3>(pairs, xs, lengths, outs);
    case 4:
        return pairedCellTile<kPairs, 4>(pairs, xs, lengths, outs);
    case 5:
        return pairedCellTile<kPairs, 5>(pairs, xs, lengths, outs);
    default:
        return pairedCellTile<kPairs, 6>(pairs, xs, lengths, outs);
    }
}

} // namespace

void pairedCellLaneDots(const float* const* pairs, int nPairs, const float* const* xs, const int64_t* lengths,
                        int nQueries, float* const* outs) {
    constexpr int kTileQueries = 6;
    for (int q0 = 0; q0 < nQueries; q0 += kTileQueries) {
        const int nq = std::min(kTileQueries, nQueries - q0);
        float* tileOuts[kTileQueries];
        for (int p0 = 0; p0 < nPairs;) {
            const int np = nPairs - p0 >= 4 ? 4 : 1;
            for (int q = 0; q < nq; ++q)
                tileOuts[q] = outs[q0 + q] + 2 * p0;
            if (np == 4)
                pairedCellQueries<4>(pairs + p0, xs + q0, lengths + q0, nq, tileOuts);
            else
                pairedCellQueries<1>(pairs + p0, xs + q0, lengths + q0, nq, tileOuts);
            p0 += np;
        }
    }
}

bool queryKeyScoresTakes(int64_t n) {
    return n > 0 && n % 32 == 0 && n <= 128;
}

void queryKeyScores(const float* const* queries, int nQueries, const float* const* keys, int nKeys, int64_t n,
                    float scale, float* scores, int64_t scoresStride, float* maxScores) {
    if (!queryKeyScoresTakes(n) || nQueries < 1 || nQueries > 4 || nKeys < 0)
        fail(ErrorCategory::Internal, "queryKeyScores: {} queries of {} floats", nQueries, n);
    switch (nQueries) {
    case 1:
        return scoresOfQueries<1>(queries, keys, nKeys, n, scale, scores, scoresStride, maxScores);
    case 2:
        return scoresOfQueries<2>(queries, keys, nKeys, n, scale, scores, scoresStride, maxScores);
    case 3:
        return scoresOfQueries<3>(queries, keys, nKeys, n, scale, scores, scoresStride, maxScores);
    default:
        return scoresOfQueries<4>(queries, keys, nKeys, n, scale, scores, scoresStride, maxScores);
    }
}

void transposedKeyScores(const float* const* queries, int nQueries, const float* keyBlocks, int nKeys,
                         int64_t n, float scale, float* scores, int64_t scoresStride, float* maxScores) {
    if (!queryKeyScoresTakes(n) || nQueries < 1 || nKeys < 0 ||
        reinterpret_cast<uintptr_t>(keyBlocks) % 64 != 0)
        fail(ErrorCategory::Internal, "transposedKeyScores: {} queries of {} floats", nQueries, n);
    // Three queries at a time: 12 reduced lanes, 12 accumulators and the loaded keys fit in registers.
    for (int g = 0; g < nQueries; g += 3) {
        const float* const* qs = queries + g;
        float* out = scores + g * scoresStride;
        switch (std::min(3, nQueries - g)) {
        case 1:
            scoresOfTransposedKeys<1>(qs, keyBlocks, nKeys, n, scale, out, scoresStride, maxScores + g);
            break;
        case 2:
            scoresOfTransposedKeys<2>(qs, keyBlocks, nKeys, n, scale, out, scoresStride, maxScores + g);
            break;
        default:
            scoresOfTransposedKeys<3>(qs, keyBlocks, nKeys, n, scale, out, scoresStride, maxScores + g);
        }
    }
}

} // namespace lathe::avx512

#include "backend/cpu/Avx512TargetEnd.inc"

#else // not x86-64: cpuHasAvx512() is false, so nothing calls these.

namespace lathe::avx512 {
bool queryKeyScoresTakes(int64_t) {
    return false;
}
void queryKeyScores(const float* const*, int, const float* const*, int, int64_t, float, float*, int64_t,
                    float*) {
    fail(ErrorCategory::Internal, "AVX-512 kernels called on a machine without x86-64");
}
} // namespace lathe::avx512

#endif
