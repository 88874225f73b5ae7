#include "backend/cpu/Avx2KQuantLanes.h"

#include "core/Error.h"

#if defined(__x86_64__)

#include <algorithm>
#include <cstring>
#include <immintrin.h>

// clang-format off: the target pragma must come after the system headers, never before.
#include "backend/cpu/Avx2TargetBegin.inc"
// clang-format on

namespace lathe::avx2 {
namespace {

#include "backend/cpu/X86BlockLoads.inc"

constexpr int kQuads = kKSuperBlock / 4;

// The int32 at p, broadcast to every lane.
inline __m256i broadcast32(const void* p) {
    int32_t v;
    std::memcpy(&v, p, sizeof v);
    return _mm256_set1_epi32(v);
}

// An empty asm that takes v and gives it back in a register, as in Avx2KQuantKernels.cpp: without it GCC
// turns each lane's chain of adds into a tree and spills the products (64 stack stores per lane in
// superBlockStep<Q4_K, 2, 4>); the sums are integers, so the bits are the same.
inline void keepInRegister(__m256i& v) {
    asm("" : "+x"(v));
}

inline __m256i loadLanes(const int32_t* p) {
    return _mm256_load_si256(reinterpret_cast<const __m256i*>(p));
}

// The accumulator at p before super-block i: zero at the first (as the reference's accumulators start),
// which spares zeroing them all in memory first (a memset of up to 24 KiB per call here; the AVX-512
// kernel's 48 KiB took 1.7% of a Llama-3.2-1B-shaped Q4_K_M prefill).
inline __m256 accumulator(const float* p, int64_t i) {
    return i == 0 ? _mm256_setzero_ps() : _mm256_load_ps(p);
}

using RowAccumulators = KLaneAccumulators<kQuadTokens>;

// Super-block i of R rows (of the nRows at codes, super-block major) against G groups (x[g]: group g's
// block i; their accumulators rowAcc[g * kMaxQuadRows + r]), one of ggml's lanes at a time: lane l is
// the quads 8c + l of the eight chunks c (elements 32c + 4l .. 32c + 4l + 3), times the scale of their
// half of the chunk.
template <DType kType, int R, int G>
void superBlockStep(const uint8_t* codes, int nRows, const KQuadRowScales* scales, const KQuadBlock* const* x,
                    int64_t i, int64_t superBlocks, RowAccumulators* rowAcc) {
    const uint8_t* w = codes + i * nRows * kKSuperBlock; // quad q of row r: w + r * 256 + 4q
    const KQuadRowScales* s[R];
    __m256 d[R][G];
    for (int r = 0; r < R; ++r)
        s[r] = scales + r * superBlocks + i;
    for (int g = 0; g < G; ++g) {
        const __m256 dx = _mm256_load_ps(x[g]->d);
        for (int r = 0; r < R; ++r)
            d[r][g] = _mm256_mul_ps(dx, _mm256_set1_ps(s[r]->d));
    }
    for (int l = 0; l < 8; ++l) {
        __m256i sums[R][G];
        for (int r = 0; r < R; ++r)
            for (int g = 0; g < G; ++g)
                if constexpr (kType == DType::Q6_K) // the codes' +32: -32 * scale * bsums, exact in int32
                    sums[r][g] =
                        _mm256_madd_epi16(loadLanes(x[g]->bsumPairs[l]), broadcast32(s[r]->offsets + 2 * l));
                else
                    sums[r][g] = _mm256_setzero_si256();
#pragma GCC unroll 8
        for (int c = 0; c < 8; ++c) {
            const int q = 8 * c + l;
            __m256i y[G];
            for (int g = 0; g < G; ++g)
                y[g] = loadLanes(x[g]->quads[q]);
            for (int r = 0; r < R; ++r) {
                const __m256i quad = broadcast32(w + r * kKSuperBlock + 4 * q);
                const __m256i scale = _mm256_set1_epi16(s[r]->halfScales[2 * c + l / 4]);
                for (int g = 0; g < G; ++g) {
                    sums[r][g] = _mm256_add_epi32(sums[r][g],
                                                  _mm256_madd_epi16(_mm256_maddubs_epi16(quad, y[g]), scale));
                    keepInRegister(sums[r][g]);
                }
            }
        }
        for (int r = 0; r < R; ++r)
            for (int g = 0; g < G; ++g) {
                float* acc = rowAcc[g * kMaxQuadRows + r].acc[l];
                _mm256_store_ps(
                    acc, _mm256_fmadd_ps(d[r][g], _mm256_cvtepi32_ps(sums[r][g]), accumulator(acc, i)));
            }
    }
    if constexpr (kType != DType::Q6_K)
        for (int r = 0; r < R; ++r)
            for (int g = 0; g < G; ++g) {
                RowAccumulators& a = rowAcc[g * kMaxQuadRows + r];
                // ggml: -d_x * dmin_w times each pair of groups' integer min term (Q5_K: their sum).
                const __m256 dmin = _mm256_mul_ps(_mm256_load_ps(x[g]->d), _mm256_set1_ps(-s[r]->dmin));
                __m256i minSum = _mm256_setzero_si256();
                for (int k = 0; k < 4; ++k) {
                    const __m256i pair =
                        _mm256_madd_epi16(loadLanes(x[g]->groupPairs[k]), broadcast32(s[r]->mins + 2 * k));
                    if constexpr (kType == DType::Q4_K)
                        _mm256_store_ps(a.mins[k], _mm256_fmadd_ps(dmin, _mm256_cvtepi32_ps(pair),
                                                                   accumulator(a.mins[k], i)));
                    else
                        minSum = _mm256_add_epi32(minSum, pair);
                }
                if constexpr (kType == DType::Q5_K)
                    _mm256_store_ps(a.mins[0], _mm256_fmadd_ps(dmin, _mm256_cvtepi32_ps(minSum),
                                                               accumulator(a.mins[0], i)));
            }
}

template <DType kType>
using StepFunction = void (*)(const uint8_t*, int, const KQuadRowScales*, const KQuadBlock* const*, int64_t,
                              int64_t, RowAccumulators*);

template <DType kType, int R> StepFunction<kType> stepOfGroups(int groups) {
    switch (groups) {
    case 1:
        return superBlockStep<kType, R, 1>;
    case 2:
        return superBlockStep<kType, R, 2>;
    case 3:
        return superBlockStep<kType, R, 3>;
    default:
        return superBlockStep<kType, R, 4>;
    }
}

// Every super-block of nRows rows against nGroups groups, one super-block at a time for all of them (in
// steps of kQuadRows rows), so the groups' activations for it stay in L1 for every step.
template <DType kType>
void quads(const uint8_t* codes, const KQuadRowScales* scales, int nRows, const KQuadBlock* xT, int nGroups,
           int nTokens, int64_t superBlocks, float* out, int64_t outStride) {
    static_assert(kQuadRows == 2 && kQuadGroups == 4, "the steps dispatch 1 or 2 rows and 1 to 4 groups");
    RowAccumulators rowAcc[kQuadGroups * kMaxQuadRows];
    const StepFunction<kType> pair = stepOfGroups<kType, 2>(nGroups);
    const StepFunction<kType> single = stepOfGroups<kType, 1>(nGroups);
    for (int64_t i = 0; i < superBlocks; ++i) {
        const KQuadBlock* x[kQuadGroups];
        for (int g = 0; g < nGroups; ++g)
            x[g] = xT + g * superBlocks + i;
        for (int r = 0; r < nRows; r += kQuadRows)
            (nRows - r >= kQuadRows ? pair : single)(codes + r * kKSuperBlock, nRows,
                                                     scales + r * superBlocks, x, i, superBlocks, rowAcc + r);
    }
    for (int g = 0; g < nGroups; ++g)
        writeLaneTotals<kType, kMaxQuadRows>(rowAcc + g * kMaxQuadRows, nRows,
                                             std::min(kQuadTokens, nTokens - g * kQuadTokens),
                                             out + g * kQuadTokens * outStride, outStride);
}

// 32 unsigned codes stored at out.
inline void storeCodes(__m256i codes, uint8_t* out) {
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(out), codes);
}

} // namespace

void transposeKQuads(const KActivationBlock* x, int64_t xStride, int nTokens, int64_t superBlocks,
                     KQuadBlock* out) {
    if (nTokens < 1 || nTokens > kQuadTokens)
        fail(ErrorCategory::Internal, "a group of K-quant quads is 1 to {} tokens, not {}", kQuadTokens,
             nTokens);
    for (int64_t i = 0; i < superBlocks; ++i) {
        KQuadBlock& block = out[i];
        std::memset(&block, 0, sizeof block);
        for (int t = 0; t < nTokens; ++t) {
            const KActivationBlock& a = x[t * xStride + i];
            for (int q = 0; q < kQuads; ++q)
                std::memcpy(&block.quads[q][t], a.qs + 4 * q, 4);
            for (int k = 0; k < 4; ++k) {
                const int16_t pair[2] = {int16_t(a.bsums[4 * k] + a.bsums[4 * k + 1]),
                                         int16_t(a.bsums[4 * k + 2] + a.bsums[4 * k + 3])};
                std::memcpy(&block.groupPairs[k][t], pair, 4);
            }
            for (int l = 0; l < 8; ++l)
                std::memcpy(&block.bsumPairs[l][t], a.bsums + 2 * l, 4);
            block.d[t] = a.d;
        }
    }
}

void unpackKQuadRows(DType type, const uint8_t* first, uint64_t rowStride, int nRows, int64_t superBlocks,
                     uint8_t* codes, KQuadRowScales* scales) {
    if (!hasKQuantDot(type)) fail(ErrorCategory::Internal, "no K-quant quads for {}", dtypeName(type));
    const int64_t bytes = type == DType::Q4_K ? kQ4KBytes : type == DType::Q5_K ? kQ5KBytes : kQ6KBytes;
    for (int r = 0; r < nRows; ++r)
        for (int64_t i = 0; i < superBlocks; ++i) {
            const uint8_t* block = first + uint64_t(r) * rowStride + uint64_t(i * bytes);
            uint8_t* dst = codes + (i * nRows + r) * kKSuperBlock;
            KQuadRowScales& s = scales[r * superBlocks + i];
            if (type == DType::Q6_K) {
                for (int j = 0; j < 2; ++j) {
                    __m256i chunk[4];
                    q6kChunkCodes(block, j, chunk);
                    for (int m = 0; m < 4; ++m)
                        storeCodes(chunk[m], dst + 32 * (4 * j + m));
                }
                const int8_t* groupScales = reinterpret_cast<const int8_t*>(block + 192);
                s.d = half(block + 208);
                for (int h = 0; h < 16; ++h) {
                    s.halfScales[h] = groupScales[h];
                    s.offsets[h] = int16_t(-32 * groupScales[h]);
                }
                continue;
            }
            uint8_t scale[8], min[8];
            unpackScalesAndMins(block + 4, scale, min);
            const bool fifthBit = type == DType::Q5_K;
            const uint8_t* qs = block + (fifthBit ? 48 : 16);
            const __m256i qh = fifthBit ? _mm256_loadu_si256(reinterpret_cast<const __m256i*>(block + 16))
                                        : _mm256_setzero_si256();
            for (int j = 0; j < 4; ++j) {
                __m256i lo, hi;
                if (fifthBit)
                    q45kChunkCodes<true>(qs, qh, j, lo, hi);
                else
                    q45kChunkCodes<false>(qs, qh, j, lo, hi);
                storeCodes(lo, dst + 64 * j);
                storeCodes(hi, dst + 64 * j + 32);
            }
            s.d = half(block);
            s.dmin = half(block + 2);
            for (int c = 0; c < 8; ++c) {
                s.halfScales[2 * c] = s.halfScales[2 * c + 1] = scale[c];
                s.mins[c] = min[c];
            }
        }
}

void kQuantQuads(DType type, const uint8_t* codes, const KQuadRowScales* scales, int nRows,
                 const KQuadBlock* xT, int nTokens, int64_t superBlocks, float* out, int64_t outStride) {
    if (nRows < 1 || nRows > kMaxQuadRows)
        fail(ErrorCategory::Internal, "kQuantQuads takes 1 to {} rows, not {}", kMaxQuadRows, nRows);
    if (nTokens < 1 || nTokens > kQuadGroups * kQuadTokens)
        fail(ErrorCategory::Internal, "kQuantQuads takes 1 to {} tokens, not {}", kQuadGroups * kQuadTokens,
             nTokens);
    const int nGroups = (nTokens + kQuadTokens - 1) / kQuadTokens;
    switch (type) {
    case DType::Q4_K:
        return quads<DType::Q4_K>(codes, scales, nRows, xT, nGroups, nTokens, superBlocks, out, outStride);
    case DType::Q5_K:
        return quads<DType::Q5_K>(codes, scales, nRows, xT, nGroups, nTokens, superBlocks, out, outStride);
    case DType::Q6_K:
        return quads<DType::Q6_K>(codes, scales, nRows, xT, nGroups, nTokens, superBlocks, out, outStride);
    default:
        fail(ErrorCategory::Internal, "no K-quant quads for {}", dtypeName(type));
    }
}

} // namespace lathe::avx2

#include "backend/cpu/Avx2TargetEnd.inc"

#else // not x86-64: never called (cpuHasAvx2() is false), defined so the engine links.

namespace lathe::avx2 {

void transposeKQuads(const KActivationBlock*, int64_t, int, int64_t, KQuadBlock*) {
    fail(ErrorCategory::Internal, "AVX2 kernels called on a machine without x86-64");
}
void unpackKQuadRows(DType, const uint8_t*, uint64_t, int, int64_t, uint8_t*, KQuadRowScales*) {
    fail(ErrorCategory::Internal, "AVX2 kernels called on a machine without x86-64");
}
void kQuantQuads(DType, const uint8_t*, const KQuadRowScales*, int, const KQuadBlock*, int, int64_t, float*,
                 int64_t) {
    fail(ErrorCategory::Internal, "AVX2 kernels called on a machine without x86-64");
}

} // namespace lathe::avx2

#endif
