#include "backend/cpu/Avx512KQuantPanel.h"

#include "core/Error.h"

#if defined(__x86_64__)

#include <cstring>
#include <immintrin.h>

// clang-format off: the target pragma must come after the system headers, never before.
#include "backend/cpu/Avx512TargetBegin.inc"
// clang-format on

namespace lathe::avx512 {
namespace {

#include "backend/cpu/X86BlockLoads.inc"

constexpr int kChunk = 32;

// Word w of a stored chunk holds element order(w): words 2j, 2j + 1 (lane j) elements 4j, 4j + 1 and
// words 16 + 2j, 17 + 2j (lane j + 8) elements 4j + 2, 4j + 3.
inline __m512i panelOrder() {
    alignas(64) int16_t index[kChunk];
    for (int w = 0; w < kChunk; ++w)
        index[w] = int16_t(4 * ((w % 16) / 2) + (w >= 16 ? 2 : 0) + w % 2);
    return _mm512_load_si512(index);
}

// The identity permutation: chunks keep their stored order.
inline __m512i storedOrder() {
    alignas(64) int16_t index[kChunk];
    for (int w = 0; w < kChunk; ++w)
        index[w] = int16_t(w);
    return _mm512_load_si512(index);
}

// 32 codes times their scales (words 0-15 scaleLow, 16-31 scaleHigh), permuted by order.
inline void storeChunk(__m256i codes, __m512i scales, __m512i order, int16_t* out) {
    const __m512i products = _mm512_mullo_epi16(_mm512_cvtepu8_epi16(codes), scales);
    _mm512_storeu_si512(out, _mm512_permutexvar_epi16(order, products));
}

inline __m512i scalePair(int low, int high) {
    return _mm512_inserti64x4(_mm512_set1_epi16(short(low)), _mm256_set1_epi16(short(high)), 1);
}

inline __m256i load256(const void* p) {
    return _mm256_loadu_si256(static_cast<const __m256i*>(p));
}

template <bool kFifthBit> void unpackQ45K(const uint8_t* row, const __m512i order, int16_t* out) {
    uint8_t scale[8], min[8];
    unpackScalesAndMins(row + 4, scale, min);
    const uint8_t* qs = row + (kFifthBit ? 48 : 16);
    const __m256i qh = kFifthBit ? load256(row + 16) : _mm256_setzero_si256();
    for (int j = 0; j < 4; ++j) {
        __m256i lo, hi;
        q45kChunkCodes<kFifthBit>(qs, qh, j, lo, hi);
        storeChunk(lo, _mm512_set1_epi16(short(scale[2 * j])), order, out + 64 * j);
        storeChunk(hi, _mm512_set1_epi16(short(scale[2 * j + 1])), order, out + 64 * j + 32);
    }
}

void unpackQ6K(const uint8_t* row, const __m512i order, int16_t* out) {
    const int8_t* scales = reinterpret_cast<const int8_t*>(row + 192);
    for (int j = 0; j < 2; ++j) {
        __m256i codes[4];
        q6kChunkCodes(row, j, codes);
        for (int m = 0; m < 4; ++m) {
            const int k = 4 * j + m; // chunk k: groups 2k (its first 16 codes) and 2k + 1
            storeChunk(codes[m], scalePair(scales[2 * k], scales[2 * k + 1]), order, out + kChunk * k);
        }
    }
}

// The weight side of one super-block's float steps, for one row.
struct RowBlock {
    float d, dmin;    // dmin: Q4_K / Q5_K
    __m128i mins16;   // Q4_K / Q5_K
    __m256i scales16; // Q6_K
};

template <DType kType> inline RowBlock rowBlock(const uint8_t* p) {
    RowBlock b{};
    if constexpr (kType == DType::Q6_K) {
        b.d = half(p + 208);
        b.scales16 = _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p + 192)));
    } else {
        b.d = half(p);
        b.dmin = half(p + 2);
        uint8_t scale[8], min[8];
        unpackScalesAndMins(p + 4, scale, min);
        b.mins16 = groupMins16(min);
    }
    return b;
}

KRowScales storedScales(const RowBlock& b) {
    KRowScales s;
    s.d = b.d;
    s.dmin = b.dmin;
    _mm_storeu_si128(reinterpret_cast<__m128i*>(s.mins16), b.mins16);
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(s.scales16), b.scales16);
    for (int g = 0; g < 16; ++g)
        s.offsets16[g] = int16_t(-32 * s.scales16[g]);
    return s;
}

inline RowBlock loadedScales(const KRowScales& s) {
    RowBlock b;
    b.d = s.d;
    b.dmin = s.dmin;
    b.mins16 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(s.mins16));
    b.scales16 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(s.scales16));
    return b;
}

// Two 256-bit halves side by side: a in the low half, b in the high half.
inline __m512i halves(__m256i a, __m256i b) {
    return _mm512_inserti64x4(_mm512_castsi256_si512(a), b, 1);
}

inline __m256 upperHalf(__m512 v) {
    return _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1));
}

// kPanelRows rows x kPairs pairs of tokens. The float steps after each super-block's word dots run on
// two tokens per register: each 256-bit half is exactly avx2::kQuantDots's register for its token (the
// folded int32 lanes, the Q6_K offset, the scale product d_x * d_w, one fused step; Q4_K's four mins
// lanes in each 128-bit half of a ymm; Q5_K's one float per token, as
// avx2::kQuantDots's KMinsTerm keeps them).
template <DType kType, int kPairs>
void panel(const int16_t* rows16, const KRowScales* scales, const KActivationBlock* x, const int16_t* x16,
           int64_t xStride, int64_t superBlocks, float* out, int64_t outStride) {
    constexpr int R = kPanelRows;
    constexpr int kTokens = 2 * kPairs;
    __m512 acc[R][kPairs];
    __m256 minsLanes[R][kPairs]; // Q4_K: token 2p's four lanes in the low 128 bits, 2p + 1's in the high
    float minsSum[R][kTokens];   // Q5_K
    for (int r = 0; r < R; ++r) {
        for (int p = 0; p < kPairs; ++p) {
            acc[r][p] = _mm512_setzero_ps();
            minsLanes[r][p] = _mm256_setzero_ps();
        }
        for (int t = 0; t < kTokens; ++t)
            minsSum[r][t] = 0.0f;
    }
    for (int64_t i = 0; i < superBlocks; ++i) {
        __m512i sums[R][kTokens];
        for (int r = 0; r < R; ++r)
            for (int t = 0; t < kTokens; ++t)
                sums[r][t] = _mm512_setzero_si512();
#pragma GCC unroll 8
        for (int c = 0; c < kKSuperBlock / kChunk; ++c) {
            __m512i w[R];
            for (int r = 0; r < R; ++r)
                w[r] = _mm512_loadu_si512(rows16 + (r * superBlocks + i) * kKSuperBlock + kChunk * c);
            for (int t = 0; t < kTokens; ++t) {
                const __m512i y = _mm512_loadu_si512(x16 + (t * xStride + i) * kKSuperBlock + kChunk * c);
                for (int r = 0; r < R; ++r)
                    sums[r][t] = _mm512_dpwssd_epi32(sums[r][t], w[r], y);
            }
        }
        // The tokens' side of the float steps, once for all rows.
        float dx[kTokens];
        __m512 dxPair[kPairs];
        __m512i bsumsPair[kPairs];  // Q6_K
        __m256i groupsPair[kPairs]; // Q4_K / Q5_K: the eight group sums (pairs of bsums) per token
        for (int t = 0; t < kTokens; ++t)
            dx[t] = x[t * xStride + i].d;
        for (int p = 0; p < kPairs; ++p) {
            const KActivationBlock& x0 = x[2 * p * xStride + i];
            const KActivationBlock& x1 = x[(2 * p + 1) * xStride + i];
            dxPair[p] = _mm512_castpd_ps(_mm512_insertf64x4(_mm512_castps_pd(_mm512_set1_ps(x0.d)),
                                                            _mm256_castps_pd(_mm256_set1_ps(x1.d)), 1));
            const __m256i b0 = load256(x0.bsums), b1 = load256(x1.bsums);
            if constexpr (kType == DType::Q6_K) {
                bsumsPair[p] = halves(b0, b1);
            } else {
                const __m128i g0 =
                    _mm_hadd_epi16(_mm256_castsi256_si128(b0), _mm256_extracti128_si256(b0, 1));
                const __m128i g1 =
                    _mm_hadd_epi16(_mm256_castsi256_si128(b1), _mm256_extracti128_si256(b1, 1));
                groupsPair[p] = _mm256_setr_m128i(g0, g1);
            }
        }
        for (int r = 0; r < R; ++r) {
            const RowBlock b = loadedScales(scales[r * superBlocks + i]);
            const __m512 dw = _mm512_set1_ps(b.d);
            for (int p = 0; p < kPairs; ++p) {
                const __m512i s0 = sums[r][2 * p], s1 = sums[r][2 * p + 1];
                __m512i lanes =
                    _mm512_add_epi32(_mm512_shuffle_i64x2(s0, s1, 0x44), _mm512_shuffle_i64x2(s0, s1, 0xee));
                if constexpr (kType == DType::Q6_K) {
                    const __m512i scales = halves(b.scales16, b.scales16);
                    lanes = _mm512_sub_epi32(lanes,
                                             _mm512_slli_epi32(_mm512_madd_epi16(bsumsPair[p], scales), 5));
                } else {
                    const __m256i products =
                        _mm256_madd_epi16(_mm256_setr_m128i(b.mins16, b.mins16), groupsPair[p]);
                    if constexpr (kType == DType::Q4_K) {
                        const __m256 dmin = _mm256_setr_m128(_mm_set1_ps(-dx[2 * p] * b.dmin),
                                                             _mm_set1_ps(-dx[2 * p + 1] * b.dmin));
                        minsLanes[r][p] =
                            _mm256_fmadd_ps(dmin, _mm256_cvtepi32_ps(products), minsLanes[r][p]);
                    } else {
                        for (int h = 0; h < 2; ++h) {
                            const __m128i half = h == 0 ? _mm256_castsi256_si128(products)
                                                        : _mm256_extracti128_si256(products, 1);
                            const __m128i pairs = _mm_hadd_epi32(half, half);
                            const float minSum = float(_mm_cvtsi128_si32(_mm_hadd_epi32(pairs, pairs)));
                            float& m = minsSum[r][2 * p + h];
                            m = _mm_cvtss_f32(_mm_fmadd_ss(_mm_set_ss(-dx[2 * p + h] * b.dmin),
                                                           _mm_set_ss(minSum), _mm_set_ss(m)));
                        }
                    }
                }
                acc[r][p] =
                    _mm512_fmadd_ps(_mm512_mul_ps(dxPair[p], dw), _mm512_cvtepi32_ps(lanes), acc[r][p]);
            }
        }
    }
    for (int r = 0; r < R; ++r)
        for (int p = 0; p < kPairs; ++p)
            for (int h = 0; h < 2; ++h) {
                const int t = 2 * p + h;
                const __m256 lanes = h == 0 ? _mm512_castps512_ps256(acc[r][p]) : upperHalf(acc[r][p]);
                float minsTerm = 0.0f;
                if constexpr (kType == DType::Q4_K) {
                    const __m128 m4 = h == 0 ? _mm256_castps256_ps128(minsLanes[r][p])
                                             : _mm256_extractf128_ps(minsLanes[r][p], 1);
                    __m128 m = _mm_add_ps(m4, _mm_movehl_ps(m4, m4));
                    m = _mm_add_ss(m, _mm_movehdup_ps(m));
                    minsTerm = _mm_cvtss_f32(m);
                } else if constexpr (kType == DType::Q5_K) {
                    minsTerm = minsSum[r][t];
                }
                out[t * outStride + r] = kType == DType::Q6_K ? total(lanes) : total(lanes) + minsTerm;
            }
}

template <DType kType>
void panelOfType(const int16_t* rows16, const KRowScales* scales, const KActivationBlock* x,
                 const int16_t* x16, int64_t xStride, int nTokens, int64_t superBlocks, float* out,
                 int64_t outStride) {
    switch (nTokens) {
    case 2:
        return panel<kType, 1>(rows16, scales, x, x16, xStride, superBlocks, out, outStride);
    case 4:
        return panel<kType, 2>(rows16, scales, x, x16, xStride, superBlocks, out, outStride);
    case 6:
        return panel<kType, 3>(rows16, scales, x, x16, xStride, superBlocks, out, outStride);
    default:
        fail(ErrorCategory::Internal, "kQuantPanel takes 2, 4 or 6 tokens, not {}", nTokens);
    }
}

} // namespace

void widenKActivations(const KActivationBlock* x, int64_t count, int16_t* out) {
    const __m512i order = panelOrder();
    for (int64_t i = 0; i < count; ++i)
        for (int c = 0; c < kKSuperBlock / kChunk; ++c) {
            const __m512i wide = _mm512_cvtepi8_epi16(load256(x[i].qs + kChunk * c));
            _mm512_storeu_si512(out + i * kKSuperBlock + kChunk * c, _mm512_permutexvar_epi16(order, wide));
        }
}

void unpackKRows(DType type, const uint8_t* first, uint64_t rowStride, int nRows, int64_t superBlocks,
                 int16_t* out, KRowScales* scales, KRowOrder rowOrder) {
    const bool superBlockMajor = rowOrder == KRowOrder::SuperBlockMajor;
    const __m512i order = superBlockMajor ? storedOrder() : panelOrder();
    const int64_t bytes = type == DType::Q4_K ? kQ4KBytes : type == DType::Q5_K ? kQ5KBytes : kQ6KBytes;
    for (int r = 0; r < nRows; ++r)
        for (int64_t i = 0; i < superBlocks; ++i) {
            const uint8_t* block = first + uint64_t(r) * rowStride + uint64_t(i * bytes);
            int16_t* dst = out + (superBlockMajor ? i * nRows + r : r * superBlocks + i) * kKSuperBlock;
            KRowScales& blockScales = scales[r * superBlocks + i];
            switch (type) {
            case DType::Q4_K:
                unpackQ45K<false>(block, order, dst);
                blockScales = storedScales(rowBlock<DType::Q4_K>(block));
                break;
            case DType::Q5_K:
                unpackQ45K<true>(block, order, dst);
                blockScales = storedScales(rowBlock<DType::Q5_K>(block));
                break;
            case DType::Q6_K:
                unpackQ6K(block, order, dst);
                blockScales = storedScales(rowBlock<DType::Q6_K>(block));
                break;
            default:
                fail(ErrorCategory::Internal, "no K-quant panel for {}", dtypeName(type));
            }
        }
}

void kQuantPanel(DType type, const int16_t* rows16, const KRowScales* scales, const KActivationBlock* x,
                 const int16_t* x16, int64_t xStride, int nTokens, int64_t superBlocks, float* out,
                 int64_t outStride) {
    switch (type) {
    case DType::Q4_K:
        return panelOfType<DType::Q4_K>(rows16, scales, x, x16, xStride, nTokens, superBlocks, out,
                                        outStride);
    case DType::Q5_K:
        return panelOfType<DType::Q5_K>(rows16, scales, x, x16, xStride, nTokens, superBlocks, out,
                                        outStride);
    case DType::Q6_K:
        return panelOfType<DType::Q6_K>(rows16, scales, x, x16, xStride, nTokens, superBlocks, out,
                                        outStride);
    default:
        fail(ErrorCategory::Internal, "no K-quant panel for {}", dtypeName(type));
    }
}

} // namespace lathe::avx512

#include "backend/cpu/Avx512TargetEnd.inc"

#else // not x86-64: never called (cpuHasAvx512() is false), defined so the engine links.

namespace lathe::avx512 {

void widenKActivations(const KActivationBlock*, int64_t, int16_t*) {
    fail(ErrorCategory::Internal, "AVX-512 kernels called on a machine without x86-64");
}
void unpackKRows(DType, const uint8_t*, uint64_t, int, int64_t, int16_t*, KRowScales*, KRowOrder) {
    fail(ErrorCategory::Internal, "AVX-512 kernels called on a machine without x86-64");
}
void kQuantPanel(DType, const int16_t*, const KRowScales*, const KActivationBlock*, const int16_t*, int64_t,
                 int, int64_t, float*, int64_t) {
    fail(ErrorCategory::Internal, "AVX-512 kernels called on a machine without x86-64");
}

} // namespace lathe::avx512

#endif
