#include "backend/cpu/GgmlFloatOrder.h"

#include <bit>
#include <cmath>

namespace lathe::ggml {

float expf(float x) {
    // exp(x) = 2^n * exp(b) with n = round(x / ln 2) found by adding 1.5 * 2^23 (the low mantissa bits
    // of z then hold n), and b = x - n ln 2 in two steps (ln 2 split into a high and a low part).
    const float shifter = 0x1.8p23f;
    const float z = std::fma(x, 0x1.715476p+0f, shifter);
    const float n = z - shifter;
    const float b = std::fma(-n, 0x1.7f7d1cp-20f, std::fma(-n, 0x1.62e4p-1f, x));
    const uint32_t e = std::bit_cast<uint32_t>(z) << 23;
    const float k = std::bit_cast<float>(e + std::bit_cast<uint32_t>(1.0f));
    const float u = b * b;
    const float j = std::fma(
        std::fma(std::fma(0x1.0e4020p-7f, b, 0x1.573e2ep-5f), u, std::fma(0x1.555e66p-3f, b, 0x1.fffdb6p-2f)),
        u, 0x1.ffffecp-1f * b);
    const float absN = std::fabs(n);
    if (!(absN > 126.0f)) return std::fma(j, k, k);
    // |n| > 126: 2^n is not a normal float; scale in two factors (s1 * s2), or saturate past 192.
    const uint32_t g = n <= 0.0f ? 0x82000000u : 0u;
    const float s1 = std::bit_cast<float>(g + 0x7f000000u);
    const float s2 = std::bit_cast<float>(e - g);
    if (absN > 192.0f) return s1 * s1;
    return std::fma(s2, j, s2) * s1;
}

float dotF32(const float* x, const float* y, int64_t n) {
    float acc[4][8] = {};
    const int64_t whole = n & ~int64_t(31);
    for (int64_t i = 0; i < whole; i += 32)
        for (int a = 0; a < 4; ++a)
            for (int l = 0; l < 8; ++l)
                acc[a][l] = std::fma(x[i + a * 8 + l], y[i + a * 8 + l], acc[a][l]);
    float sum = reduce4x8(acc);
    for (int64_t i = whole; i < n; ++i)
        sum += x[i] * y[i];
    return sum;
}

void rotatePair(float& x0, float& x1, float c, float s) {
    const float a = x0, b = x1;
    x0 = std::fma(a, c, -(b * s));
    x1 = std::fma(a, s, b * c);
}

float hsum8(const float* v) {
    // high half + low half, then (t0 + t2) + (t1 + t3) (movehl, then movehdup + add_ss)
    const float t0 = v[4] + v[0], t1 = v[5] + v[1], t2 = v[6] + v[2], t3 = v[7] + v[3];
    return (t0 + t2) + (t1 + t3);
}

float hsum16(const float* v) {
    float folded[8];
    for (int l = 0; l < 8; ++l)
        folded[l] = v[l + 8] + v[l];
    return hsum8(folded);
}

float reduce4x8(const float (*acc)[8]) {
    float x0[8];
    for (int l = 0; l < 8; ++l)
        x0[l] = (acc[0][l] + acc[2][l]) + (acc[1][l] + acc[3][l]);
    // low half + high half, then two horizontal adds: (t0 + t1) + (t2 + t3)
    const float t0 = x0[0] + x0[4], t1 = x0[1] + x0[5], t2 = x0[2] + x0[6], t3 = x0[3] + x0[7];
    return (t0 + t1) + (t2 + t3);
}

} // namespace lathe::ggml
