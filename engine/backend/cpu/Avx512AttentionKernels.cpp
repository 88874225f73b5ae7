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

// The largest lane of v (which holds no NaN).
inline float largestLane(__m256 v) {
    __m128 x = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    x = _mm_max_ps(x, _mm_movehl_ps(x, x));
    x = _mm_max_ss(x, _mm_movehdup_ps(x));
    return _mm_cvtss_f32(x);
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
        maxScores[g] = largestLane(largest[g]);
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

} // namespace

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
