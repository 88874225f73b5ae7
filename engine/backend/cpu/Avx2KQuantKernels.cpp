#include "backend/cpu/Avx2KQuantKernels.h"

#include "core/Error.h"

#if defined(__x86_64__)

#include <cstring>
#include <immintrin.h>

// clang-format off: the target pragma must come after the system headers, never before.
#include "backend/cpu/Avx2TargetBegin.inc"
// clang-format on

namespace lathe::avx2 {
namespace {

#include "backend/cpu/X86BlockLoads.inc"

// One token's mins term of Q4_K (kOneFloat false) or Q5_K (true), as ggml's AVX2 kernels keep it: per
// super-block, the activation group sums (pairs of bsums) times the eight mins, summed in pairs into four
// int32 lanes; Q4_K adds dmin times those lanes into four float lanes, Q5_K adds dmin times their total
// into one float with one fused multiply-add.
template <bool kOneFloat> class KMinsTerm {
public:
    void add(__m128i mins16, const int16_t* bsums, float dmin) {
        const __m256i sums = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(bsums));
        const __m128i groups =
            _mm_hadd_epi16(_mm256_castsi256_si128(sums), _mm256_extracti128_si256(sums, 1));
        const __m128i products = _mm_madd_epi16(mins16, groups);
        if constexpr (kOneFloat) {
            const __m128i pairs = _mm_hadd_epi32(products, products);
            const float minSum = float(_mm_cvtsi128_si32(_mm_hadd_epi32(pairs, pairs)));
            sum_ = _mm_cvtss_f32(_mm_fmadd_ss(_mm_set_ss(dmin), _mm_set_ss(minSum), _mm_set_ss(sum_)));
        } else {
            lanes_ = _mm_fmadd_ps(_mm_set1_ps(dmin), _mm_cvtepi32_ps(products), lanes_);
        }
    }
    // The term to add to the eight-lane total: Q4_K's lanes as (0 + 2) + (1 + 3).
    float total() const {
        if constexpr (kOneFloat) {
            return sum_;
        } else {
            __m128 m = _mm_add_ps(lanes_, _mm_movehl_ps(lanes_, lanes_));
            m = _mm_add_ss(m, _mm_movehdup_ps(m));
            return _mm_cvtss_f32(m);
        }
    }

private:
    __m128 lanes_ = _mm_setzero_ps();
    float sum_ = 0.0f;
};

inline __m256i load256(const void* p) {
    return _mm256_loadu_si256(static_cast<const __m256i*>(p));
}

// An empty asm that takes v and gives it back in a register: GCC cannot see through it, so it keeps each
// token's chain of integer adds in order instead of reassociating the chains into trees whose partial
// sums spill to the stack. dotsQ45K<false, 4> went from 100 stack accesses to 35 (only outside the chunk
// loop) and dotsQ6K<4> from 76 to 18; the sums are integers, so the bits are the same.
inline void keepInRegister(__m256i& v) {
    asm("" : "+x"(v));
}

// Adds scale * (codes . activations) to the tokens' eight int32 lanes: maddubs pairs the 32 unsigned codes
// with the activations into 16 int16, madd with the scales (16 int16: lanes 0-3 take the first eight,
// lanes 4-7 the other eight) sums pairs into eight int32, as ggml's kernels do.
template <int N>
inline void addChunk(__m256i codes, __m256i scales, const int8_t* const* activations, int offset,
                     __m256i* sums) {
    for (int t = 0; t < N; ++t) {
        const __m256i pairs = _mm256_maddubs_epi16(codes, load256(activations[t] + offset));
        sums[t] = _mm256_add_epi32(sums[t], _mm256_madd_epi16(scales, pairs));
        keepInRegister(sums[t]);
    }
}

// Q4_K and Q5_K: eight groups of 32 with 6-bit scales and mins. kHighBits: Q5_K's fifth bit.
template <bool kHighBits, int N>
void dotsQ45K(const uint8_t* row, const KActivationBlock* x, int64_t superBlocks, int64_t xStride,
              float* out) {
    constexpr int64_t kBytes = kHighBits ? kQ5KBytes : kQ4KBytes;
    __m256 acc[N];
    KMinsTerm<kHighBits> minsTerm[N];
    for (int t = 0; t < N; ++t)
        acc[t] = _mm256_setzero_ps();
    for (int64_t i = 0; i < superBlocks; ++i, row += kBytes) {
        const int8_t* activations[N];
        for (int t = 0; t < N; ++t)
            activations[t] = x[t * xStride + i].qs;
        uint8_t scale[8], min[8];
        unpackScalesAndMins(row + 4, scale, min);
        const uint8_t* qs = row + (kHighBits ? 48 : 16);
        const __m256i highBits = kHighBits ? load256(row + 16) : _mm256_setzero_si256();
        __m256i sums[N];
        for (int t = 0; t < N; ++t)
            sums[t] = _mm256_setzero_si256();
        for (int j = 0; j < 4; ++j) {
            __m256i lo, hi;
            q45kChunkCodes<kHighBits>(qs, highBits, j, lo, hi);
            addChunk<N>(lo, _mm256_set1_epi16(scale[2 * j]), activations, 64 * j, sums);
            addChunk<N>(hi, _mm256_set1_epi16(scale[2 * j + 1]), activations, 64 * j + 32, sums);
        }
        const float wd = half(row), wmin = half(row + 2);
        const __m128i mins16 = groupMins16(min);
        for (int t = 0; t < N; ++t) {
            const KActivationBlock& xb = x[t * xStride + i];
            minsTerm[t].add(mins16, xb.bsums, -xb.d * wmin);
            acc[t] = _mm256_fmadd_ps(_mm256_set1_ps(xb.d * wd), _mm256_cvtepi32_ps(sums[t]), acc[t]);
        }
    }
    for (int t = 0; t < N; ++t)
        out[t] = total(acc[t]) + minsTerm[t].total();
}

// Q6_K: 16 groups of 16 with int8 scales; codes are q + 32 (unsigned), the 32 taken back with the
// activation sums.
template <int N>
void dotsQ6K(const uint8_t* row, const KActivationBlock* x, int64_t superBlocks, int64_t xStride,
             float* out) {
    __m256 acc[N];
    for (int t = 0; t < N; ++t)
        acc[t] = _mm256_setzero_ps();
    for (int64_t i = 0; i < superBlocks; ++i, row += kQ6KBytes) {
        const int8_t* activations[N];
        for (int t = 0; t < N; ++t)
            activations[t] = x[t * xStride + i].qs;
        const int8_t* scales = reinterpret_cast<const int8_t*>(row + 192);
        const auto scalePair = [&](int group) { // groups g, g+1 over the lanes 0-3 and 4-7
            return _mm256_setr_m128i(_mm_set1_epi16(scales[group]), _mm_set1_epi16(scales[group + 1]));
        };
        __m256i sums[N];
        for (int t = 0; t < N; ++t)
            sums[t] = _mm256_setzero_si256();
        for (int j = 0; j < 2; ++j) {
            __m256i codes[4];
            q6kChunkCodes(row, j, codes);
            const __m256i c0 = codes[0], c1 = codes[1], c2 = codes[2], c3 = codes[3];
            addChunk<N>(c0, scalePair(8 * j), activations, 128 * j, sums);
            addChunk<N>(c1, scalePair(8 * j + 2), activations, 128 * j + 32, sums);
            addChunk<N>(c2, scalePair(8 * j + 4), activations, 128 * j + 64, sums);
            addChunk<N>(c3, scalePair(8 * j + 6), activations, 128 * j + 96, sums);
        }
        const float wd = half(row + 208);
        const __m256i scales16 =
            _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(scales)));
        for (int t = 0; t < N; ++t) {
            const KActivationBlock& xb = x[t * xStride + i];
            const __m256i offset = _mm256_slli_epi32(_mm256_madd_epi16(load256(xb.bsums), scales16), 5);
            acc[t] = _mm256_fmadd_ps(_mm256_set1_ps(xb.d * wd),
                                     _mm256_cvtepi32_ps(_mm256_sub_epi32(sums[t], offset)), acc[t]);
        }
    }
    for (int t = 0; t < N; ++t)
        out[t] = total(acc[t]);
}

template <int N>
void dotsOf(DType type, const uint8_t* row, const KActivationBlock* x, int64_t superBlocks, int64_t xStride,
            float* out) {
    switch (type) {
    case DType::Q4_K:
        return dotsQ45K<false, N>(row, x, superBlocks, xStride, out);
    case DType::Q5_K:
        return dotsQ45K<true, N>(row, x, superBlocks, xStride, out);
    case DType::Q6_K:
        return dotsQ6K<N>(row, x, superBlocks, xStride, out);
    default:
        fail(ErrorCategory::Internal, "no K-quant dot product for {}", dtypeName(type));
    }
}

} // namespace

void quantizeActivationsK(const float* x, int64_t n, KActivationBlock* out) {
    const __m256 signBit = _mm256_set1_ps(-0.0f);
    for (int64_t b = 0; b < n / kKSuperBlock; ++b, x += kKSuperBlock) {
        KActivationBlock& y = out[b];
        // The largest magnitude (max_ps returns its second operand where the first is NaN, so NaNs are
        // skipped as the reference's > skips them), then its first element, which the reference keeps.
        __m256 largest = _mm256_setzero_ps();
        for (int j = 0; j < kKSuperBlock; j += 8)
            largest = _mm256_max_ps(_mm256_andnot_ps(signBit, _mm256_loadu_ps(x + j)), largest);
        __m128 m = _mm_max_ps(_mm256_castps256_ps128(largest), _mm256_extractf128_ps(largest, 1));
        m = _mm_max_ps(m, _mm_movehl_ps(m, m));
        m = _mm_max_ss(m, _mm_movehdup_ps(m));
        const float amax = _mm_cvtss_f32(m);
        if (!(amax > 0.0f)) { // all zeros, or every element NaN
            y.d = 0.0f;
            std::memset(y.qs, 0, sizeof y.qs);
            std::memset(y.bsums, 0, sizeof y.bsums);
            continue;
        }
        float max = 0.0f;
        for (int j = 0; j < kKSuperBlock; ++j)
            if (__builtin_fabsf(x[j]) == amax) {
                max = x[j];
                break;
            }
        const float iscale = -127.0f / max;
        // ggml's nearest_int on eight lanes: v + 1.5 * 2^23 leaves the rounded integer in the low
        // mantissa bits; capped at 127 as the reference caps it.
        const __m256 scale = _mm256_set1_ps(iscale), magic = _mm256_set1_ps(12582912.0f);
        const __m256i mantissa = _mm256_set1_epi32(0x007fffff), offset = _mm256_set1_epi32(0x00400000);
        const __m256i cap = _mm256_set1_epi32(127);
        for (int j = 0; j < kKSuperBlock; j += 16) {
            __m256i q[2];
            for (int h = 0; h < 2; ++h) {
                const __m256 v = _mm256_add_ps(_mm256_mul_ps(scale, _mm256_loadu_ps(x + j + 8 * h)), magic);
                const __m256i rounded =
                    _mm256_sub_epi32(_mm256_and_si256(_mm256_castps_si256(v), mantissa), offset);
                // The reference's int8_t cast keeps the low byte (a block whose largest magnitude is so
                // small that iscale is infinite gives -2^22 there), which the packs below would saturate.
                q[h] = _mm256_srai_epi32(_mm256_slli_epi32(_mm256_min_epi32(rounded, cap), 24), 24);
            }
            // int32 -> int16 -> int8 (the values fit: the packs only narrow), back in element order.
            const __m256i words = _mm256_permute4x64_epi64(_mm256_packs_epi32(q[0], q[1]), 0xd8);
            const __m128i bytes =
                _mm_packs_epi16(_mm256_castsi256_si128(words), _mm256_extracti128_si256(words, 1));
            _mm_storeu_si128(reinterpret_cast<__m128i*>(y.qs + j), bytes);
            const __m128i pairs = _mm_madd_epi16(_mm_cvtepi8_epi16(bytes), _mm_set1_epi16(1));
            const __m128i pairs2 =
                _mm_madd_epi16(_mm_cvtepi8_epi16(_mm_srli_si128(bytes, 8)), _mm_set1_epi16(1));
            __m128i sum = _mm_add_epi32(pairs, pairs2);
            sum = _mm_add_epi32(sum, _mm_shuffle_epi32(sum, 0x4e));
            sum = _mm_add_epi32(sum, _mm_shuffle_epi32(sum, 0xb1));
            y.bsums[j / 16] = int16_t(_mm_cvtsi128_si32(sum));
        }
        y.d = 1.0f / iscale;
    }
}

void kQuantDots(DType weightType, const uint8_t* weightRow, const KActivationBlock* x, int64_t superBlocks,
                int nTokens, int64_t xStride, float* out) {
    switch (nTokens) {
    case 1:
        return dotsOf<1>(weightType, weightRow, x, superBlocks, xStride, out);
    case 2:
        return dotsOf<2>(weightType, weightRow, x, superBlocks, xStride, out);
    case 3:
        return dotsOf<3>(weightType, weightRow, x, superBlocks, xStride, out);
    case 4:
        return dotsOf<4>(weightType, weightRow, x, superBlocks, xStride, out);
    default:
        fail(ErrorCategory::Internal, "kQuantDots takes 1-4 tokens, not {}", nTokens);
    }
}

} // namespace lathe::avx2

#include "backend/cpu/Avx2TargetEnd.inc"

#else // not x86-64: never called (cpuHasAvx2() is false), defined so the engine links.

namespace lathe::avx2 {

void quantizeActivationsK(const float*, int64_t, KActivationBlock*) {
    fail(ErrorCategory::Internal, "AVX2 kernels called on a machine without x86-64");
}
void kQuantDots(DType, const uint8_t*, const KActivationBlock*, int64_t, int, int64_t, float*) {
    fail(ErrorCategory::Internal, "AVX2 kernels called on a machine without x86-64");
}

} // namespace lathe::avx2

#endif
