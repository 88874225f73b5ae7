#include "backend/cpu/Avx512KQuantKernels.h"

#include "backend/cpu/Avx2KQuantKernels.h"
#include "core/Error.h"

#if defined(__x86_64__)

#include <cstring>
#include <immintrin.h>

// Compiled for AVX-512 through this pragma alone (as Avx512Kernels.cpp, whose notes apply).
#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx2,fma,f16c,avx512f,avx512bw,avx512vl"))),             \
                             apply_to = function)
#else
#pragma GCC push_options
#pragma GCC target("avx2,fma,f16c,avx512f,avx512bw,avx512vl")
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

namespace lathe::avx512 {
namespace {

#include "backend/cpu/X86BlockLoads.inc"

// 32 bytes at p in both 256-bit halves (one broadcast load).
inline __m512i bothHalves(const void* p) {
    return _mm512_broadcast_i64x4(_mm256_loadu_si256(static_cast<const __m256i*>(p)));
}

// Two tokens' 32 bytes: a's in the low half, b's in the high half.
inline __m512i tokenPair(const int8_t* a, const int8_t* b) {
    return _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(a))),
                              _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b)), 1);
}

// [a x 8 | b x 8]: one float per half.
inline __m512 pairOf(float a, float b) {
    return _mm512_castpd_ps(
        _mm512_insertf64x4(_mm512_castps_pd(_mm512_set1_ps(a)), _mm256_castps_pd(_mm256_set1_ps(b)), 1));
}

inline __m256 upperHalf(__m512 v) {
    return _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1));
}

// avx2's addChunk for token pairs: maddubs pairs the unsigned codes (the same 32 in both halves) with
// the two tokens' activations into int16, madd with the scales sums pairs into int32 lanes.
template <int P>
inline void addChunk(__m512i codes, __m512i scales, const int8_t* const* activations, int offset,
                     __m512i* sums) {
    for (int p = 0; p < P; ++p) {
        const __m512i y = tokenPair(activations[2 * p] + offset, activations[2 * p + 1] + offset);
        sums[p] = _mm512_add_epi32(sums[p], _mm512_madd_epi16(scales, _mm512_maddubs_epi16(codes, y)));
    }
}

// Q4_K and Q5_K (kHighBits), P token pairs: avx2::dotsQ45K's lanes in each half.
template <bool kHighBits, int P>
void dotsQ45K(const uint8_t* row, const KActivationBlock* x, int64_t superBlocks, int64_t xStride,
              float* out) {
    constexpr int N = 2 * P;
    constexpr int64_t kBytes = kHighBits ? kQ5KBytes : kQ4KBytes;
    const __m512i low4 = _mm512_set1_epi8(0x0f), one = _mm512_set1_epi8(1);
    __m512 acc[P];
    KMinsTerm<kHighBits> minsTerm[N];
    for (int p = 0; p < P; ++p)
        acc[p] = _mm512_setzero_ps();
    for (int64_t i = 0; i < superBlocks; ++i, row += kBytes) {
        const int8_t* activations[N];
        for (int t = 0; t < N; ++t)
            activations[t] = x[t * xStride + i].qs;
        uint8_t scale[8], min[8];
        unpackScalesAndMins(row + 4, scale, min);
        const uint8_t* qs = row + (kHighBits ? 48 : 16);
        const __m512i highBits = kHighBits ? bothHalves(row + 16) : _mm512_setzero_si512();
        __m512i sums[P];
        for (int p = 0; p < P; ++p)
            sums[p] = _mm512_setzero_si512();
        for (int j = 0; j < 4; ++j) {
            const __m512i packed = bothHalves(qs + 32 * j);
            __m512i lo = _mm512_and_si512(packed, low4);
            __m512i hi = _mm512_and_si512(_mm512_srli_epi16(packed, 4), low4);
            if constexpr (kHighBits) {
                const __m512i bitLo = _mm512_and_si512(_mm512_srli_epi16(highBits, unsigned(2 * j)), one);
                const __m512i bitHi = _mm512_and_si512(_mm512_srli_epi16(highBits, unsigned(2 * j + 1)), one);
                lo = _mm512_or_si512(lo, _mm512_slli_epi16(bitLo, 4));
                hi = _mm512_or_si512(hi, _mm512_slli_epi16(bitHi, 4));
            }
            addChunk<P>(lo, _mm512_set1_epi16(short(scale[2 * j])), activations, 64 * j, sums);
            addChunk<P>(hi, _mm512_set1_epi16(short(scale[2 * j + 1])), activations, 64 * j + 32, sums);
        }
        const float wd = half(row), wmin = half(row + 2);
        const __m128i mins16 = groupMins16(min);
        for (int t = 0; t < N; ++t) // the mins term per token, as avx2::dotsQ45K
            minsTerm[t].add(mins16, x[t * xStride + i].bsums, -x[t * xStride + i].d * wmin);
        for (int p = 0; p < P; ++p) {
            const __m512 d = pairOf(x[2 * p * xStride + i].d * wd, x[(2 * p + 1) * xStride + i].d * wd);
            acc[p] = _mm512_fmadd_ps(d, _mm512_cvtepi32_ps(sums[p]), acc[p]);
        }
    }
    for (int t = 0; t < N; ++t) {
        const __m256 lanes = t % 2 == 0 ? _mm512_castps512_ps256(acc[t / 2]) : upperHalf(acc[t / 2]);
        out[t] = total(lanes) + minsTerm[t].total();
    }
}

// Q6_K, P token pairs: avx2::dotsQ6K's lanes in each half. Group g's scale sits in lanes 0-3 of a 256-bit
// half for the first 16 codes of a chunk and g + 1's in lanes 4-7 for the other 16: one word permute
// of the 16 widened scales per chunk.
template <int P>
void dotsQ6K(const uint8_t* row, const KActivationBlock* x, int64_t superBlocks, int64_t xStride,
             float* out) {
    constexpr int N = 2 * P;
    const __m512i low4 = _mm512_set1_epi8(0x0f), low2 = _mm512_set1_epi8(3);
    __m512i pick[8]; // chunk c: words 0-7 of each half take scale 2c, words 8-15 scale 2c + 1
    for (int c = 0; c < 8; ++c) {
        const __m256i half =
            _mm256_setr_m128i(_mm_set1_epi16(short(2 * c)), _mm_set1_epi16(short(2 * c + 1)));
        pick[c] = _mm512_broadcast_i64x4(half);
    }
    __m512 acc[P];
    for (int p = 0; p < P; ++p)
        acc[p] = _mm512_setzero_ps();
    for (int64_t i = 0; i < superBlocks; ++i, row += kQ6KBytes) {
        const int8_t* activations[N];
        for (int t = 0; t < N; ++t)
            activations[t] = x[t * xStride + i].qs;
        const __m512i scales16 = _mm512_broadcast_i64x4(
            _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(row + 192))));
        __m512i sums[P];
        for (int p = 0; p < P; ++p)
            sums[p] = _mm512_setzero_si512();
        for (int j = 0; j < 2; ++j) {
            const __m512i bits1 = bothHalves(row + 64 * j), bits2 = bothHalves(row + 64 * j + 32);
            const __m512i high = bothHalves(row + 128 + 32 * j);
            const __m512i c0 = _mm512_or_si512(_mm512_and_si512(bits1, low4),
                                               _mm512_slli_epi16(_mm512_and_si512(high, low2), 4));
            const __m512i c1 =
                _mm512_or_si512(_mm512_and_si512(bits2, low4),
                                _mm512_slli_epi16(_mm512_and_si512(_mm512_srli_epi16(high, 2), low2), 4));
            const __m512i c2 =
                _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi16(bits1, 4), low4),
                                _mm512_slli_epi16(_mm512_and_si512(_mm512_srli_epi16(high, 4), low2), 4));
            const __m512i c3 =
                _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi16(bits2, 4), low4),
                                _mm512_slli_epi16(_mm512_and_si512(_mm512_srli_epi16(high, 6), low2), 4));
            addChunk<P>(c0, _mm512_permutexvar_epi16(pick[4 * j], scales16), activations, 128 * j, sums);
            addChunk<P>(c1, _mm512_permutexvar_epi16(pick[4 * j + 1], scales16), activations, 128 * j + 32,
                        sums);
            addChunk<P>(c2, _mm512_permutexvar_epi16(pick[4 * j + 2], scales16), activations, 128 * j + 64,
                        sums);
            addChunk<P>(c3, _mm512_permutexvar_epi16(pick[4 * j + 3], scales16), activations, 128 * j + 96,
                        sums);
        }
        const float wd = half(row + 208);
        for (int p = 0; p < P; ++p) {
            const KActivationBlock& x0 = x[2 * p * xStride + i];
            const KActivationBlock& x1 = x[(2 * p + 1) * xStride + i];
            const __m512i bsums = _mm512_inserti64x4(
                _mm512_castsi256_si512(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(x0.bsums))),
                _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x1.bsums)), 1);
            const __m512i offset = _mm512_slli_epi32(_mm512_madd_epi16(bsums, scales16), 5);
            acc[p] = _mm512_fmadd_ps(pairOf(x0.d * wd, x1.d * wd),
                                     _mm512_cvtepi32_ps(_mm512_sub_epi32(sums[p], offset)), acc[p]);
        }
    }
    for (int t = 0; t < N; ++t)
        out[t] = total(t % 2 == 0 ? _mm512_castps512_ps256(acc[t / 2]) : upperHalf(acc[t / 2]));
}

template <int P>
void pairsOf(DType type, const uint8_t* row, const KActivationBlock* x, int64_t superBlocks, int64_t xStride,
             float* out) {
    switch (type) {
    case DType::Q4_K:
        return dotsQ45K<false, P>(row, x, superBlocks, xStride, out);
    case DType::Q5_K:
        return dotsQ45K<true, P>(row, x, superBlocks, xStride, out);
    case DType::Q6_K:
        return dotsQ6K<P>(row, x, superBlocks, xStride, out);
    default:
        fail(ErrorCategory::Internal, "no K-quant dot product for {}", dtypeName(type));
    }
}

} // namespace

void kQuantDots(DType weightType, const uint8_t* weightRow, const KActivationBlock* x, int64_t superBlocks,
                int nTokens, int64_t xStride, float* out) {
    if (nTokens < 1 || nTokens > 8)
        fail(ErrorCategory::Internal, "kQuantDots takes 1-8 tokens, not {}", nTokens);
    switch (nTokens / 2) {
    case 0:
        break;
    case 1:
        pairsOf<1>(weightType, weightRow, x, superBlocks, xStride, out);
        break;
    case 2:
        pairsOf<2>(weightType, weightRow, x, superBlocks, xStride, out);
        break;
    case 3:
        pairsOf<3>(weightType, weightRow, x, superBlocks, xStride, out);
        break;
    default:
        pairsOf<4>(weightType, weightRow, x, superBlocks, xStride, out);
        break;
    }
    if (nTokens % 2 == 1) // an odd last token: the AVX2 kernel (the same bits)
        avx2::kQuantDots(weightType, weightRow, x + (nTokens - 1) * xStride, superBlocks, 1, xStride,
                         out + nTokens - 1);
}

} // namespace lathe::avx512

#if defined(__clang__)
#pragma clang attribute pop
#else
#pragma GCC diagnostic pop
#pragma GCC pop_options
#endif

#else // not x86-64: never called (cpuHasAvx512() is false), defined so the engine links.

namespace lathe::avx512 {

void kQuantDots(DType, const uint8_t*, const KActivationBlock*, int64_t, int, int64_t, float*) {
    fail(ErrorCategory::Internal, "AVX-512 kernels called on a machine without x86-64");
}

} // namespace lathe::avx512

#endif
