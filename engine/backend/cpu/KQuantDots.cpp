#include "backend/cpu/KQuantDots.h"

#include "backend/cpu/Avx2KQuantKernels.h"
#include "backend/cpu/CpuFeatures.h"
#include "backend/cpu/GgmlFloatOrder.h"
#include "core/Error.h"
#include "core/Half.h"
#include "io/Quants.h"

#include <cmath>
#include <cstring>

namespace lathe {

bool hasKQuantDot(DType weightType) {
    return weightType == DType::Q4_K || weightType == DType::Q5_K || weightType == DType::Q6_K;
}

namespace {

// ggml's nearest_int: adding 1.5 * 2^23 leaves the rounded integer in the low mantissa bits (ties to
// even), for |v| < 2^22.
int nearestInt(float v) {
    const float shifted = v + 12582912.0f;
    int32_t bits;
    std::memcpy(&bits, &shifted, sizeof bits);
    return (bits & 0x007fffff) - 0x00400000;
}

uint16_t halfAt(const uint8_t* p) {
    uint16_t h;
    std::memcpy(&h, p, sizeof h);
    return h;
}

// One super-block's weights as the kernels see them: 256 unsigned codes, in eight chunks of 32 whose
// halves (16 codes, lanes 0-3 and 4-7) each carry one scale.
struct Codes {
    uint8_t q[kKSuperBlock];
    int32_t halfScale[16]; // the scale of codes 16h .. 16h + 15
};

// Lane l of the eight int32 lanes: sum over chunks c of scale * (codes 32c + 4l .. 32c + 4l + 3 times
// their activations), the order of integer adds being irrelevant.
void addLanes(const Codes& w, const int8_t* a, int32_t lanes[8]) {
    for (int c = 0; c < 8; ++c)
        for (int l = 0; l < 8; ++l) {
            int32_t sum = 0;
            for (int b = 0; b < 4; ++b)
                sum += int32_t(w.q[32 * c + 4 * l + b]) * int32_t(a[32 * c + 4 * l + b]);
            lanes[l] += w.halfScale[2 * c + l / 4] * sum;
        }
}

// Q4_K / Q5_K: codes of group j (32 elements) times the group's 6-bit scale; the mins go with the
// activation sums. Returns the eight group mins.
void unpackScalesAndMins(const uint8_t* packed, Codes& w, uint8_t mins[8]) {
    for (int j = 0; j < 8; ++j) {
        uint8_t scale;
        kScaleMin(j, packed, scale, mins[j]);
        w.halfScale[2 * j] = w.halfScale[2 * j + 1] = scale;
    }
}

float dotQ4K(const uint8_t* row, const KActivationBlock* x, int64_t superBlocks) {
    float acc[8] = {}, accMins[4] = {};
    for (int64_t i = 0; i < superBlocks; ++i, row += kQ4KBytes) {
        const float d = x[i].d * fp16ToFloat(halfAt(row));
        const float dmin = -x[i].d * fp16ToFloat(halfAt(row + 2));
        Codes w;
        uint8_t mins[8];
        unpackScalesAndMins(row + 4, w, mins);
        const uint8_t* qs = row + 16;
        for (int j = 0; j < 4; ++j)
            for (int k = 0; k < 32; ++k) {
                w.q[64 * j + k] = qs[32 * j + k] & 0x0f;
                w.q[64 * j + 32 + k] = qs[32 * j + k] >> 4;
            }
        // ggml: the bsums summed in pairs (one per group), then pairs of groups with their mins.
        for (int k = 0; k < 4; ++k) {
            const int32_t g0 = x[i].bsums[4 * k] + x[i].bsums[4 * k + 1];
            const int32_t g1 = x[i].bsums[4 * k + 2] + x[i].bsums[4 * k + 3];
            accMins[k] = std::fma(dmin, float(mins[2 * k] * g0 + mins[2 * k + 1] * g1), accMins[k]);
        }
        int32_t lanes[8] = {};
        addLanes(w, x[i].qs, lanes);
        for (int l = 0; l < 8; ++l)
            acc[l] = std::fma(d, float(lanes[l]), acc[l]);
    }
    return ggml::hsum8(acc) + ((accMins[0] + accMins[2]) + (accMins[1] + accMins[3]));
}

float dotQ5K(const uint8_t* row, const KActivationBlock* x, int64_t superBlocks) {
    float acc[8] = {}, mins = 0.0f;
    for (int64_t i = 0; i < superBlocks; ++i, row += kQ5KBytes) {
        const float d = x[i].d * fp16ToFloat(halfAt(row));
        const float dmin = -x[i].d * fp16ToFloat(halfAt(row + 2));
        Codes w;
        uint8_t groupMins[8];
        unpackScalesAndMins(row + 4, w, groupMins);
        const uint8_t* qh = row + 16;
        const uint8_t* qs = row + 48;
        for (int j = 0; j < 4; ++j)
            for (int k = 0; k < 32; ++k) {
                w.q[64 * j + k] = uint8_t((qs[32 * j + k] & 0x0f) | (((qh[k] >> (2 * j)) & 1) << 4));
                w.q[64 * j + 32 + k] = uint8_t((qs[32 * j + k] >> 4) | (((qh[k] >> (2 * j + 1)) & 1) << 4));
            }
        // ggml adds this super-block's whole min term to one float, as a fused multiply-add.
        int32_t minSum = 0;
        for (int j = 0; j < 8; ++j)
            minSum += groupMins[j] * (x[i].bsums[2 * j] + x[i].bsums[2 * j + 1]);
        mins = std::fma(dmin, float(minSum), mins);
        int32_t lanes[8] = {};
        addLanes(w, x[i].qs, lanes);
        for (int l = 0; l < 8; ++l)
            acc[l] = std::fma(d, float(lanes[l]), acc[l]);
    }
    return ggml::hsum8(acc) + mins;
}

float dotQ6K(const uint8_t* row, const KActivationBlock* x, int64_t superBlocks) {
    float acc[8] = {};
    for (int64_t i = 0; i < superBlocks; ++i, row += kQ6KBytes) {
        const uint8_t* ql = row;
        const uint8_t* qh = row + 128;
        const int8_t* scales = reinterpret_cast<const int8_t*>(row + 192);
        const float d = x[i].d * fp16ToFloat(halfAt(row + 208));
        Codes w;
        for (int g = 0; g < 16; ++g)
            w.halfScale[g] = scales[g];
        for (int j = 0; j < 2; ++j)
            for (int k = 0; k < 32; ++k) {
                const uint8_t h = qh[32 * j + k];
                w.q[128 * j + k] = uint8_t((ql[64 * j + k] & 0x0f) | ((h & 3) << 4));
                w.q[128 * j + 32 + k] = uint8_t((ql[64 * j + 32 + k] & 0x0f) | (((h >> 2) & 3) << 4));
                w.q[128 * j + 64 + k] = uint8_t((ql[64 * j + k] >> 4) | (((h >> 4) & 3) << 4));
                w.q[128 * j + 96 + k] = uint8_t((ql[64 * j + 32 + k] >> 4) | (((h >> 6) & 3) << 4));
            }
        int32_t lanes[8] = {};
        addLanes(w, x[i].qs, lanes);
        // The codes are unsigned (q + 32): lane l gives back 32 * scale * activation sum of groups 2l, 2l+1.
        for (int l = 0; l < 8; ++l) {
            lanes[l] -= 32 * (x[i].bsums[2 * l] * scales[2 * l] + x[i].bsums[2 * l + 1] * scales[2 * l + 1]);
            acc[l] = std::fma(d, float(lanes[l]), acc[l]);
        }
    }
    return ggml::hsum8(acc);
}

} // namespace

void quantizeActivationsK(const float* x, int64_t n, KActivationBlock* out) {
    if (cpuHasAvx2()) return avx2::quantizeActivationsK(x, n, out);
    quantizeActivationsKScalar(x, n, out);
}

void quantizeActivationsKScalar(const float* x, int64_t n, KActivationBlock* out) {
    for (int64_t b = 0; b < n / kKSuperBlock; ++b, x += kKSuperBlock) {
        KActivationBlock& y = out[b];
        float max = 0.0f, amax = 0.0f;
        for (int j = 0; j < kKSuperBlock; ++j)
            if (std::fabs(x[j]) > amax) {
                amax = std::fabs(x[j]);
                max = x[j];
            }
        if (amax == 0.0f) { // also where every element is NaN: fabs(NaN) > 0 is false
            y.d = 0.0f;
            std::memset(y.qs, 0, sizeof y.qs);
            std::memset(y.bsums, 0, sizeof y.bsums);
            continue;
        }
        const float iscale = -127.0f / max;
        for (int j = 0; j < kKSuperBlock; ++j)
            y.qs[j] = int8_t(std::min(127, nearestInt(iscale * x[j])));
        for (int g = 0; g < kKSuperBlock / 16; ++g) {
            int sum = 0;
            for (int j = 0; j < 16; ++j)
                sum += y.qs[16 * g + j];
            y.bsums[g] = int16_t(sum);
        }
        y.d = 1.0f / iscale;
    }
}

float kQuantDotScalar(DType weightType, const uint8_t* weightRow, const KActivationBlock* x,
                      int64_t superBlocks) {
    switch (weightType) {
    case DType::Q4_K:
        return dotQ4K(weightRow, x, superBlocks);
    case DType::Q5_K:
        return dotQ5K(weightRow, x, superBlocks);
    case DType::Q6_K:
        return dotQ6K(weightRow, x, superBlocks);
    default:
        fail(ErrorCategory::Internal, "no K-quant dot product for {}", dtypeName(weightType));
    }
}

float kQuantDot(DType weightType, const uint8_t* weightRow, const KActivationBlock* x, int64_t superBlocks) {
    if (!cpuHasAvx2()) return kQuantDotScalar(weightType, weightRow, x, superBlocks);
    float out;
    avx2::kQuantDots(weightType, weightRow, x, superBlocks, 1, superBlocks, &out);
    return out;
}

} // namespace lathe
