#include "backend/cpu/ActivationQuant.h"

#include "backend/cpu/Avx2Kernels.h"
#include "backend/cpu/CpuFeatures.h"
#include "core/Error.h"
#include "core/Half.h"

#include <algorithm>
#include <cmath>
#include <cstring>

namespace lathe {
namespace {

float readHalf(const uint8_t* p) {
    uint16_t h;
    std::memcpy(&h, p, sizeof h);
    return fp16ToFloat(h);
}

float roundedToHalf(float f) {
    return fp16ToFloat(floatToFp16(f));
}

// Block layouts (ggml): q4_0 {d, qs[16]}, q4_1 {d, m, qs[16]}, q5_0 {d, qh[4], qs[16]},
// q5_1 {d, m, qh[4], qs[16]}, q8_0 {d, qs[32]}; d and m fp16; low nibbles are elements 0..15.
void unpackNibbles(const uint8_t* qs, int offset, int8_t* out) {
    for (int j = 0; j < 16; ++j) {
        out[j] = int8_t((qs[j] & 0x0f) - offset);
        out[j + 16] = int8_t((qs[j] >> 4) - offset);
    }
}

void unpackFiveBits(const uint8_t* qh, const uint8_t* qs, int offset, int8_t* out) {
    uint32_t high;
    std::memcpy(&high, qh, sizeof high);
    for (int j = 0; j < 16; ++j) {
        const int h0 = int(((high >> j) << 4) & 0x10);
        const int h1 = int((high >> (j + 12)) & 0x10);
        out[j] = int8_t(((qs[j] & 0x0f) | h0) - offset);
        out[j + 16] = int8_t(((qs[j] >> 4) | h1) - offset);
    }
}

} // namespace

bool hasQuantizedDot(DType weightType) {
    switch (weightType) {
    case DType::Q4_0:
    case DType::Q4_1:
    case DType::Q5_0:
    case DType::Q5_1:
    case DType::Q8_0:
        return true;
    default:
        return false;
    }
}

void quantizeActivationsScalar(const float* x, int64_t n, ActivationBlock* out) {
    for (int64_t b = 0; b < n / kActivationBlock; ++b) {
        const float* xb = x + b * kActivationBlock;
        float amax = 0.0f;
        for (int j = 0; j < kActivationBlock; ++j)
            amax = std::max(amax, std::fabs(xb[j]));
        const float d = amax / 127.0f;
        const float id = amax != 0.0f ? 127.0f / amax : 0.0f;
        int32_t sum = 0;
        for (int j = 0; j < kActivationBlock; ++j) {
            const int q = int(std::nearbyint(xb[j] * id));
            out[b].qs[j] = int8_t(q);
            sum += q;
        }
        out[b].d = roundedToHalf(d);
        out[b].s = roundedToHalf(d * float(sum));
    }
}

void quantizeActivationsPerTokenScalar(const float* x, int64_t n, ActivationBlock* out) {
    float amax = 0.0f;
    for (int64_t i = 0; i < n; ++i)
        amax = std::max(amax, std::fabs(x[i]));
    const float d = amax / 127.0f;
    const float id = amax != 0.0f ? 127.0f / amax : 0.0f;
    for (int64_t b = 0; b < n / kActivationBlock; ++b) {
        const float* xb = x + b * kActivationBlock;
        int32_t sum = 0;
        for (int j = 0; j < kActivationBlock; ++j) {
            float r = std::nearbyint(xb[j] * id);
            r = r > -127.0f ? r : -127.0f; // as maxps/minps: NaN becomes -127
            r = r < 127.0f ? r : 127.0f;
            out[b].qs[j] = int8_t(r);
            sum += int(r);
        }
        out[b].d = d;
        out[b].s = d * float(sum);
    }
}

// Sums as ggml's AVX2 kernels do (vec_dot_*_q8_* and llamafile's tinyBLAS_Q0_AVX): eight lanes, lane k
// holding the integer sum of elements 4k..4k+3 of each block, accumulated with a fused multiply-add by the
// block's scale product, then reduced pairwise. Matching the order bit for bit keeps Lathe's greedy tokens
// on llama.cpp's at near ties.
namespace {

struct LaneSum {
    float lanes[8] = {};
    void add(float scale, const int8_t* a, const int8_t* b) {
        for (int k = 0; k < 8; ++k) {
            int32_t sum = 0;
            for (int j = 4 * k; j < 4 * k + 4; ++j)
                sum += int32_t(a[j]) * int32_t(b[j]);
            lanes[k] = std::fma(scale, float(sum), lanes[k]);
        }
    }
    float total() const {
        const float a0 = lanes[0] + lanes[4], a1 = lanes[1] + lanes[5], a2 = lanes[2] + lanes[6],
                    a3 = lanes[3] + lanes[7];
        return (a0 + a2) + (a1 + a3);
    }
};

} // namespace

float quantizedDotScalar(DType weightType, const uint8_t* w, const ActivationBlock* x, int64_t nBlocks) {
    LaneSum acc;
    float offsets = 0.0f; // sum of m * s for the formats with an offset
    int8_t q[32];
    switch (weightType) {
    case DType::Q4_0:
        for (int64_t b = 0; b < nBlocks; ++b, w += 18) {
            unpackNibbles(w + 2, 8, q);
            acc.add(readHalf(w) * x[b].d, q, x[b].qs);
        }
        return acc.total();
    case DType::Q4_1:
        for (int64_t b = 0; b < nBlocks; ++b, w += 20) {
            offsets += readHalf(w + 2) * x[b].s;
            unpackNibbles(w + 4, 0, q);
            acc.add(readHalf(w) * x[b].d, q, x[b].qs);
        }
        return acc.total() + offsets;
    case DType::Q5_0:
        for (int64_t b = 0; b < nBlocks; ++b, w += 22) {
            unpackFiveBits(w + 2, w + 6, 16, q);
            acc.add(readHalf(w) * x[b].d, q, x[b].qs);
        }
        return acc.total();
    case DType::Q5_1:
        for (int64_t b = 0; b < nBlocks; ++b, w += 24) {
            offsets += readHalf(w + 2) * x[b].s;
            unpackFiveBits(w + 4, w + 8, 0, q);
            acc.add(readHalf(w) * x[b].d, q, x[b].qs);
        }
        return acc.total() + offsets;
    case DType::Q8_0:
        for (int64_t b = 0; b < nBlocks; ++b, w += 34)
            acc.add(readHalf(w) * x[b].d, reinterpret_cast<const int8_t*>(w + 2), x[b].qs);
        return acc.total();
    default:
        fail(ErrorCategory::Internal, "no quantized dot product for {}", dtypeName(weightType));
    }
}

void quantizeActivations(const float* x, int64_t n, ActivationBlock* out) {
    if (cpuHasAvx2())
        avx2::quantizeActivations(x, n, out);
    else
        quantizeActivationsScalar(x, n, out);
}

void quantizeActivationsPerToken(const float* x, int64_t n, ActivationBlock* out) {
    if (cpuHasAvx2())
        avx2::quantizeActivationsPerToken(x, n, out);
    else
        quantizeActivationsPerTokenScalar(x, n, out);
}

float quantizedDot(DType weightType, const uint8_t* w, const ActivationBlock* x, int64_t nBlocks) {
    if (!cpuHasAvx2()) return quantizedDotScalar(weightType, w, x, nBlocks);
    if (!hasQuantizedDot(weightType))
        fail(ErrorCategory::Internal, "no quantized dot product for {}", dtypeName(weightType));
    float out;
    avx2::quantizedDots(weightType, w, x, 0, 1, nBlocks, &out);
    return out;
}

} // namespace lathe
