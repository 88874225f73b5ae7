#include "backend/cpu/Avx512KQuantLanes.h"

#include "core/Error.h"

#if defined(__x86_64__)

#include <algorithm>
#include <cstring>
#include <immintrin.h>

// clang-format off: the target pragma must come after the system headers, never before.
#include "backend/cpu/Avx512TargetBegin.inc"
// clang-format on

namespace lathe::avx512 {
namespace {

#include "backend/cpu/X86BlockLoads.inc"

constexpr int kPairs = kKSuperBlock / 2;

// The int32 at p (two int16), broadcast to every lane (a load: vpbroadcastd from memory).
inline __m512i broadcastPair(const int16_t* p) {
    int32_t pair;
    std::memcpy(&pair, p, sizeof pair);
    return _mm512_set1_epi32(pair);
}

inline __m512i loadLanes(const int32_t* p) {
    return _mm512_load_si512(p);
}

// The accumulator at p before super-block i: zero at the first (as the reference's accumulators start),
// which spares zeroing them all in memory first (a memset of up to 48 KiB per call, 1.7% of a
// Llama-3.2-1B-shaped Q4_K_M prefill).
inline __m512 accumulator(const float* p, int64_t i) {
    return i == 0 ? _mm512_setzero_ps() : _mm512_load_ps(p);
}

using RowAccumulators = KLaneAccumulators<kLaneTokens>;

// Super-block i of R rows (of the nRows at rows16, super-block major) against G groups (x[g]: group g's
// block i; their accumulators rowAcc[g * kMaxLaneRows + r]), one of ggml's lanes at a time: lane l is
// the pairs 16c + 2l and 16c + 2l + 1 of the eight chunks c, so R * G lane registers are live, and
// each pair of codes loaded serves G or R dots.
template <DType kType, int R, int G>
void superBlockStep(const int16_t* rows16, int nRows, const KRowScales* scales, const KLaneBlock* const* x,
                    int64_t i, int64_t superBlocks, RowAccumulators* rowAcc) {
    const int16_t* w = rows16 + i * nRows * kKSuperBlock; // pair p of row r: w + r * 256 + 2p
    __m512 d[R][G];
    for (int g = 0; g < G; ++g) {
        const __m512 dx = _mm512_load_ps(x[g]->d);
        for (int r = 0; r < R; ++r)
            d[r][g] = _mm512_mul_ps(dx, _mm512_set1_ps(scales[r * superBlocks + i].d));
    }
    for (int l = 0; l < 8; ++l) {
        __m512i sums[R][G];
        for (int r = 0; r < R; ++r)
            for (int g = 0; g < G; ++g)
                if constexpr (kType == DType::Q6_K) // the codes' +32: -32 * scale * bsums, exact in int32
                    sums[r][g] =
                        _mm512_dpwssd_epi32(_mm512_setzero_si512(), loadLanes(x[g]->bsumPairs[l]),
                                            broadcastPair(scales[r * superBlocks + i].offsets16 + 2 * l));
                else
                    sums[r][g] = _mm512_setzero_si512();
#pragma GCC unroll 16
        for (int k = 0; k < 16; ++k) { // chunk k / 2, pair k % 2 of its lane l
            const int p = 16 * (k / 2) + 2 * l + k % 2;
            __m512i y[G];
            for (int g = 0; g < G; ++g)
                y[g] = loadLanes(x[g]->pairs[p]);
            for (int r = 0; r < R; ++r) {
                const __m512i pair = broadcastPair(w + r * kKSuperBlock + 2 * p);
                for (int g = 0; g < G; ++g)
                    sums[r][g] = _mm512_dpwssd_epi32(sums[r][g], y[g], pair);
            }
        }
        for (int r = 0; r < R; ++r)
            for (int g = 0; g < G; ++g) {
                float* acc = rowAcc[g * kMaxLaneRows + r].acc[l];
                _mm512_store_ps(
                    acc, _mm512_fmadd_ps(d[r][g], _mm512_cvtepi32_ps(sums[r][g]), accumulator(acc, i)));
            }
    }
    if constexpr (kType != DType::Q6_K)
        for (int r = 0; r < R; ++r) {
            const KRowScales& s = scales[r * superBlocks + i];
            for (int g = 0; g < G; ++g) {
                RowAccumulators& a = rowAcc[g * kMaxLaneRows + r];
                // ggml: -d_x * dmin_w times each pair of groups' integer min term (Q5_K: their sum).
                const __m512 dmin = _mm512_mul_ps(_mm512_load_ps(x[g]->d), _mm512_set1_ps(-s.dmin));
                __m512i minSum = _mm512_setzero_si512();
                for (int k = 0; k < 4; ++k) {
                    const __m512i pair =
                        _mm512_dpwssd_epi32(_mm512_setzero_si512(), loadLanes(x[g]->groupPairs[k]),
                                            broadcastPair(s.mins16 + 2 * k));
                    if constexpr (kType == DType::Q4_K)
                        _mm512_store_ps(a.mins[k], _mm512_fmadd_ps(dmin, _mm512_cvtepi32_ps(pair),
                                                                   accumulator(a.mins[k], i)));
                    else
                        minSum = _mm512_add_epi32(minSum, pair);
                }
                if constexpr (kType == DType::Q5_K)
                    _mm512_store_ps(a.mins[0], _mm512_fmadd_ps(dmin, _mm512_cvtepi32_ps(minSum),
                                                               accumulator(a.mins[0], i)));
            }
        }
}

template <DType kType>
using StepFunction = void (*)(const int16_t*, int, const KRowScales*, const KLaneBlock* const*, int64_t,
                              int64_t, RowAccumulators*);

template <DType kType, int G> StepFunction<kType> stepOfRows(int rows) {
    switch (rows) {
    case 1:
        return superBlockStep<kType, 1, G>;
    case 2:
        return superBlockStep<kType, 2, G>;
    case 3:
        return superBlockStep<kType, 3, G>;
    default:
        return superBlockStep<kType, kLaneRows, G>;
    }
}

template <DType kType> StepFunction<kType> stepOf(int rows, int groups) {
    switch (groups) {
    case 1:
        return stepOfRows<kType, 1>(rows);
    case 2:
        return stepOfRows<kType, 2>(rows);
    case 3:
        return stepOfRows<kType, 3>(rows);
    default:
        return stepOfRows<kType, kLaneGroups>(rows);
    }
}

// Every super-block of nRows rows against nGroups groups, one super-block at a time for all of them (in
// steps of at most kLaneRows rows), so the groups' activations for it stay in L1 for every step.
template <DType kType>
void lanes(const int16_t* rows16, const KRowScales* scales, int nRows, const KLaneBlock* xT, int nGroups,
           int nTokens, int64_t superBlocks, float* out, int64_t outStride, const uint8_t* ahead,
           uint64_t aheadBytes) {
    constexpr uint64_t kLine = 64;
    const uint64_t linesPerBlock =
        (aheadBytes + kLine * uint64_t(superBlocks) - 1) / (kLine * uint64_t(superBlocks));
    static_assert(kLaneRows == 4 && kLaneGroups == 4, "stepOf dispatches 1 to 4 rows and groups");
    RowAccumulators rowAcc[kLaneGroups * kMaxLaneRows];
    const StepFunction<kType> full = stepOf<kType>(kLaneRows, nGroups);
    const StepFunction<kType> last = stepOf<kType>(nRows % kLaneRows, nGroups);
    for (int64_t i = 0; i < superBlocks; ++i) {
        for (uint64_t b = uint64_t(i) * linesPerBlock * kLine;
             b < std::min(aheadBytes, uint64_t(i + 1) * linesPerBlock * kLine); b += kLine)
            _mm_prefetch(reinterpret_cast<const char*>(ahead + b), _MM_HINT_T1);
        const KLaneBlock* x[kLaneGroups];
        for (int g = 0; g < nGroups; ++g)
            x[g] = xT + g * superBlocks + i;
        for (int r = 0; r < nRows; r += kLaneRows)
            (nRows - r >= kLaneRows ? full : last)(rows16 + r * kKSuperBlock, nRows, scales + r * superBlocks,
                                                   x, i, superBlocks, rowAcc + r);
    }
    for (int g = 0; g < nGroups; ++g)
        writeLaneTotals<kType, kMaxLaneRows>(rowAcc + g * kMaxLaneRows, nRows,
                                             std::min(kLaneTokens, nTokens - g * kLaneTokens),
                                             out + g * kLaneTokens * outStride, outStride);
}

} // namespace

void transposeKActivations(const KActivationBlock* x, int64_t xStride, int nTokens, int64_t superBlocks,
                           KLaneBlock* out) {
    if (nTokens < 1 || nTokens > kLaneTokens)
        fail(ErrorCategory::Internal, "a group of K-quant lanes is 1 to {} tokens, not {}", kLaneTokens,
             nTokens);
    for (int64_t i = 0; i < superBlocks; ++i) {
        KLaneBlock& block = out[i];
        std::memset(&block, 0, sizeof block);
        for (int t = 0; t < nTokens; ++t) {
            const KActivationBlock& a = x[t * xStride + i];
            alignas(64) int32_t wide[kPairs];
            for (int c = 0; c < kKSuperBlock / 32; ++c)
                _mm512_store_si512(wide + 16 * c, _mm512_cvtepi8_epi16(_mm256_loadu_si256(
                                                      reinterpret_cast<const __m256i*>(a.qs + 32 * c))));
            for (int p = 0; p < kPairs; ++p)
                block.pairs[p][t] = wide[p];
            for (int k = 0; k < 4; ++k) {
                const int16_t g0 = int16_t(a.bsums[4 * k] + a.bsums[4 * k + 1]);
                const int16_t g1 = int16_t(a.bsums[4 * k + 2] + a.bsums[4 * k + 3]);
                block.groupPairs[k][t] = int32_t(uint32_t(uint16_t(g0)) | uint32_t(uint16_t(g1)) << 16);
            }
            for (int l = 0; l < 8; ++l)
                block.bsumPairs[l][t] = int32_t(uint32_t(uint16_t(a.bsums[2 * l])) |
                                                uint32_t(uint16_t(a.bsums[2 * l + 1])) << 16);
            block.d[t] = a.d;
        }
    }
}

void kQuantLanes(DType type, const int16_t* rows16, const KRowScales* scales, int nRows, const KLaneBlock* xT,
                 int nTokens, int64_t superBlocks, float* out, int64_t outStride, const uint8_t* ahead,
                 uint64_t aheadBytes) {
    if (nRows < 1 || nRows > kMaxLaneRows)
        fail(ErrorCategory::Internal, "kQuantLanes takes 1 to {} rows, not {}", kMaxLaneRows, nRows);
    if (nTokens < 1 || nTokens > kLaneGroups * kLaneTokens)
        fail(ErrorCategory::Internal, "kQuantLanes takes 1 to {} tokens, not {}", kLaneGroups * kLaneTokens,
             nTokens);
    const int nGroups = (nTokens + kLaneTokens - 1) / kLaneTokens;
    switch (type) {
    case DType::Q4_K:
        return lanes<DType::Q4_K>(rows16, scales, nRows, xT, nGroups, nTokens, superBlocks, out, outStride,
                                  ahead, aheadBytes);
    case DType::Q5_K:
        return lanes<DType::Q5_K>(rows16, scales, nRows, xT, nGroups, nTokens, superBlocks, out, outStride,
                                  ahead, aheadBytes);
    case DType::Q6_K:
        return lanes<DType::Q6_K>(rows16, scales, nRows, xT, nGroups, nTokens, superBlocks, out, outStride,
                                  ahead, aheadBytes);
    default:
        fail(ErrorCategory::Internal, "no K-quant lanes kernel for {}", dtypeName(type));
    }
}

} // namespace lathe::avx512

#include "backend/cpu/Avx512TargetEnd.inc"

#else // not x86-64: never called (cpuHasAvx512() is false), defined so the engine links.

namespace lathe::avx512 {

void transposeKActivations(const KActivationBlock*, int64_t, int, int64_t, KLaneBlock*) {
    fail(ErrorCategory::Internal, "AVX-512 kernels called on a machine without x86-64");
}
void kQuantLanes(DType, const int16_t*, const KRowScales*, int, const KLaneBlock*, int, int64_t, float*,
                 int64_t, const uint8_t*, uint64_t) {
    fail(ErrorCategory::Internal, "AVX-512 kernels called on a machine without x86-64");
}

} // namespace lathe::avx512

#endif
