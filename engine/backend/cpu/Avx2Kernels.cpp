#include "backend/cpu/Avx2Kernels.h"

#include "core/Error.h"

#if defined(__x86_64__)

#include <cmath>
#include <cstring>
#include <immintrin.h>

// clang-format off: the target pragma must come after the system headers, never before.
#include "backend/cpu/Avx2TargetBegin.inc"
// clang-format on

namespace lathe::avx2 {
namespace {

#include "backend/cpu/X86BlockLoads.inc"

// Signed weights of block b and the per-block scale and offset (m; 0 for the formats without one).
struct Block {
    __m256i q;
    float d, m;
};

inline __attribute__((always_inline)) Block loadBlock(DType type, const uint8_t* row, int64_t b) {
    switch (type) {
    case DType::Q4_0: {
        const uint8_t* p = row + b * kIntegerBlockBytes<DType::Q4_0>;
        return {_mm256_sub_epi8(nibbles(p + 2), _mm256_set1_epi8(8)), half(p), 0.0f};
    }
    case DType::Q4_1: {
        const uint8_t* p = row + b * kIntegerBlockBytes<DType::Q4_1>;
        return {nibbles(p + 4), half(p), half(p + 2)};
    }
    case DType::Q5_0: {
        const uint8_t* p = row + b * kIntegerBlockBytes<DType::Q5_0>;
        const __m256i q = _mm256_or_si256(nibbles(p + 6), fifthBits(p + 2));
        return {_mm256_sub_epi8(q, _mm256_set1_epi8(16)), half(p), 0.0f};
    }
    case DType::Q5_1: {
        const uint8_t* p = row + b * kIntegerBlockBytes<DType::Q5_1>;
        return {_mm256_or_si256(nibbles(p + 8), fifthBits(p + 4)), half(p), half(p + 2)};
    }
    default: { // Q8_0
        const uint8_t* p = row + b * kIntegerBlockBytes<DType::Q8_0>;
        return {_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + 2)), half(p), 0.0f};
    }
    }
}

inline float roundedToHalf(float f) {
    return _cvtsh_ss(_cvtss_sh(f, _MM_FROUND_TO_NEAREST_INT));
}

// ggml_v_expf, eight lanes.
inline __m256 expVector(__m256 x) {
    const __m256 r = _mm256_set1_ps(0x1.8p23f);
    const __m256 z = _mm256_fmadd_ps(x, _mm256_set1_ps(0x1.715476p+0f), r);
    const __m256 n = _mm256_sub_ps(z, r);
    const __m256 b = _mm256_fnmadd_ps(n, _mm256_set1_ps(0x1.7f7d1cp-20f),
                                      _mm256_fnmadd_ps(n, _mm256_set1_ps(0x1.62e4p-1f), x));
    const __m256i e = _mm256_slli_epi32(_mm256_castps_si256(z), 23);
    const __m256 k = _mm256_castsi256_ps(_mm256_add_epi32(e, _mm256_castps_si256(_mm256_set1_ps(1.0f))));
    const __m256 absN = _mm256_andnot_ps(_mm256_set1_ps(-0.0f), n);
    const __m256 c = _mm256_cmp_ps(absN, _mm256_set1_ps(126.0f), _CMP_GT_OQ);
    const __m256 u = _mm256_mul_ps(b, b);
    const __m256 j = _mm256_fmadd_ps(
        _mm256_fmadd_ps(_mm256_fmadd_ps(_mm256_set1_ps(0x1.0e4020p-7f), b, _mm256_set1_ps(0x1.573e2ep-5f)), u,
                        _mm256_fmadd_ps(_mm256_set1_ps(0x1.555e66p-3f), b, _mm256_set1_ps(0x1.fffdb6p-2f))),
        u, _mm256_mul_ps(_mm256_set1_ps(0x1.ffffecp-1f), b));
    if (!_mm256_movemask_ps(c)) return _mm256_fmadd_ps(j, k, k);
    const __m256i g = _mm256_and_si256(_mm256_castps_si256(_mm256_cmp_ps(n, _mm256_setzero_ps(), _CMP_LE_OQ)),
                                       _mm256_set1_epi32(int(0x82000000u)));
    const __m256 s1 = _mm256_castsi256_ps(_mm256_add_epi32(g, _mm256_set1_epi32(0x7f000000)));
    const __m256 s2 = _mm256_castsi256_ps(_mm256_sub_epi32(e, g));
    const __m256 d = _mm256_cmp_ps(absN, _mm256_set1_ps(192.0f), _CMP_GT_OQ);
    return _mm256_or_ps(
        _mm256_and_ps(d, _mm256_mul_ps(s1, s1)),
        _mm256_andnot_ps(d, _mm256_or_ps(_mm256_and_ps(c, _mm256_mul_ps(_mm256_fmadd_ps(s2, j, s2), s1)),
                                         _mm256_andnot_ps(c, _mm256_fmadd_ps(k, j, k)))));
}

// LQ3_64: eight codes fill three bytes exactly, so group g (elements 8g..8g+7) of a block is bytes
// 3g..3g+2 of qs. Those 24 bits are broadcast and each lane shifted to its own code; the value is
// c * d + m, fused (c * d is exact in float, so this rounds as the reference's mul-then-add).
// shifts = {0, 3, ..., 21}, seven = 7 in every lane (built by the caller, in AVX2 code).
inline __m256 lq3Group(const uint8_t* qs, int g, __m256 d, __m256 m, __m256i shifts, __m256i seven) {
    const uint8_t* q = qs + 3 * g;
    uint32_t bits;
    if (g < 7)
        std::memcpy(&bits, q, sizeof bits); // the fourth byte lands above bit 23, which no lane keeps
    else
        bits = uint32_t(q[0]) | (uint32_t(q[1]) << 8) | (uint32_t(q[2]) << 16); // qs ends here
    const __m256i codes = _mm256_and_si256(_mm256_srlv_epi32(_mm256_set1_epi32(int(bits)), shifts), seven);
    return _mm256_fmadd_ps(_mm256_cvtepi32_ps(codes), d, m);
}

// Stores eight int32 codes (each within int8) as int8 and returns their sum.
inline int32_t storeCodes(__m256i q, int8_t* qs) {
    alignas(32) int32_t lanes[8];
    _mm256_store_si256(reinterpret_cast<__m256i*>(lanes), q);
    int32_t sum = 0;
    for (int l = 0; l < 8; ++l) {
        qs[l] = int8_t(lanes[l]);
        sum += lanes[l];
    }
    return sum;
}

} // namespace

void quantizeActivations(const float* x, int64_t n, ActivationBlock* out) {
    const __m256 signBit = _mm256_set1_ps(-0.0f);
    for (int64_t b = 0; b < n / kActivationBlock; ++b) {
        const float* xb = x + b * kActivationBlock;
        __m256 v[4];
        __m256 amax = _mm256_setzero_ps();
        for (int i = 0; i < 4; ++i) {
            v[i] = _mm256_loadu_ps(xb + 8 * i);
            amax = _mm256_max_ps(amax, _mm256_andnot_ps(signBit, v[i]));
        }
        const float maxAbs = maxLane(amax);
        const float d = maxAbs / 127.0f;
        const __m256 id = _mm256_set1_ps(maxAbs != 0.0f ? 127.0f / maxAbs : 0.0f);
        int32_t total = 0;
        for (int i = 0; i < 4; ++i)
            total +=
                storeCodes(_mm256_cvtps_epi32(_mm256_round_ps(_mm256_mul_ps(v[i], id), _MM_ROUND_NEAREST)),
                           out[b].qs + 8 * i);
        out[b].d = roundedToHalf(d);
        out[b].s = roundedToHalf(d * float(total));
    }
}

void quantizeActivationsPerToken(const float* x, int64_t n, ActivationBlock* out) {
    const __m256 signBit = _mm256_set1_ps(-0.0f);
    // max(|x|, amax) in this operand order ignores NaN as the scalar std::max(amax, |x|) does.
    __m256 amax = _mm256_setzero_ps();
    for (int64_t i = 0; i < n; i += 8)
        amax = _mm256_max_ps(_mm256_andnot_ps(signBit, _mm256_loadu_ps(x + i)), amax);
    const float maxAbs = maxLane(amax);
    const float d = maxAbs / 127.0f;
    const __m256 id = _mm256_set1_ps(maxAbs != 0.0f ? 127.0f / maxAbs : 0.0f);
    const __m256 lo = _mm256_set1_ps(-127.0f), hi = _mm256_set1_ps(127.0f);
    for (int64_t b = 0; b < n / kActivationBlock; ++b) {
        const float* xb = x + b * kActivationBlock;
        int32_t total = 0;
        for (int i = 0; i < 4; ++i) {
            __m256 r = _mm256_round_ps(_mm256_mul_ps(_mm256_loadu_ps(xb + 8 * i), id), _MM_ROUND_NEAREST);
            r = _mm256_min_ps(_mm256_max_ps(r, lo), hi); // (r > lo ? r : lo), then (r < hi ? r : hi)
            total += storeCodes(_mm256_cvtps_epi32(r), out[b].qs + 8 * i);
        }
        out[b].d = d;
        out[b].s = d * float(total);
    }
}

void dequantizeLq3(const uint8_t* row, float* out, int64_t n) {
    const __m256i shifts = _mm256_setr_epi32(0, 3, 6, 9, 12, 15, 18, 21), seven = _mm256_set1_epi32(7);
    for (int64_t b = 0; b < n / 64; ++b) {
        const uint8_t* p = row + b * 28;
        const __m256 d = _mm256_set1_ps(half(p)), m = _mm256_set1_ps(half(p + 2));
        for (int g = 0; g < 8; ++g)
            _mm256_storeu_ps(out + b * 64 + 8 * g, lq3Group(p + 4, g, d, m, shifts, seven));
    }
}

namespace {

template <DType kType, int kTokens>
void dotsOf(const uint8_t* row, const ActivationBlock* xs, int64_t xStride, int64_t nBlocks, float* out) {
    constexpr bool kOffset = kType == DType::Q4_1 || kType == DType::Q5_1;
    __m256 acc[kTokens];
    float offsets[kTokens];
    for (int t = 0; t < kTokens; ++t) {
        acc[t] = _mm256_setzero_ps();
        offsets[t] = 0.0f;
    }
    const __m256i ones = _mm256_set1_epi16(1);
    for (int64_t b = 0; b < nBlocks; ++b) {
        const Block w = loadBlock(kType, row, b);
        // The formats with an offset store unsigned weights (0..15, 0..31): they multiply the signed
        // activations directly. The others take |q| and move q's sign onto the activations, as ggml does.
        // Either way each int32 lane is the exact sum of its four products.
        const __m256i unsignedWeights = kOffset ? w.q : _mm256_sign_epi8(w.q, w.q);
        for (int t = 0; t < kTokens; ++t) {
            const ActivationBlock& x = xs[t * xStride + b];
            if (kOffset) offsets[t] += w.m * x.s;
            __m256i y = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x.qs));
            if (!kOffset) y = _mm256_sign_epi8(y, w.q);
            const __m256i lanes = _mm256_madd_epi16(_mm256_maddubs_epi16(unsignedWeights, y), ones);
            acc[t] = _mm256_fmadd_ps(_mm256_set1_ps(w.d * x.d), _mm256_cvtepi32_ps(lanes), acc[t]);
        }
    }
    for (int t = 0; t < kTokens; ++t)
        out[t] = kOffset ? total(acc[t]) + offsets[t] : total(acc[t]);
}

template <DType kType>
void dotsOfType(const uint8_t* row, const ActivationBlock* xs, int64_t xStride, int nTokens, int64_t nBlocks,
                float* out) {
    switch (nTokens) {
    case 1:
        return dotsOf<kType, 1>(row, xs, xStride, nBlocks, out);
    case 2:
        return dotsOf<kType, 2>(row, xs, xStride, nBlocks, out);
    case 3:
        return dotsOf<kType, 3>(row, xs, xStride, nBlocks, out);
    default:
        return dotsOf<kType, 4>(row, xs, xStride, nBlocks, out);
    }
}

// Lane kLane of each 128-bit half, broadcast within that half.
template <int kLane> inline __m256 laneOf(__m256 v) {
    return _mm256_permute_ps(v, kLane * 0x55);
}

// The float step of a four-row tile for one token and block: acc[r] += (rowScales[r] * xd) * lanes(r),
// lanes(r) being row r's eight exact int32 lanes. The scale products are one multiply for the four rows
// (the same float product as w.d * x.d) and each is broadcast from its lane of both 128-bit halves.
template <typename Lanes>
inline void addFourRows(__m128 rowScales, float xd, const Lanes& lanes, __m256* acc) {
    const __m128 products = _mm_mul_ps(rowScales, _mm_set1_ps(xd));
    const __m256 d = _mm256_set_m128(products, products);
    acc[0] = _mm256_fmadd_ps(laneOf<0>(d), _mm256_cvtepi32_ps(lanes(0)), acc[0]);
    acc[1] = _mm256_fmadd_ps(laneOf<1>(d), _mm256_cvtepi32_ps(lanes(1)), acc[1]);
    acc[2] = _mm256_fmadd_ps(laneOf<2>(d), _mm256_cvtepi32_ps(lanes(2)), acc[2]);
    acc[3] = _mm256_fmadd_ps(laneOf<3>(d), _mm256_cvtepi32_ps(lanes(3)), acc[3]);
}

// Four rows of a format without offset (Q4_0, Q5_0, Q8_0) against kTokens token rows, as llamafile's
// 4 x 2 tile runs on AVX2: the rows' blocks are unpacked once for every token, their four fp16 scales
// widened in one instruction and multiplied by the token's scale in one, and each token's block is
// loaded once for the four rows. Each pair still runs dotsOf's sequence (the scale product is the same
// float product), so the same bits.
template <DType kType, int kTokens>
void dots4Rows(const uint8_t* const* rows, const ActivationBlock* xs, int64_t xStride, int64_t nBlocks,
               float* out, int64_t outStride) {
    constexpr int64_t kBlockBytes = kIntegerBlockBytes<kType>;
    __m256 acc[kTokens][4];
    for (int t = 0; t < kTokens; ++t)
        for (int r = 0; r < 4; ++r)
            acc[t][r] = _mm256_setzero_ps();
    const __m256i ones = _mm256_set1_epi16(1);
    for (int64_t b = 0; b < nBlocks; ++b) {
        __m256i q[4];
        uint64_t scaleBits = 0;
        for (int r = 0; r < 4; ++r) {
            q[r] = loadBlock(kType, rows[r], b).q;
            uint16_t h;
            std::memcpy(&h, rows[r] + b * kBlockBytes, sizeof h); // every no-offset block starts with d
            scaleBits |= uint64_t(h) << (16 * r);
        }
        const __m128 scales = _mm_cvtph_ps(_mm_cvtsi64_si128(int64_t(scaleBits)));
        for (int t = 0; t < kTokens; ++t) {
            const ActivationBlock& x = xs[t * xStride + b];
            const __m256i y = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x.qs));
            addFourRows(
                scales, x.d,
                [&](int r) {
                    return _mm256_madd_epi16(
                        _mm256_maddubs_epi16(_mm256_sign_epi8(q[r], q[r]), _mm256_sign_epi8(y, q[r])), ones);
                },
                acc[t]);
        }
    }
    for (int t = 0; t < kTokens; ++t)
        for (int r = 0; r < 4; ++r)
            out[t * outStride + r] = total(acc[t][r]);
}

template <DType kType>
void dots4RowsOfType(const uint8_t* const* rows, const ActivationBlock* xs, int64_t xStride, int nTokens,
                     int64_t nBlocks, float* out, int64_t outStride) {
    if (nTokens == 1) return dots4Rows<kType, 1>(rows, xs, xStride, nBlocks, out, outStride);
    dots4Rows<kType, 2>(rows, xs, xStride, nBlocks, out, outStride);
}

// 32 signed 8-bit codes (elements 0..31) as an Int16Block: pairs[0] lane l holds elements 4l and 4l + 1,
// pairs[1] elements 4l + 2 and 4l + 3, so that madd of each half plus their sum is ggml's int32 lane l.
inline void widen(__m256i q, Int16Block& out) {
    const __m256i low = _mm256_cvtepi8_epi16(_mm256_castsi256_si128(q));       // elements 0..15
    const __m256i high = _mm256_cvtepi8_epi16(_mm256_extracti128_si256(q, 1)); // 16..31
    // Per 128-bit half, 32-bit words (element pairs) 0, 2, 1, 3: even pairs first.
    const __m256i lowSorted = _mm256_shuffle_epi32(low, 0xd8), highSorted = _mm256_shuffle_epi32(high, 0xd8);
    // Quads in the order 0, 1, 4, 5 | 2, 3, 6, 7, then put in order 0..7 across the halves.
    const __m256i even = _mm256_permute4x64_epi64(_mm256_unpacklo_epi64(lowSorted, highSorted), 0xd8);
    const __m256i odd = _mm256_permute4x64_epi64(_mm256_unpackhi_epi64(lowSorted, highSorted), 0xd8);
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(out.pairs[0]), even);
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(out.pairs[1]), odd);
}

// The 16-bit tile: four widened rows (block b of row r at rows[4b + r], scale at scales[4b + r]) against
// kTokens widened activation rows. Per pair and block: two madd and an add give ggml's eight exact int32
// lanes (maddubs then madd on |w| and sign-moved activations give the same integers), then the same
// conversion and fused multiply-add as dots4Rows, so the same bits; the sign steps and maddubs are gone.
// With kOffset (Q4_1), each pair also sums m * s over the blocks beside, as dotsOf does (a product, then
// an add, in block order), the four rows' in one register per token, and adds it at the end.
template <int kTokens, bool kOffset>
void int16Dots4RowsOf(const Int16Block* rows, const float* scales, const float* mins, const Int16Block* xw,
                      const ActivationBlock* xs, int64_t xStride, int64_t nBlocks, float* out,
                      int64_t outStride) {
    __m256 acc[kTokens][4];
    __m128 offsets[kTokens]; // lane r: row r's sum of m * s
    for (int t = 0; t < kTokens; ++t) {
        offsets[t] = _mm_setzero_ps();
        for (int r = 0; r < 4; ++r)
            acc[t][r] = _mm256_setzero_ps();
    }
    for (int64_t b = 0; b < nBlocks; ++b) {
        const __m128 rowScales = _mm_loadu_ps(scales + 4 * b);
        const Int16Block* w = rows + 4 * b;
        for (int t = 0; t < kTokens; ++t) {
            if constexpr (kOffset)
                offsets[t] = _mm_add_ps(
                    offsets[t], _mm_mul_ps(_mm_loadu_ps(mins + 4 * b), _mm_set1_ps(xs[t * xStride + b].s)));
            const Int16Block& y = xw[t * xStride + b];
            const __m256i y0 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(y.pairs[0]));
            const __m256i y1 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(y.pairs[1]));
            addFourRows(
                rowScales, xs[t * xStride + b].d,
                [&](int r) {
                    return _mm256_add_epi32(
                        _mm256_madd_epi16(
                            y0, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(w[r].pairs[0]))),
                        _mm256_madd_epi16(
                            y1, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(w[r].pairs[1]))));
                },
                acc[t]);
        }
    }
    for (int t = 0; t < kTokens; ++t) {
        alignas(16) float offsetLanes[4];
        _mm_store_ps(offsetLanes, offsets[t]);
        for (int r = 0; r < 4; ++r)
            out[t * outStride + r] = kOffset ? total(acc[t][r]) + offsetLanes[r] : total(acc[t][r]);
    }
}

template <DType kType> struct FormatTag { static constexpr DType value = kType; };

// Calls fn(FormatTag<F>{}) for the integer-dot format F of `type` (Q4_0, Q4_1, Q5_0, Q5_1; else Q8_0).
template <typename Fn> void withIntegerDotFormat(DType type, Fn&& fn) {
    switch (type) {
    case DType::Q4_0:
        return fn(FormatTag<DType::Q4_0>{});
    case DType::Q4_1:
        return fn(FormatTag<DType::Q4_1>{});
    case DType::Q5_0:
        return fn(FormatTag<DType::Q5_0>{});
    case DType::Q5_1:
        return fn(FormatTag<DType::Q5_1>{});
    default:
        return fn(FormatTag<DType::Q8_0>{});
    }
}

// Four consecutive rows against one activation row (decode), their blocks interleaved. Each row runs
// dotsOf's sequence, so the same bits; what is shared is bookkeeping: the activation block is loaded
// once, and the rows' fp16 scales and offsets (the first four bytes of every block: d, then m or the
// first quant bytes) are widened in one instruction and multiplied by the activation's d and s in one:
// lane 2r holds d_r * x.d, lane 2r + 1 m_r * x.s (unused for the formats without an offset). The four
// chains of fused multiply-adds are independent, so they overlap.
template <DType kType>
void dots4RowsOneToken(const uint8_t* first, uint64_t rowStride, const ActivationBlock* x, int64_t nBlocks,
                       float* out) {
    constexpr bool kOffset = kType == DType::Q4_1 || kType == DType::Q5_1;
    constexpr int64_t kBlockBytes = kIntegerBlockBytes<kType>;
    const uint8_t* rows[4] = {first, first + rowStride, first + 2 * rowStride, first + 3 * rowStride};
    __m256 acc[4];
    for (int r = 0; r < 4; ++r)
        acc[r] = _mm256_setzero_ps();
    __m256 offsets = _mm256_setzero_ps(); // lane 2r + 1: row r's sum of m * s
    const __m256i ones = _mm256_set1_epi16(1);
    const __m256i lane[4] = {_mm256_set1_epi32(0), _mm256_set1_epi32(2), _mm256_set1_epi32(4),
                             _mm256_set1_epi32(6)};
    NextRowsPrefetcher prefetcher(first + 4 * rowStride, 4 * rowStride, nBlocks);
    for (int64_t b = 0; b < nBlocks; ++b) {
        prefetcher.step(b);
        const ActivationBlock& xb = x[b];
        const __m256i y = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(xb.qs));
        uint32_t heads[4];
        for (int r = 0; r < 4; ++r)
            std::memcpy(&heads[r], rows[r] + b * kBlockBytes, sizeof heads[r]);
        __m256 products;
        if constexpr (kOffset) {
            const __m128i packed = _mm_setr_epi32(int(heads[0]), int(heads[1]), int(heads[2]), int(heads[3]));
            const __m256 factors = _mm256_setr_ps(xb.d, xb.s, xb.d, xb.s, xb.d, xb.s, xb.d, xb.s);
            products = _mm256_mul_ps(_mm256_cvtph_ps(packed), factors);
            offsets = _mm256_add_ps(offsets, products);
        } else { // only the four d: lanes r and r + 4 hold d_r * x.d
            const uint64_t scaleBits = uint64_t(heads[0] & 0xffff) | uint64_t(heads[1] & 0xffff) << 16 |
                                       uint64_t(heads[2] & 0xffff) << 32 | uint64_t(heads[3] & 0xffff) << 48;
            const __m128 d =
                _mm_mul_ps(_mm_cvtph_ps(_mm_cvtsi64_si128(int64_t(scaleBits))), _mm_set1_ps(xb.d));
            products = _mm256_set_m128(d, d);
        }
        auto scaleOf = [&](int r) {
            if constexpr (kOffset) return _mm256_permutevar8x32_ps(products, lane[r]);
            switch (r) {
            case 0:
                return laneOf<0>(products);
            case 1:
                return laneOf<1>(products);
            case 2:
                return laneOf<2>(products);
            default:
                return laneOf<3>(products);
            }
        };
        for (int r = 0; r < 4; ++r) {
            const __m256i q = loadBlock(kType, rows[r], b).q;
            const __m256i unsignedWeights = kOffset ? q : _mm256_sign_epi8(q, q);
            const __m256i signedActivations = kOffset ? y : _mm256_sign_epi8(y, q);
            const __m256i lanes =
                _mm256_madd_epi16(_mm256_maddubs_epi16(unsignedWeights, signedActivations), ones);
            acc[r] = _mm256_fmadd_ps(scaleOf(r), _mm256_cvtepi32_ps(lanes), acc[r]);
        }
    }
    alignas(32) float offsetLanes[8];
    _mm256_store_ps(offsetLanes, offsets);
    for (int r = 0; r < 4; ++r)
        out[r] = kOffset ? total(acc[r]) + offsetLanes[2 * r + 1] : total(acc[r]);
}

template <DType kType>
void rowsOneTokenOfType(const uint8_t* first, uint64_t rowStride, int64_t nRows, const ActivationBlock* x,
                        int64_t nBlocks, float* out) {
    int64_t r = 0;
    for (; r + 4 <= nRows; r += 4)
        dots4RowsOneToken<kType>(first + uint64_t(r) * rowStride, rowStride, x, nBlocks, out + r);
    for (; r < nRows; ++r)
        dotsOf<kType, 1>(first + uint64_t(r) * rowStride, x, nBlocks, nBlocks, out + r);
}

} // namespace

void quantizedDotsRows(DType type, const uint8_t* first, uint64_t rowStride, int64_t nRows,
                       const ActivationBlock* x, int64_t nBlocks, float* out) {
    withIntegerDotFormat(type, [&](auto format) {
        rowsOneTokenOfType<decltype(format)::value>(first, rowStride, nRows, x, nBlocks, out);
    });
}

// Q8_0 and Q4_0 only: on Q5_0 the tile measured no faster than row by row (its unpacking dominates).
bool quantizedDots4RowsSupported(DType type) {
    return type == DType::Q4_0 || type == DType::Q5_0 || type == DType::Q8_0;
}

void quantizedDots4Rows(DType type, const uint8_t* const* rows, const ActivationBlock* xs, int64_t xStride,
                        int nTokens, int64_t nBlocks, float* out, int64_t outStride) {
    if (type == DType::Q4_0)
        return dots4RowsOfType<DType::Q4_0>(rows, xs, xStride, nTokens, nBlocks, out, outStride);
    if (type == DType::Q5_0)
        return dots4RowsOfType<DType::Q5_0>(rows, xs, xStride, nTokens, nBlocks, out, outStride);
    dots4RowsOfType<DType::Q8_0>(rows, xs, xStride, nTokens, nBlocks, out, outStride);
}

void widenActivations(const ActivationBlock* x, int64_t n, Int16Block* out) {
    for (int64_t i = 0; i < n; ++i)
        widen(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(x[i].qs)), out[i]);
}

bool int16TileSupported(DType type) {
    return quantizedDots4RowsSupported(type) || type == DType::Q4_1;
}

void widenRows4(DType type, const uint8_t* const* rows, int64_t nBlocks, Int16Block* out, float* scales,
                float* mins) {
    if (!int16TileSupported(type) || (type == DType::Q4_1 && mins == nullptr))
        fail(ErrorCategory::Internal, "widenRows4 takes Q4_0, Q5_0, Q8_0 or Q4_1 (with mins), not {}",
             dtypeName(type));
    withIntegerDotFormat(type, [&](auto format) {
        constexpr DType kType = decltype(format)::value;
        for (int64_t b = 0; b < nBlocks; ++b)
            for (int r = 0; r < 4; ++r) {
                const Block w = loadBlock(kType, rows[r], b);
                widen(w.q, out[4 * b + r]);
                scales[4 * b + r] = w.d;
                if constexpr (kType == DType::Q4_1) mins[4 * b + r] = w.m;
            }
    });
}

void int16Dots4Rows(const Int16Block* rows, const float* scales, const float* mins, const Int16Block* xw,
                    const ActivationBlock* xs, int64_t xStride, int nTokens, int64_t nBlocks, float* out,
                    int64_t outStride) {
    if (mins != nullptr) {
        if (nTokens == 1)
            return int16Dots4RowsOf<1, true>(rows, scales, mins, xw, xs, xStride, nBlocks, out, outStride);
        return int16Dots4RowsOf<2, true>(rows, scales, mins, xw, xs, xStride, nBlocks, out, outStride);
    }
    if (nTokens == 1)
        return int16Dots4RowsOf<1, false>(rows, scales, mins, xw, xs, xStride, nBlocks, out, outStride);
    int16Dots4RowsOf<2, false>(rows, scales, mins, xw, xs, xStride, nBlocks, out, outStride);
}

void quantizedDots(DType type, const uint8_t* row, const ActivationBlock* xs, int64_t xStride, int nTokens,
                   int64_t nBlocks, float* out) {
    withIntegerDotFormat(type, [&](auto format) {
        dotsOfType<decltype(format)::value>(row, xs, xStride, nTokens, nBlocks, out);
    });
}

namespace {

template <DType kType> inline __m256 loadWeights8(const void* w, int64_t i) {
    if constexpr (kType == DType::F16) {
        return _mm256_cvtph_ps(
            _mm_loadu_si128(reinterpret_cast<const __m128i*>(static_cast<const uint16_t*>(w) + i)));
    } else if constexpr (kType == DType::BF16) {
        const __m128i h =
            _mm_loadu_si128(reinterpret_cast<const __m128i*>(static_cast<const uint16_t*>(w) + i));
        return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
    } else {
        return _mm256_loadu_ps(static_cast<const float*>(w) + i);
    }
}

template <DType kType> inline float loadWeight(const void* w, int64_t i) {
    if constexpr (kType == DType::F16) {
        return _cvtsh_ss(static_cast<const uint16_t*>(w)[i]);
    } else if constexpr (kType == DType::BF16) {
        const uint32_t bits = uint32_t(static_cast<const uint16_t*>(w)[i]) << 16;
        float f;
        std::memcpy(&f, &bits, sizeof f);
        return f;
    } else {
        return static_cast<const float*>(w)[i];
    }
}

template <DType kType> constexpr int kWeightBytes = kType == DType::F32 ? 4 : 2;

// ggml::hsum8's grouping in registers, as llamafile's hsum(__m256) computes it.
inline float reduceLanes8(__m256 acc) {
    __m128 x = _mm_add_ps(_mm256_extractf128_ps(acc, 1), _mm256_castps256_ps128(acc));
    x = _mm_add_ps(x, _mm_movehl_ps(x, x));
    x = _mm_add_ss(x, _mm_movehdup_ps(x));
    return _mm_cvtss_f32(x);
}

// kRows rows of w against kTokens rows of x: kRows x kTokens accumulators in registers, each the
// eight-lane fused sum of its own pair, so a tile gives what dotLanes8 gives pair by pair.
template <DType kType, int kRows, int kTokens>
void floatTile(const void* const* rows, const float* const* xs, int64_t n, float* out, int64_t outStride) {
    __m256 acc[kRows][kTokens];
    for (int r = 0; r < kRows; ++r)
        for (int t = 0; t < kTokens; ++t)
            acc[r][t] = _mm256_setzero_ps();
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 x[kTokens];
        for (int t = 0; t < kTokens; ++t)
            x[t] = _mm256_loadu_ps(xs[t] + i);
        if constexpr (kTokens == 1) {
            // Decode reads each row once, and a tile's rows are short separate streams that the
            // hardware prefetcher keeps losing: fetch the memory after the last row (the next tile's
            // rows, for a matrix stored row after row) at the tile's own pace, two lines a step.
            const char* next = static_cast<const char*>(rows[kRows - 1]) + n * kWeightBytes<kType> +
                               (i / 8) * 2 * 64 * kRows / 8;
            _mm_prefetch(next, _MM_HINT_T0);
            _mm_prefetch(next + 64, _MM_HINT_T0);
        }
        for (int r = 0; r < kRows; ++r) {
            const __m256 w = loadWeights8<kType>(rows[r], i);
            for (int t = 0; t < kTokens; ++t)
                acc[r][t] = _mm256_fmadd_ps(w, x[t], acc[r][t]);
        }
    }
    for (int r = 0; r < kRows; ++r)
        for (int t = 0; t < kTokens; ++t) {
            float sum = reduceLanes8(acc[r][t]);
            for (int64_t k = i; k < n; ++k)
                sum = _mm_cvtss_f32(_mm_fmadd_ss(_mm_set_ss(loadWeight<kType>(rows[r], k)),
                                                 _mm_set_ss(xs[t][k]), _mm_set_ss(sum)));
            out[t * outStride + r] = sum;
        }
}

template <DType kType, int kRows>
void floatTileRows(const void* const* rows, const float* const* xs, int nTokens, int64_t n, float* out,
                   int64_t outStride) {
    switch (nTokens) {
    case 1:
        return floatTile<kType, kRows, 1>(rows, xs, n, out, outStride);
    case 2:
        return floatTile<kType, kRows, 2>(rows, xs, n, out, outStride);
    default:
        return floatTile<kType, kRows, 3>(rows, xs, n, out, outStride);
    }
}

template <DType kType>
void floatTileOfType(const void* const* rows, int nRows, const float* const* xs, int nTokens, int64_t n,
                     float* out, int64_t outStride) {
    if (nRows > 4) {
        if (nRows == 8 && nTokens == 1) return floatTile<kType, 8, 1>(rows, xs, n, out, outStride);
        floatTileOfType<kType>(rows, 4, xs, nTokens, n, out, outStride);
        return floatTileOfType<kType>(rows + 4, nRows - 4, xs, nTokens, n, out + 4, outStride);
    }
    switch (nRows) {
    case 1:
        return floatTileRows<kType, 1>(rows, xs, nTokens, n, out, outStride);
    case 2:
        return floatTileRows<kType, 2>(rows, xs, nTokens, n, out, outStride);
    case 3:
        return floatTileRows<kType, 3>(rows, xs, nTokens, n, out, outStride);
    default:
        return floatTileRows<kType, 4>(rows, xs, nTokens, n, out, outStride);
    }
}

// floatTileOfType over nTokens activation rows x + t * xStride, three at a time (the rest two or one),
// as a caller looping over the tiles would: four-row tiles run the 4 x 3 kernel inline, so a prefill
// pays one call per row tile and token block instead of one per 4 x 3 tile (F16 SmolLM2 pp512: the
// calls' prologues took ~7% of the time).
template <DType kType>
void floatRunOfType(const void* const* rows, int nRows, const float* x, int64_t xStride, int nTokens,
                    int64_t n, float* out, int64_t outStride) {
    int t0 = 0;
    if (nRows == 4)
        for (; t0 + 3 <= nTokens; t0 += 3) {
            const float* xs[3] = {x + t0 * xStride, x + (t0 + 1) * xStride, x + (t0 + 2) * xStride};
            floatTile<kType, 4, 3>(rows, xs, n, out + t0 * outStride, outStride);
        }
    for (; t0 < nTokens; t0 += 3) {
        const int nt = nTokens - t0 < 3 ? nTokens - t0 : 3;
        const float* xs[3];
        for (int t = 0; t < nt; ++t)
            xs[t] = x + (t0 + t) * xStride;
        floatTileOfType<kType>(rows, nRows, xs, nt, n, out + t0 * outStride, outStride);
    }
}

} // namespace

float dotLanes8(DType type, const void* w, const float* x, int64_t n) {
    float out;
    floatDots(type, &w, 1, &x, 1, n, &out, 1);
    return out;
}

namespace {

// ggml_vec_dot_f16 for kRows rows against one fp16 row: per row four accumulators of eight lanes over
// 32-element steps, GGML_F32Cx8_REDUCE, the n % 32 tail added in double as ggml does.
template <int kRows> void f16RowsGgml(const uint16_t* const* rows, const uint16_t* x, int64_t n, float* out) {
    __m256 acc[kRows][4];
    for (int r = 0; r < kRows; ++r)
        for (int a = 0; a < 4; ++a)
            acc[r][a] = _mm256_setzero_ps();
    const int64_t whole = n & ~int64_t(31);
    for (int64_t i = 0; i < whole; i += 32) {
        // Decode streams each row once: fetch what follows the last row (the next rows of a matrix
        // stored row after row) at this group's pace, as floatTile's decode does.
        const char* next = reinterpret_cast<const char*>(rows[kRows - 1] + n) + (i / 32) * 64 * kRows;
        for (int l = 0; l < kRows; ++l)
            _mm_prefetch(next + 64 * l, _MM_HINT_T0);
        for (int a = 0; a < 4; ++a) {
            const __m256 xv = loadWeights8<DType::F16>(x, i + 8 * a); // the same widening
            for (int r = 0; r < kRows; ++r)
                acc[r][a] = _mm256_fmadd_ps(loadWeights8<DType::F16>(rows[r], i + 8 * a), xv, acc[r][a]);
        }
    }
    for (int r = 0; r < kRows; ++r) {
        const __m256 x0 =
            _mm256_add_ps(_mm256_add_ps(acc[r][0], acc[r][2]), _mm256_add_ps(acc[r][1], acc[r][3]));
        const __m128 t0 = _mm_add_ps(_mm256_castps256_ps128(x0), _mm256_extractf128_ps(x0, 1));
        const __m128 t1 = _mm_hadd_ps(t0, t0);
        double sum = _mm_cvtss_f32(_mm_hadd_ps(t1, t1));
        for (int64_t k = whole; k < n; ++k)
            sum += double(_cvtsh_ss(rows[r][k]) * _cvtsh_ss(x[k]));
        out[r] = float(sum);
    }
}

} // namespace

void f16DotsGgml(const void* const* rows, int nRows, const uint16_t* x, int64_t n, float* out) {
    const uint16_t* const* r = reinterpret_cast<const uint16_t* const*>(rows);
    int done = 0;
    for (; nRows - done >= 3; done += 3)
        f16RowsGgml<3>(r + done, x, n, out + done);
    if (nRows - done == 2) f16RowsGgml<2>(r + done, x, n, out + done);
    if (nRows - done == 1) f16RowsGgml<1>(r + done, x, n, out + done);
}

void toFp16(const float* x, uint16_t* out, int64_t n) {
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm_storeu_si128(reinterpret_cast<__m128i*>(out + i),
                         _mm256_cvtps_ph(_mm256_loadu_ps(x + i), _MM_FROUND_TO_NEAREST_INT));
    for (; i < n; ++i)
        out[i] = _cvtss_sh(x[i], _MM_FROUND_TO_NEAREST_INT);
}

void toFloat(DType type, const void* row, float* out, int64_t n) {
    int64_t i = 0;
    if (type == DType::F16) {
        for (; i + 8 <= n; i += 8)
            _mm256_storeu_ps(out + i, loadWeights8<DType::F16>(row, i));
        for (; i < n; ++i)
            out[i] = loadWeight<DType::F16>(row, i);
    } else {
        for (; i + 8 <= n; i += 8)
            _mm256_storeu_ps(out + i, loadWeights8<DType::BF16>(row, i));
        for (; i < n; ++i)
            out[i] = loadWeight<DType::BF16>(row, i);
    }
}

void roundThroughFp16(const float* x, float* out, int64_t n) {
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(out + i,
                         _mm256_cvtph_ps(_mm256_cvtps_ph(_mm256_loadu_ps(x + i), _MM_FROUND_TO_NEAREST_INT)));
    for (; i < n; ++i)
        out[i] = _cvtsh_ss(_cvtss_sh(x[i], _MM_FROUND_TO_NEAREST_INT));
}

void floatDots(DType type, const void* const* rows, int nRows, const float* const* xs, int nTokens, int64_t n,
               float* out, int64_t outStride) {
    switch (type) {
    case DType::F16:
        return floatTileOfType<DType::F16>(rows, nRows, xs, nTokens, n, out, outStride);
    case DType::BF16:
        return floatTileOfType<DType::BF16>(rows, nRows, xs, nTokens, n, out, outStride);
    default:
        return floatTileOfType<DType::F32>(rows, nRows, xs, nTokens, n, out, outStride);
    }
}

void floatDotsRun(DType type, const void* const* rows, int nRows, const float* x, int64_t xStride,
                  int nTokens, int64_t n, float* out, int64_t outStride) {
    switch (type) {
    case DType::F16:
        return floatRunOfType<DType::F16>(rows, nRows, x, xStride, nTokens, n, out, outStride);
    case DType::BF16:
        return floatRunOfType<DType::BF16>(rows, nRows, x, xStride, nTokens, n, out, outStride);
    default:
        return floatRunOfType<DType::F32>(rows, nRows, x, xStride, nTokens, n, out, outStride);
    }
}

namespace {

// lq3Dots for kRows rows: floatTile<F32, kRows, 1>'s order on weights decoded in registers.
template <int kRows> void lq3Tile(const uint8_t* const* rows, const float* x, int64_t n, float* out) {
    const __m256i shifts = _mm256_setr_epi32(0, 3, 6, 9, 12, 15, 18, 21), seven = _mm256_set1_epi32(7);
    __m256 acc[kRows];
    for (int r = 0; r < kRows; ++r)
        acc[r] = _mm256_setzero_ps();
    for (int64_t b = 0; b < n / 64; ++b) {
        __m256 d[kRows], m[kRows];
        for (int r = 0; r < kRows; ++r) {
            d[r] = _mm256_set1_ps(half(rows[r] + b * 28));
            m[r] = _mm256_set1_ps(half(rows[r] + b * 28 + 2));
        }
        for (int g = 0; g < 8; ++g) {
            const __m256 xv = _mm256_loadu_ps(x + b * 64 + 8 * g);
            for (int r = 0; r < kRows; ++r)
                acc[r] =
                    _mm256_fmadd_ps(lq3Group(rows[r] + b * 28 + 4, g, d[r], m[r], shifts, seven), xv, acc[r]);
        }
    }
    for (int r = 0; r < kRows; ++r)
        out[r] = reduceLanes8(acc[r]);
}

} // namespace

void lq3Dots(const uint8_t* const* rows, int nRows, const float* x, int64_t n, float* out) {
    switch (nRows) {
    case 8:
        return lq3Tile<8>(rows, x, n, out);
    case 4:
        lq3Tile<4>(rows, x, n, out);
        return;
    default:
        for (int r = 0; r < nRows; ++r)
            lq3Tile<1>(rows + r, x, n, out + r);
    }
}

float dotF32Fused(const float* x, const float* y, int64_t n) {
    __m256 acc[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};
    const int64_t whole = n & ~int64_t(31);
    for (int64_t i = 0; i < whole; i += 32)
        for (int a = 0; a < 4; ++a)
            acc[a] = _mm256_fmadd_ps(_mm256_loadu_ps(x + i + 8 * a), _mm256_loadu_ps(y + i + 8 * a), acc[a]);
    // GGML_F32x8_REDUCE: (0 + 2) + (1 + 3) lane-wise, then halves, then two horizontal adds.
    const __m256 x0 = _mm256_add_ps(_mm256_add_ps(acc[0], acc[2]), _mm256_add_ps(acc[1], acc[3]));
    alignas(32) float l[8];
    _mm256_store_ps(l, x0);
    const float t0 = l[0] + l[4], t1 = l[1] + l[5], t2 = l[2] + l[6], t3 = l[3] + l[7];
    float sum = (t0 + t1) + (t2 + t3);
    for (int64_t i = whole; i < n; ++i)
        sum += x[i] * y[i];
    return sum;
}

void dotsF32Fused(const float* const* xs, int count, const float* y, int64_t n, float* out) {
    const int64_t whole = n & ~int64_t(31);
    int done = 0;
    while (done < count) { // two queries at a time: 8 accumulators in registers
        const int now = count - done >= 2 ? 2 : 1;
        __m256 acc[2][4];
        for (int g = 0; g < now; ++g)
            for (int a = 0; a < 4; ++a)
                acc[g][a] = _mm256_setzero_ps();
        for (int64_t i = 0; i < whole; i += 32)
            for (int a = 0; a < 4; ++a) {
                const __m256 yv = _mm256_loadu_ps(y + i + 8 * a);
                for (int g = 0; g < now; ++g)
                    acc[g][a] = _mm256_fmadd_ps(_mm256_loadu_ps(xs[done + g] + i + 8 * a), yv, acc[g][a]);
            }
        for (int g = 0; g < now; ++g) {
            const __m256 x0 =
                _mm256_add_ps(_mm256_add_ps(acc[g][0], acc[g][2]), _mm256_add_ps(acc[g][1], acc[g][3]));
            alignas(32) float l[8];
            _mm256_store_ps(l, x0);
            const float t0 = l[0] + l[4], t1 = l[1] + l[5], t2 = l[2] + l[6], t3 = l[3] + l[7];
            float sum = (t0 + t1) + (t2 + t3);
            for (int64_t i = whole; i < n; ++i)
                sum += xs[done + g][i] * y[i];
            out[done + g] = sum;
        }
        done += now;
    }
}

void fmaIntoMany(float* const* accs, const float* v, const float* ps, int count, int64_t n) {
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        const __m256 vv = _mm256_loadu_ps(v + i);
        for (int g = 0; g < count; ++g)
            _mm256_storeu_ps(accs[g] + i,
                             _mm256_fmadd_ps(vv, _mm256_set1_ps(ps[g]), _mm256_loadu_ps(accs[g] + i)));
    }
    for (; i < n; ++i)
        for (int g = 0; g < count; ++g)
            accs[g][i] =
                _mm_cvtss_f32(_mm_fmadd_ss(_mm_set_ss(v[i]), _mm_set_ss(ps[g]), _mm_set_ss(accs[g][i])));
}

namespace {

// queriesAgainstKeys for a whole group of eight keys of kSteps * 32 floats: the steps unrolled and
// the reductions inlined (1.5x faster than the general loop on 3 queries x 64 floats; micro-benchmark,
// 512 cached keys: 4.4 -> 3.0 ns per query-key pair). The same operations in the same order.
template <int kQueries, int kSteps>
void queriesAgainstEightKeys(const float* const* xs, const float* const* ys, float* out) {
    const __m256 zero = _mm256_setzero_ps();
    __m256 reduced[kQueries][8];
    for (int s = 0; s < 8; ++s) {
        const float* y = ys[s];
        __m256 acc[kQueries][4];
        for (int step = 0; step < kSteps; ++step) {
            __m256 yv[4];
            for (int a = 0; a < 4; ++a)
                yv[a] = _mm256_loadu_ps(y + 32 * step + 8 * a);
            for (int g = 0; g < kQueries; ++g)
                for (int a = 0; a < 4; ++a)
                    acc[g][a] = _mm256_fmadd_ps(_mm256_loadu_ps(xs[g] + 32 * step + 8 * a), yv[a],
                                                step == 0 ? zero : acc[g][a]);
        }
        for (int g = 0; g < kQueries; ++g)
            reduced[g][s] =
                _mm256_add_ps(_mm256_add_ps(acc[g][0], acc[g][2]), _mm256_add_ps(acc[g][1], acc[g][3]));
    }
    for (int g = 0; g < kQueries; ++g)
        _mm256_storeu_ps(out + g * 8, reduceEightDots(reduced[g]));
}

// kQueries queries against eight keys: each key's 32-float steps are loaded once for all queries.
template <int kQueries>
void queriesAgainstKeys(const float* const* xs, const float* const* ys, int count, int64_t n, float* out) {
    if (count == 8) {
        switch (n) {
        case 64:
            return queriesAgainstEightKeys<kQueries, 2>(xs, ys, out);
        case 128:
            return queriesAgainstEightKeys<kQueries, 4>(xs, ys, out);
        default:
            break;
        }
    }
    const int64_t whole = n & ~int64_t(31);
    __m256 reduced[kQueries][8];
    for (int s = 0; s < 8; ++s) {
        const float* y = ys[s < count ? s : 0];
        __m256 acc[kQueries][4];
        for (int g = 0; g < kQueries; ++g)
            for (int a = 0; a < 4; ++a)
                acc[g][a] = _mm256_setzero_ps();
        for (int64_t i = 0; i < whole; i += 32) {
            __m256 yv[4];
            for (int a = 0; a < 4; ++a)
                yv[a] = _mm256_loadu_ps(y + i + 8 * a);
            for (int g = 0; g < kQueries; ++g)
                for (int a = 0; a < 4; ++a)
                    acc[g][a] = _mm256_fmadd_ps(_mm256_loadu_ps(xs[g] + i + 8 * a), yv[a], acc[g][a]);
        }
        for (int g = 0; g < kQueries; ++g)
            reduced[g][s] =
                _mm256_add_ps(_mm256_add_ps(acc[g][0], acc[g][2]), _mm256_add_ps(acc[g][1], acc[g][3]));
    }
    for (int g = 0; g < kQueries; ++g) {
        alignas(32) float sums[8];
        _mm256_store_ps(sums, reduceEightDots(reduced[g]));
        for (int s = 0; s < count; ++s) {
            float sum = sums[s];
            for (int64_t i = whole; i < n; ++i)
                sum += xs[g][i] * ys[s][i];
            out[g * 8 + s] = sum;
        }
    }
}

} // namespace

void dotsF32FusedTransposed(const float* x, const float* const* ys, int count, int64_t n, float* out) {
    queriesAgainstKeys<1>(&x, ys, count, n, out);
}

void queriesDotsF32FusedTransposed(const float* const* xs, int nQueries, const float* const* ys, int count,
                                   int64_t n, float* out) {
    int g = 0;
    if (nQueries % 2 == 1 && nQueries >= 3) {
        queriesAgainstKeys<3>(xs, ys, count, n, out);
        g = 3;
    }
    for (; g < nQueries; g += 2) {
        if (nQueries - g >= 2)
            queriesAgainstKeys<2>(xs + g, ys, count, n, out + g * 8);
        else
            queriesAgainstKeys<1>(xs + g, ys, count, n, out + g * 8);
    }
}

void weightedSumLanes8(const float* const* values, const float* p, int count, int64_t n, float* out) {
    for (int64_t c = 0; c + 8 <= n; c += 8) {
        __m256 acc[8];
        for (int l = 0; l < 8; ++l)
            acc[l] = _mm256_setzero_ps();
        int i = 0;
        for (; i + 8 <= count; i += 8)
            for (int l = 0; l < 8; ++l)
                acc[l] = _mm256_fmadd_ps(_mm256_loadu_ps(values[i + l] + c), _mm256_broadcast_ss(p + i + l),
                                         acc[l]);
        for (int l = 0; i + l < count; ++l)
            acc[l] =
                _mm256_fmadd_ps(_mm256_loadu_ps(values[i + l] + c), _mm256_broadcast_ss(p + i + l), acc[l]);
        // ggml::hsum8 across the lanes, element by element: ((4+0)+(6+2)) + ((5+1)+(7+3)).
        const __m256 t0 = _mm256_add_ps(acc[4], acc[0]), t1 = _mm256_add_ps(acc[5], acc[1]);
        const __m256 t2 = _mm256_add_ps(acc[6], acc[2]), t3 = _mm256_add_ps(acc[7], acc[3]);
        _mm256_storeu_ps(out + c, _mm256_add_ps(_mm256_add_ps(t0, t2), _mm256_add_ps(t1, t3)));
    }
}

void weightedSum4x8Lanes(const float* const* values, const float* p, int count, int64_t n, float* out) {
    for (int64_t c = 0; c + 8 <= n; c += 8) {
        // One accumulator a at a time (its eight lanes in registers): cells 32j + 8a + l, in order.
        __m256 sums[4][8];
        for (int a = 0; a < 4; ++a) {
            __m256 acc[8];
            for (int l = 0; l < 8; ++l)
                acc[l] = _mm256_setzero_ps();
            int i = 8 * a;
            for (; i + 8 <= count; i += 32)
                for (int l = 0; l < 8; ++l)
                    acc[l] = _mm256_fmadd_ps(_mm256_loadu_ps(values[i + l] + c),
                                             _mm256_broadcast_ss(p + i + l), acc[l]);
            for (int l = 0; i + l < count && l < 8; ++l)
                acc[l] = _mm256_fmadd_ps(_mm256_loadu_ps(values[i + l] + c), _mm256_broadcast_ss(p + i + l),
                                         acc[l]);
            for (int l = 0; l < 8; ++l)
                sums[a][l] = acc[l];
        }
        // ggml::reduce4x8 element by element: x[l] = (a0 + a2) + (a1 + a3), t_k = x[k] + x[k + 4],
        // then (t0 + t1) + (t2 + t3).
        __m256 x[8];
        for (int l = 0; l < 8; ++l)
            x[l] =
                _mm256_add_ps(_mm256_add_ps(sums[0][l], sums[2][l]), _mm256_add_ps(sums[1][l], sums[3][l]));
        const __m256 t0 = _mm256_add_ps(x[0], x[4]), t1 = _mm256_add_ps(x[1], x[5]);
        const __m256 t2 = _mm256_add_ps(x[2], x[6]), t3 = _mm256_add_ps(x[3], x[7]);
        _mm256_storeu_ps(out + c, _mm256_add_ps(_mm256_add_ps(t0, t1), _mm256_add_ps(t2, t3)));
    }
}

namespace {

// ggml::hsum8's order across the eight lanes: ((4+0)+(6+2)) + ((5+1)+(7+3)).
inline float reduceHsum8(__m256 acc) {
    alignas(32) float l[8];
    _mm256_store_ps(l, acc);
    return ((l[4] + l[0]) + (l[6] + l[2])) + ((l[5] + l[1]) + (l[7] + l[3]));
}

// kRows x kTokens dots with lane i % 8, the last partial group of cells loaded under a mask (the lanes
// past n add fma(0, 0, acc), which leaves acc as it is: it is never -0).
// One step of eight cells; masked: only the lanes `mask` selects are read (the others load 0).
template <int kRows, int kTokens, bool kMasked>
inline void cellStep(const float* const* rows, const float* const* xs, int64_t i, __m256i mask,
                     __m256 (&acc)[kRows][kTokens]) {
    __m256 x[kTokens];
    for (int t = 0; t < kTokens; ++t)
        x[t] = kMasked ? _mm256_maskload_ps(xs[t] + i, mask) : _mm256_loadu_ps(xs[t] + i);
    for (int r = 0; r < kRows; ++r) {
        const __m256 w = kMasked ? _mm256_maskload_ps(rows[r] + i, mask) : _mm256_loadu_ps(rows[r] + i);
        for (int t = 0; t < kTokens; ++t)
            acc[r][t] = _mm256_fmadd_ps(w, x[t], acc[r][t]);
    }
}

// kRows x kTokens dots with lane i % 8, the last partial group of cells loaded under a mask (the lanes
// past n add fma(0, 0, acc), which leaves acc as it is: it is never -0).
template <int kRows, int kTokens>
void cellTile(const float* const* rows, const float* const* xs, int64_t n, float* out, int64_t outStride) {
    __m256 acc[kRows][kTokens];
    for (int r = 0; r < kRows; ++r)
        for (int t = 0; t < kTokens; ++t)
            acc[r][t] = _mm256_setzero_ps();
    const __m256i all = _mm256_set1_epi32(-1);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        cellStep<kRows, kTokens, false>(rows, xs, i, all, acc);
    if (i < n) {
        const __m256i mask =
            _mm256_cmpgt_epi32(_mm256_set1_epi32(int(n - i)), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
        cellStep<kRows, kTokens, true>(rows, xs, i, mask, acc);
    }
    for (int r = 0; r < kRows; ++r)
        for (int t = 0; t < kTokens; ++t)
            out[t * outStride + r] = reduceHsum8(acc[r][t]);
}

template <int kRows>
void cellTileRows(const float* const* rows, const float* const* xs, int nTokens, int64_t n, float* out,
                  int64_t outStride) {
    switch (nTokens) {
    case 1:
        return cellTile<kRows, 1>(rows, xs, n, out, outStride);
    case 2:
        return cellTile<kRows, 2>(rows, xs, n, out, outStride);
    default:
        return cellTile<kRows, 3>(rows, xs, n, out, outStride);
    }
}

} // namespace

void cellLaneDots(const float* const* rows, int nRows, const float* const* xs, int nTokens, int64_t n,
                  float* out, int64_t outStride) {
    for (int t0 = 0; t0 < nTokens; t0 += 3) {
        const int nt = nTokens - t0 < 3 ? nTokens - t0 : 3;
        for (int r0 = 0; r0 < nRows; r0 += 4) {
            const int nr = nRows - r0 < 4 ? nRows - r0 : 4;
            float* o = out + t0 * outStride + r0;
            switch (nr) {
            case 1:
                cellTileRows<1>(rows + r0, xs + t0, nt, n, o, outStride);
                break;
            case 2:
                cellTileRows<2>(rows + r0, xs + t0, nt, n, o, outStride);
                break;
            case 3:
                cellTileRows<3>(rows + r0, xs + t0, nt, n, o, outStride);
                break;
            default:
                cellTileRows<4>(rows + r0, xs + t0, nt, n, o, outStride);
            }
        }
    }
}

void fmaInto(float* acc, const float* v, float p, int64_t n) {
    const __m256 pv = _mm256_set1_ps(p);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(acc + i, _mm256_fmadd_ps(_mm256_loadu_ps(v + i), pv, _mm256_loadu_ps(acc + i)));
    for (; i < n; ++i)
        acc[i] = _mm_cvtss_f32(_mm_fmadd_ss(_mm_set_ss(v[i]), _mm_set_ss(p), _mm_set_ss(acc[i])));
}

double expAndSumInEights(float* x, int64_t n, float maxScore) {
    const __m256 m = _mm256_set1_ps(maxScore);
    double sum = 0.0;
    for (int64_t i = 0; i + 8 <= n; i += 8) {
        const __m256 e = expVector(_mm256_sub_ps(_mm256_loadu_ps(x + i), m));
        _mm256_storeu_ps(x + i, e);
        sum += double(reduceLanes8(e));
    }
    return sum;
}

void ropeAdjacentPairs(float* head, const float* cosSin, int nDims) {
    // Four pairs at a time: with a = the pairs' first elements and b their second, both duplicated
    // across the pair's two lanes, lane 2i gets fma(a, c, -(b * s)) and lane 2i + 1 fma(a, s, b * c).
    const __m256 negateEven = _mm256_setr_ps(-0.0f, 0.0f, -0.0f, 0.0f, -0.0f, 0.0f, -0.0f, 0.0f);
    int i = 0;
    for (; i + 8 <= nDims; i += 8) {
        const __m256 x = _mm256_loadu_ps(head + i);
        const __m256 cs = _mm256_loadu_ps(cosSin + i);
        const __m256 a = _mm256_moveldup_ps(x), b = _mm256_movehdup_ps(x);
        const __m256 crossed = _mm256_mul_ps(b, _mm256_permute_ps(cs, 0xb1)); // b * s, b * c
        _mm256_storeu_ps(head + i, _mm256_fmadd_ps(a, cs, _mm256_xor_ps(crossed, negateEven)));
    }
    for (; i < nDims; i += 2) {
        const float a = head[i], b = head[i + 1], c = cosSin[i], s = cosSin[i + 1];
        head[i] = _mm_cvtss_f32(_mm_fmadd_ss(_mm_set_ss(a), _mm_set_ss(c), _mm_set_ss(-(b * s))));
        head[i + 1] = _mm_cvtss_f32(_mm_fmadd_ss(_mm_set_ss(a), _mm_set_ss(s), _mm_set_ss(b * c)));
    }
}

void siluMul(const float* gate, const float* up, float* out, int64_t n) {
    const __m256 one = _mm256_set1_ps(1.0f);
    for (int64_t i = 0; i + 8 <= n; i += 8) {
        const __m256 g = _mm256_loadu_ps(gate + i);
        const __m256 e = expVector(_mm256_sub_ps(_mm256_setzero_ps(), g));
        const __m256 silu = _mm256_div_ps(g, _mm256_add_ps(one, e));
        _mm256_storeu_ps(out + i, _mm256_mul_ps(silu, _mm256_loadu_ps(up + i)));
    }
}

void expf8(const float* in, float* out, int64_t n) {
    for (int64_t i = 0; i + 8 <= n; i += 8)
        _mm256_storeu_ps(out + i, expVector(_mm256_loadu_ps(in + i)));
}

} // namespace lathe::avx2

#include "backend/cpu/Avx2TargetEnd.inc"

#else // not x86-64: never called (cpuHasAvx2() is false), defined so the engine links.

namespace lathe::avx2 {
[[noreturn]] static void unavailable() {
    fail(ErrorCategory::Internal, "AVX2 kernels called on a machine without x86-64");
}
void quantizeActivations(const float*, int64_t, ActivationBlock*) {
    unavailable();
}
void quantizeActivationsPerToken(const float*, int64_t, ActivationBlock*) {
    unavailable();
}
void dequantizeLq3(const uint8_t*, float*, int64_t) {
    unavailable();
}
void lq3Dots(const uint8_t* const*, int, const float*, int64_t, float*) {
    unavailable();
}
void quantizedDots(DType, const uint8_t*, const ActivationBlock*, int64_t, int, int64_t, float*) {
    unavailable();
}
bool quantizedDots4RowsSupported(DType) {
    return false;
}
void quantizedDotsRows(DType, const uint8_t*, uint64_t, int64_t, const ActivationBlock*, int64_t, float*) {
    unavailable();
}
void quantizedDots4Rows(DType, const uint8_t* const*, const ActivationBlock*, int64_t, int, int64_t, float*,
                        int64_t) {
    unavailable();
}
void widenActivations(const ActivationBlock*, int64_t, Int16Block*) {
    unavailable();
}
bool int16TileSupported(DType) {
    return false;
}
void widenRows4(DType, const uint8_t* const*, int64_t, Int16Block*, float*, float*) {
    unavailable();
}
void int16Dots4Rows(const Int16Block*, const float*, const float*, const Int16Block*, const ActivationBlock*,
                    int64_t, int, int64_t, float*, int64_t) {
    unavailable();
}
float dotLanes8(DType, const void*, const float*, int64_t) {
    unavailable();
}
void floatDots(DType, const void* const*, int, const float* const*, int, int64_t, float*, int64_t) {
    unavailable();
}
void floatDotsRun(DType, const void* const*, int, const float*, int64_t, int, int64_t, float*, int64_t) {
    unavailable();
}
void toFp16(const float*, uint16_t*, int64_t) {
    unavailable();
}
void roundThroughFp16(const float*, float*, int64_t) {
    unavailable();
}
void toFloat(DType, const void*, float*, int64_t) {
    unavailable();
}
void f16DotsGgml(const void* const*, int, const uint16_t*, int64_t, float*) {
    unavailable();
}
float dotF32Fused(const float*, const float*, int64_t) {
    unavailable();
}
void dotsF32Fused(const float* const*, int, const float*, int64_t, float*) {
    unavailable();
}
void dotsF32FusedTransposed(const float*, const float* const*, int, int64_t, float*) {
    unavailable();
}
void weightedSumLanes8(const float* const*, const float*, int, int64_t, float*) {
    unavailable();
}
void weightedSum4x8Lanes(const float* const*, const float*, int, int64_t, float*) {
    unavailable();
}
void fmaIntoMany(float* const*, const float*, const float*, int, int64_t) {
    unavailable();
}
void cellLaneDots(const float* const*, int, const float* const*, int, int64_t, float*, int64_t) {
    unavailable();
}
void fmaInto(float*, const float*, float, int64_t) {
    unavailable();
}
void queriesDotsF32FusedTransposed(const float* const*, int, const float* const*, int, int64_t, float*) {
    unavailable();
}
void ropeAdjacentPairs(float*, const float*, int) {
    unavailable();
}
double expAndSumInEights(float*, int64_t, float) {
    unavailable();
}
void siluMul(const float*, const float*, float*, int64_t) {
    unavailable();
}
void expf8(const float*, float*, int64_t) {
    unavailable();
}
} // namespace lathe::avx2

#endif
