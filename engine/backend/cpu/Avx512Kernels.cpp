#include "backend/cpu/Avx512Kernels.h"

#if defined(__x86_64__)

#include <cstring>
#include <immintrin.h>

// Compiled for AVX-512 through this pragma alone (as Avx2Kernels.cpp is for AVX2); nothing outside
// calls these functions unless cpuHasAvx512() said yes.
#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni"))), \
                             apply_to = function)
#else
#pragma GCC push_options
#pragma GCC target("avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni")
// GCC 12's 512-bit intrinsics fill their unused merge operand with _mm512_undefined_*(), a variable
// initialised from itself, and warn about that inside the intrinsic headers.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

namespace lathe::avx512 {
namespace {

#include "backend/cpu/X86BlockLoads.inc"

// GCC's _mm512_reduce_add_ps, which llamafile's hsum(__m512) calls: high 256 bits + low 256 bits, then
// the eight-lane total (ggml::hsum16).
inline float total16(__m512 v) {
    const __m256 high = _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1));
    return total(_mm256_add_ps(high, _mm512_castps512_ps256(v)));
}

template <int kRows, int kTokens>
void f16Tile(const uint16_t* const* rows, const float* x, int64_t xStride, int64_t n, float* out,
             int64_t outStride) {
    __m512 acc[kRows][kTokens];
    for (int r = 0; r < kRows; ++r)
        for (int t = 0; t < kTokens; ++t)
            acc[r][t] = _mm512_setzero_ps();
    for (int64_t i = 0; i < n; i += 16) {
        __m512 w[kRows];
        for (int r = 0; r < kRows; ++r)
            w[r] = _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(rows[r] + i)));
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

template <int kRows>
void f16RunOfRows(const uint16_t* const* rows, const float* x, int64_t xStride, int nTokens, int64_t n,
                  float* out, int64_t outStride) {
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

// Four rows without offset (Q4_0, Q8_0) against kTokens token rows: avx2's dots4Rows with one VNNI dot
// per pair (|q| times the activations carrying q's sign, as ggml does, so each int32 lane is the same
// exact sum of four products) and up to four tokens held in registers.
template <DType kType, int kTokens>
void dots4Rows(const uint8_t* const* rows, const ActivationBlock* xs, int64_t xStride, int64_t nBlocks,
               float* out, int64_t outStride) {
    constexpr int64_t kBlockBytes = kIntegerBlockBytes<kType>;
    __m256 acc[4][kTokens];
    for (int r = 0; r < 4; ++r)
        for (int t = 0; t < kTokens; ++t)
            acc[r][t] = _mm256_setzero_ps();
    for (int64_t b = 0; b < nBlocks; ++b) {
        __m256i q[4], magnitudes[4];
        uint64_t scaleBits = 0;
        for (int r = 0; r < 4; ++r) {
            q[r] = loadBlock(kType, rows[r], b).q;
            magnitudes[r] = _mm256_sign_epi8(q[r], q[r]);
            uint16_t h;
            std::memcpy(&h, rows[r] + b * kBlockBytes, sizeof h); // every no-offset block starts with d
            scaleBits |= uint64_t(h) << (16 * r);
        }
        const __m128 scales = _mm_cvtph_ps(_mm_cvtsi64_si128(int64_t(scaleBits)));
        for (int t = 0; t < kTokens; ++t) {
            const ActivationBlock& x = xs[t * xStride + b];
            const __m256i y = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x.qs));
            const __m128 products = _mm_mul_ps(scales, _mm_set1_ps(x.d));
            const __m256 d = _mm256_set_m128(products, products);
            auto pair = [&](int r, __m256 dr) {
                const __m256i lanes =
                    _mm256_dpbusd_epi32(_mm256_setzero_si256(), magnitudes[r], _mm256_sign_epi8(y, q[r]));
                acc[r][t] = _mm256_fmadd_ps(dr, _mm256_cvtepi32_ps(lanes), acc[r][t]);
            };
            pair(0, laneOf<0>(d));
            pair(1, laneOf<1>(d));
            pair(2, laneOf<2>(d));
            pair(3, laneOf<3>(d));
        }
    }
    for (int r = 0; r < 4; ++r)
        for (int t = 0; t < kTokens; ++t)
            out[t * outStride + r] = total(acc[r][t]);
}

template <DType kType>
void dots4RowsOfType(const uint8_t* const* rows, const ActivationBlock* xs, int64_t xStride, int nTokens,
                     int64_t nBlocks, float* out, int64_t outStride) {
    switch (nTokens) {
    case 1:
        return dots4Rows<kType, 1>(rows, xs, xStride, nBlocks, out, outStride);
    case 2:
        return dots4Rows<kType, 2>(rows, xs, xStride, nBlocks, out, outStride);
    case 3:
        return dots4Rows<kType, 3>(rows, xs, xStride, nBlocks, out, outStride);
    default:
        return dots4Rows<kType, 4>(rows, xs, xStride, nBlocks, out, outStride);
    }
}

} // namespace

void f16DotsRun(const void* const* rows, int nRows, const float* x, int64_t xStride, int nTokens, int64_t n,
                float* out, int64_t outStride) {
    const uint16_t* const* halfRows = reinterpret_cast<const uint16_t* const*>(rows);
    switch (nRows) {
    case 1:
        return f16RunOfRows<1>(halfRows, x, xStride, nTokens, n, out, outStride);
    case 2:
        return f16RunOfRows<2>(halfRows, x, xStride, nTokens, n, out, outStride);
    case 3:
        return f16RunOfRows<3>(halfRows, x, xStride, nTokens, n, out, outStride);
    default:
        return f16RunOfRows<4>(halfRows, x, xStride, nTokens, n, out, outStride);
    }
}

void roundThroughFp16(const float* x, float* out, int64_t n) {
    int64_t i = 0;
    for (; i + 16 <= n; i += 16)
        _mm512_storeu_ps(out + i,
                         _mm512_cvtph_ps(_mm512_cvtps_ph(_mm512_loadu_ps(x + i), _MM_FROUND_TO_NEAREST_INT)));
    for (; i < n; ++i)
        out[i] = _cvtsh_ss(_cvtss_sh(x[i], _MM_FROUND_TO_NEAREST_INT));
}

void quantizedDots4Rows(DType type, const uint8_t* const* rows, const ActivationBlock* xs, int64_t xStride,
                        int nTokens, int64_t nBlocks, float* out, int64_t outStride) {
    if (type == DType::Q4_0)
        return dots4RowsOfType<DType::Q4_0>(rows, xs, xStride, nTokens, nBlocks, out, outStride);
    dots4RowsOfType<DType::Q8_0>(rows, xs, xStride, nTokens, nBlocks, out, outStride);
}

} // namespace lathe::avx512

#if defined(__clang__)
#pragma clang attribute pop
#else
#pragma GCC diagnostic pop
#pragma GCC pop_options
#endif

#else // not x86-64: cpuHasAvx512() is false, so nothing calls these.

#include "core/Error.h"

namespace lathe::avx512 {
[[noreturn]] static void unavailable() {
    fail(ErrorCategory::Internal, "AVX-512 kernels called on a machine without x86-64");
}
void f16DotsRun(const void* const*, int, const float*, int64_t, int, int64_t, float*, int64_t) {
    unavailable();
}
void roundThroughFp16(const float*, float*, int64_t) {
    unavailable();
}
void quantizedDots4Rows(DType, const uint8_t* const*, const ActivationBlock*, int64_t, int, int64_t, float*,
                        int64_t) {
    unavailable();
}
} // namespace lathe::avx512

#endif
