#include "backend/cpu/Avx512Kernels.h"

#include "backend/cpu/Avx2Kernels.h"

#if defined(__x86_64__)

#include <cstring>
#include <immintrin.h>

// clang-format off: the target pragma must come after the system headers, never before.
#include "backend/cpu/Avx512TargetBegin.inc"
// clang-format on

namespace lathe::avx512 {
namespace {

#include "backend/cpu/X86BlockLoads.inc"

// The high 256 bits of a 512-bit register (lanes 8..15).
inline __m256 upperHalf(__m512 v) {
    return _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1));
}

// GCC's _mm512_reduce_add_ps, which llamafile's hsum(__m512) calls: high 256 bits + low 256 bits, then
// the eight-lane total (ggml::hsum16).
inline float total16(__m512 v) {
    return total(_mm256_add_ps(upperHalf(v), _mm512_castps512_ps256(v)));
}

// A tile's weights at element i of row r: F16 rows widened at every step (HalfRows), or rows widened to
// float beforehand (WidenedRows: r * stride floats from the first, 64-byte aligned). The values are the
// same, so the sums are too.
struct HalfRows {
    const uint16_t* const* rows;
    __m512 load(int r, int64_t i) const {
        return _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(rows[r] + i)));
    }
};
struct WidenedRows {
    const float* first;
    int64_t stride;
    __m512 load(int r, int64_t i) const { return _mm512_load_ps(first + r * stride + i); }
};

// kRows weight rows x kTokens activation rows (n a multiple of 16), every pair's 16-lane fused sum in a
// register: up to 4 x 6 = 24 accumulators, 4 weight vectors and one activation vector, as llamafile's
// tinyBLAS<16, __m512> tile (which widens fp16 activations in the loop; here they arrive as floats, the
// same values).
template <int kRows, int kTokens, typename Rows>
void f16Tile(const Rows& rows, const float* x, int64_t xStride, int64_t n, float* out, int64_t outStride) {
    __m512 acc[kRows][kTokens];
    for (int r = 0; r < kRows; ++r)
        for (int t = 0; t < kTokens; ++t)
            acc[r][t] = _mm512_setzero_ps();
    for (int64_t i = 0; i < n; i += 16) {
        __m512 w[kRows];
        for (int r = 0; r < kRows; ++r)
            w[r] = rows.load(r, i);
        for (int t = 0; t < kTokens; ++t) {
            const __m512 xt = _mm512_loadu_ps(x + t * xStride + i);
            for (int r = 0; r < kRows; ++r)
                acc[r][t] = _mm512_fmadd_ps(w[r], xt, acc[r][t]);
        }
    }
    for (int r = 0; r < kRows; ++r)
        for (int t = 0; t < kTokens; ++t)
            out[t * outStride + r] = total16(acc[r][t]);
}

template <int kRows, typename Rows>
void f16RunOfRows(const Rows& rows, const float* x, int64_t xStride, int nTokens, int64_t n, float* out,
                  int64_t outStride) {
    constexpr int kTokenTile = 6;
    int t = 0;
    for (; t + kTokenTile <= nTokens; t += kTokenTile)
        f16Tile<kRows, kTokenTile>(rows, x + t * xStride, xStride, n, out + t * outStride, outStride);
    const float* xs = x + t * xStride;
    float* o = out + t * outStride;
    switch (nTokens - t) {
    case 5:
        return f16Tile<kRows, 5>(rows, xs, xStride, n, o, outStride);
    case 4:
        return f16Tile<kRows, 4>(rows, xs, xStride, n, o, outStride);
    case 3:
        return f16Tile<kRows, 3>(rows, xs, xStride, n, o, outStride);
    case 2:
        return f16Tile<kRows, 2>(rows, xs, xStride, n, o, outStride);
    case 1:
        return f16Tile<kRows, 1>(rows, xs, xStride, n, o, outStride);
    default:
        return;
    }
}

template <typename Rows>
void f16RunOf(int nRows, const Rows& rows, const float* x, int64_t xStride, int nTokens, int64_t n,
              float* out, int64_t outStride) {
    switch (nRows) {
    case 1:
        return f16RunOfRows<1>(rows, x, xStride, nTokens, n, out, outStride);
    case 2:
        return f16RunOfRows<2>(rows, x, xStride, nTokens, n, out, outStride);
    case 3:
        return f16RunOfRows<3>(rows, x, xStride, nTokens, n, out, outStride);
    default:
        return f16RunOfRows<4>(rows, x, xStride, nTokens, n, out, outStride);
    }
}

// The integer kernels here multiply unsigned weights (VNNI's u8 x s8 dot) with the signed activations.
// Q4_1 stores unsigned weights; Q8_0, Q4_0 and Q5_0 weights q are read as q + bias (bias 128 for Q8_0,
// whose stored bytes are flipped in their top bit; 8 for Q4_0 and 16 for Q5_0, whose stored codes already
// are q + 8 and q + 16), and
// the dot starts from -bias * (each lane's sum of four activations): the exact sum of q * x that ggml's
// sign trick gives (|q| times x with q's sign), so the same int32 lanes.
template <DType kType>
constexpr int kBiasShift = kType == DType::Q8_0   ? 7
                           : kType == DType::Q5_0 ? 4
                           : kType == DType::Q4_0 ? 3
                                                  : 0;

// Where a dot of kType's unsigned weights with activations y (one or two blocks) starts: 0, or -bias
// times each lane's sum of activations.
template <DType kType> inline __m512i dotStart(__m512i y) {
    if constexpr (kBiasShift<kType> == 0) return _mm512_setzero_si512();
    const __m512i laneSums = _mm512_dpbusd_epi32(_mm512_setzero_si512(), _mm512_set1_epi8(1), y);
    return _mm512_sub_epi32(_mm512_setzero_si512(), _mm512_slli_epi32(laneSums, kBiasShift<kType>));
}

// Block b of a row, its 32 weights as unsigned bytes (q, or q + bias).
template <DType kType> inline __m256i unsignedBlock(const uint8_t* row, int64_t b) {
    const uint8_t* p = row + b * kIntegerBlockBytes<kType>;
    if constexpr (kType == DType::Q8_0)
        return _mm256_xor_si256(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + 2)),
                                _mm256_set1_epi8(char(0x80)));
    else if constexpr (kType == DType::Q5_0)
        return _mm256_or_si256(nibbles(p + 6), fifthBits(p + 2));
    else
        return nibbles(p + (kType == DType::Q4_1 ? 4 : 2));
}

// Block b of two rows side by side in one 512-bit register (row a's in the low half, row c's in the
// high half), as unsignedBlock gives them.
template <DType kType> inline __m512i twoRowsBlock(const uint8_t* a, const uint8_t* c, int64_t b) {
    if constexpr (kType == DType::Q8_0 || kType == DType::Q5_0) {
        return _mm512_inserti64x4(_mm512_castsi256_si512(unsignedBlock<kType>(a, b)),
                                  unsignedBlock<kType>(c, b), 1);
    } else {
        constexpr int64_t kQuants = kType == DType::Q4_1 ? 4 : 2; // after d (and m)
        const uint8_t* pa = a + b * kIntegerBlockBytes<kType> + kQuants;
        const uint8_t* pc = c + b * kIntegerBlockBytes<kType> + kQuants;
        const __m512i packed = _mm512_mask_broadcast_i32x4(
            _mm512_broadcast_i32x4(_mm_loadu_si128(reinterpret_cast<const __m128i*>(pa))), 0xff00,
            _mm_loadu_si128(reinterpret_cast<const __m128i*>(pc)));
        const __m512i shifts = _mm512_setr_epi32(0, 0, 0, 0, 4, 4, 4, 4, 0, 0, 0, 0, 4, 4, 4, 4);
        return _mm512_and_si512(_mm512_srlv_epi32(packed, shifts), _mm512_set1_epi8(0x0f));
    }
}

// Four rows against kPairs pairs of token rows (Q4_0, Q4_1, Q5_0, Q8_0), two tokens per 512-bit register: the
// low 256 bits hold token 2p's lanes, the high 256 bits token 2p + 1's, each lane exactly what the AVX2
// kernels keep for that pair (the same int32 sums, by one VNNI dot, the same scale products and fused
// steps, in the same order; Q4_1's m * s products summed in order beside), so the same bits at half the
// instructions per pair.
template <DType kType, int kPairs>
void dots4RowsTokenPairs(const uint8_t* const* rows, const ActivationBlock* xs, int64_t xStride,
                         int64_t nBlocks, float* out, int64_t outStride) {
    constexpr bool kOffset = kType == DType::Q4_1;
    constexpr int64_t kBlockBytes = kIntegerBlockBytes<kType>;
    __m512 acc[4][kPairs];
    __m256 offsets[kPairs]; // lane r: row r's sum of m * s for token 2p; lane 4 + r: for token 2p + 1
    for (int p = 0; p < kPairs; ++p) {
        offsets[p] = _mm256_setzero_ps();
        for (int r = 0; r < 4; ++r)
            acc[r][p] = _mm512_setzero_ps();
    }
    __m512i rowLane[4]; // picks lane r of a pair's scale products for the low half, lane 4 + r for the high
    for (int r = 0; r < 4; ++r)
        rowLane[r] = _mm512_inserti64x4(_mm512_set1_epi32(r), _mm256_set1_epi32(r + 4), 1);
    for (int64_t b = 0; b < nBlocks; ++b) {
        __m512i w[4];
        uint64_t dBits = 0, mBits = 0;
        for (int r = 0; r < 4; ++r) {
            const __m256i q = unsignedBlock<kType>(rows[r], b);
            w[r] = _mm512_inserti64x4(_mm512_castsi256_si512(q), q, 1);
            uint16_t h[2]; // d, then m (formats with an offset)
            std::memcpy(h, rows[r] + b * kBlockBytes, sizeof h);
            dBits |= uint64_t(h[0]) << (16 * r);
            mBits |= uint64_t(h[1]) << (16 * r);
        }
        const __m128 d4 = _mm_cvtph_ps(_mm_cvtsi64_si128(int64_t(dBits)));
        const __m128 m4 = _mm_cvtph_ps(_mm_cvtsi64_si128(int64_t(mBits))); // unused without an offset
        const __m256 d8 = _mm256_set_m128(d4, d4), m8 = _mm256_set_m128(m4, m4);
        for (int p = 0; p < kPairs; ++p) {
            const ActivationBlock& x0 = xs[2 * p * xStride + b];
            const ActivationBlock& x1 = xs[(2 * p + 1) * xStride + b];
            const __m512i y = _mm512_inserti64x4(
                _mm512_castsi256_si512(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(x0.qs))),
                _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x1.qs)), 1);
            const __m512i start = dotStart<kType>(y);
            const __m512 scales = _mm512_castps256_ps512(
                _mm256_mul_ps(d8, _mm256_setr_ps(x0.d, x0.d, x0.d, x0.d, x1.d, x1.d, x1.d, x1.d)));
            if constexpr (kOffset)
                offsets[p] = _mm256_add_ps(
                    offsets[p],
                    _mm256_mul_ps(m8, _mm256_setr_ps(x0.s, x0.s, x0.s, x0.s, x1.s, x1.s, x1.s, x1.s)));
            for (int r = 0; r < 4; ++r) {
                const __m512i lanes = _mm512_dpbusd_epi32(start, w[r], y);
                acc[r][p] = _mm512_fmadd_ps(_mm512_permutexvar_ps(rowLane[r], scales),
                                            _mm512_cvtepi32_ps(lanes), acc[r][p]);
            }
        }
    }
    for (int p = 0; p < kPairs; ++p) {
        alignas(32) float offsetLanes[8];
        _mm256_store_ps(offsetLanes, offsets[p]);
        for (int r = 0; r < 4; ++r) {
            const __m256 low = _mm512_castps512_ps256(acc[r][p]);
            const __m256 high = upperHalf(acc[r][p]);
            out[2 * p * outStride + r] = kOffset ? total(low) + offsetLanes[r] : total(low);
            out[(2 * p + 1) * outStride + r] = kOffset ? total(high) + offsetLanes[4 + r] : total(high);
        }
    }
}

// Four consecutive rows against one activation row (decode), two rows per 512-bit register: each lane
// is what avx2's four-row decode kernel keeps for that row (the same int32 sums by one VNNI dot, the
// same d_r * x.d products and fused steps in block order, the m * x.s products summed beside), so the
// same bits at about half the instructions per row and block. The next four rows are prefetched as
// these are read (NextRowsPrefetcher), as there.
template <DType kType>
void fourRowsOneToken(const uint8_t* first, uint64_t rowStride, const ActivationBlock* x, int64_t nBlocks,
                      float* out) {
    constexpr bool kOffset = kType == DType::Q4_1;
    constexpr int64_t kBlockBytes = kIntegerBlockBytes<kType>;
    const uint8_t* rows[4] = {first, first + rowStride, first + 2 * rowStride, first + 3 * rowStride};
    __m512 acc[2] = {_mm512_setzero_ps(), _mm512_setzero_ps()}; // rows 0 | 1, rows 2 | 3
    __m256 offsets = _mm256_setzero_ps();                       // lane 2r + 1: row r's sum of m * s
    // Lane 2r of the scale products is d_r * x.d: rows 2p and 2p + 1 take lanes 4p and 4p + 2.
    const __m512i pick[2] = {_mm512_inserti64x4(_mm512_set1_epi32(0), _mm256_set1_epi32(2), 1),
                             _mm512_inserti64x4(_mm512_set1_epi32(4), _mm256_set1_epi32(6), 1)};
    NextRowsPrefetcher prefetcher(first + 4 * rowStride, 4 * rowStride, nBlocks);
    for (int64_t b = 0; b < nBlocks; ++b) {
        prefetcher.step(b);
        const ActivationBlock& xb = x[b];
        const __m512i y = _mm512_broadcast_i64x4(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(xb.qs)));
        const __m512i start = dotStart<kType>(y);
        uint32_t heads[4]; // d, then m (or the first quant bytes, unused)
        for (int r = 0; r < 4; ++r)
            std::memcpy(&heads[r], rows[r] + b * kBlockBytes, sizeof heads[r]);
        const __m256 products = _mm256_mul_ps(
            _mm256_cvtph_ps(_mm_setr_epi32(int(heads[0]), int(heads[1]), int(heads[2]), int(heads[3]))),
            _mm256_setr_ps(xb.d, xb.s, xb.d, xb.s, xb.d, xb.s, xb.d, xb.s));
        if constexpr (kOffset) offsets = _mm256_add_ps(offsets, products);
        const __m512 scales = _mm512_castps256_ps512(products);
        for (int p = 0; p < 2; ++p) {
            const __m512i lanes =
                _mm512_dpbusd_epi32(start, twoRowsBlock<kType>(rows[2 * p], rows[2 * p + 1], b), y);
            acc[p] =
                _mm512_fmadd_ps(_mm512_permutexvar_ps(pick[p], scales), _mm512_cvtepi32_ps(lanes), acc[p]);
        }
    }
    alignas(32) float offsetLanes[8];
    _mm256_store_ps(offsetLanes, offsets);
    for (int p = 0; p < 2; ++p) {
        const float low = total(_mm512_castps512_ps256(acc[p]));
        const float high = total(upperHalf(acc[p]));
        out[2 * p] = kOffset ? low + offsetLanes[4 * p + 1] : low;
        out[2 * p + 1] = kOffset ? high + offsetLanes[4 * p + 3] : high;
    }
}

template <DType kType>
void dots4RowsOfType(const uint8_t* const* rows, const ActivationBlock* xs, int64_t xStride, int nTokens,
                     int64_t nBlocks, float* out, int64_t outStride) {
    const int pairs = nTokens / 2;
    switch (pairs) {
    case 0:
        break;
    case 1:
        dots4RowsTokenPairs<kType, 1>(rows, xs, xStride, nBlocks, out, outStride);
        break;
    case 2:
        dots4RowsTokenPairs<kType, 2>(rows, xs, xStride, nBlocks, out, outStride);
        break;
    case 3:
        dots4RowsTokenPairs<kType, 3>(rows, xs, xStride, nBlocks, out, outStride);
        break;
    default:
        dots4RowsTokenPairs<kType, 4>(rows, xs, xStride, nBlocks, out, outStride);
        break;
    }
    if (nTokens % 2 == 0) return;
    // An odd last token: the AVX2 kernels (the same bits), it is at most one per row tile.
    const ActivationBlock* last = xs + (nTokens - 1) * xStride;
    float* lastOut = out + (nTokens - 1) * outStride;
    if (avx2::quantizedDots4RowsSupported(kType))
        return avx2::quantizedDots4Rows(kType, rows, last, xStride, 1, nBlocks, lastOut, outStride);
    for (int r = 0; r < 4; ++r)
        avx2::quantizedDots(kType, rows[r], last, xStride, 1, nBlocks, lastOut + r);
}

} // namespace

void f16DotsRun(const void* const* rows, int nRows, const float* x, int64_t xStride, int nTokens, int64_t n,
                float* out, int64_t outStride, float* widened) {
    const HalfRows halfRows{reinterpret_cast<const uint16_t* const*>(rows)};
    if (widened == nullptr || n > kWidenedRowsMax || nTokens < 12)
        return f16RunOf(nRows, halfRows, x, xStride, nTokens, n, out, outStride);
    // Widened in a loop of their own: widening inside the first token tile instead measured slower
    // (cold rows, one thread: 171 against 159 ms).
    for (int r = 0; r < nRows; ++r)
        for (int64_t i = 0; i < n; i += 16)
            _mm512_store_ps(widened + r * n + i, halfRows.load(r, i));
    f16RunOf(nRows, WidenedRows{widened, n}, x, xStride, nTokens, n, out, outStride);
}

void roundThroughFp16(const float* x, float* out, int64_t n) {
    int64_t i = 0;
    for (; i + 16 <= n; i += 16)
        _mm512_storeu_ps(out + i,
                         _mm512_cvtph_ps(_mm512_cvtps_ph(_mm512_loadu_ps(x + i), _MM_FROUND_TO_NEAREST_INT)));
    for (; i < n; ++i)
        out[i] = _cvtsh_ss(_cvtss_sh(x[i], _MM_FROUND_TO_NEAREST_INT));
}

void quantizedDotsRows(DType type, const uint8_t* first, uint64_t rowStride, int64_t nRows,
                       const ActivationBlock* x, int64_t nBlocks, float* out) {
    auto run = [&]<DType kType>() {
        int64_t r = 0;
        for (; r + 4 <= nRows; r += 4)
            fourRowsOneToken<kType>(first + uint64_t(r) * rowStride, rowStride, x, nBlocks, out + r);
        for (; r < nRows; ++r) // at most three: the AVX2 kernel, the same bits
            avx2::quantizedDots(kType, first + uint64_t(r) * rowStride, x, nBlocks, 1, nBlocks, out + r);
    };
    switch (type) {
    case DType::Q4_0:
        return run.template operator()<DType::Q4_0>();
    case DType::Q4_1:
        return run.template operator()<DType::Q4_1>();
    case DType::Q5_0:
        return run.template operator()<DType::Q5_0>();
    default:
        return run.template operator()<DType::Q8_0>();
    }
}

bool hasIntegerKernels(DType type) {
    return type == DType::Q4_0 || type == DType::Q4_1 || type == DType::Q5_0 || type == DType::Q8_0;
}

void quantizedDots4Rows(DType type, const uint8_t* const* rows, const ActivationBlock* xs, int64_t xStride,
                        int nTokens, int64_t nBlocks, float* out, int64_t outStride) {
    switch (type) {
    case DType::Q4_0:
        return dots4RowsOfType<DType::Q4_0>(rows, xs, xStride, nTokens, nBlocks, out, outStride);
    case DType::Q4_1:
        return dots4RowsOfType<DType::Q4_1>(rows, xs, xStride, nTokens, nBlocks, out, outStride);
    case DType::Q5_0:
        return dots4RowsOfType<DType::Q5_0>(rows, xs, xStride, nTokens, nBlocks, out, outStride);
    default:
        return dots4RowsOfType<DType::Q8_0>(rows, xs, xStride, nTokens, nBlocks, out, outStride);
    }
}

} // namespace lathe::avx512

#include "backend/cpu/Avx512TargetEnd.inc"

#else // not x86-64: cpuHasAvx512() is false, so nothing calls these.

#include "core/Error.h"

namespace lathe::avx512 {
[[noreturn]] static void unavailable() {
    fail(ErrorCategory::Internal, "AVX-512 kernels called on a machine without x86-64");
}
void f16DotsRun(const void* const*, int, const float*, int64_t, int, int64_t, float*, int64_t, float*) {
    unavailable();
}
void roundThroughFp16(const float*, float*, int64_t) {
    unavailable();
}
void quantizedDotsRows(DType, const uint8_t*, uint64_t, int64_t, const ActivationBlock*, int64_t, float*) {
    unavailable();
}
bool hasIntegerKernels(DType) {
    return false;
}
void quantizedDots4Rows(DType, const uint8_t* const*, const ActivationBlock*, int64_t, int, int64_t, float*,
                        int64_t) {
    unavailable();
}
} // namespace lathe::avx512

#endif
