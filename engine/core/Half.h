#pragma once
// IEEE fp16 and bfloat16 <-> float conversions (round to nearest even), bit-exact with ggml's.

#include <cstdint>
#include <cstring>

namespace lathe {

inline float bitsToFloat(uint32_t bits) {
    float f;
    std::memcpy(&f, &bits, sizeof f);
    return f;
}

inline uint32_t floatToBits(float f) {
    uint32_t bits;
    std::memcpy(&bits, &f, sizeof bits);
    return bits;
}

inline float fp16ToFloat(uint16_t h) {
    const uint32_t sign = uint32_t(h & 0x8000u) << 16;
    const uint32_t exponent = (h >> 10) & 0x1f;
    uint32_t mantissa = h & 0x3ffu;
    if (exponent == 0x1f) return bitsToFloat(sign | 0x7f800000u | (mantissa << 13)); // inf / nan
    if (exponent == 0) {
        if (mantissa == 0) return bitsToFloat(sign);
        // subnormal: value = mantissa * 2^-24
        float f = float(mantissa) * (1.0f / 16777216.0f);
        return sign ? -f : f;
    }
    return bitsToFloat(sign | ((exponent + 112) << 23) | (mantissa << 13));
}

inline uint16_t floatToFp16(float f) {
    const uint32_t x = floatToBits(f);
    const uint32_t sign = (x >> 16) & 0x8000u;
    const uint32_t absBits = x & 0x7fffffffu;
    if (absBits >= 0x7f800000u) // inf or nan
        return uint16_t(sign | 0x7c00u | (absBits > 0x7f800000u ? 0x200u : 0u));
    if (absBits >= 0x477ff000u) return uint16_t(sign | 0x7c00u); // rounds to >= 65520: overflow to inf
    if (absBits < 0x38800000u) {                                 // below the smallest normal half
        if (absBits < 0x33000000u) return uint16_t(sign);        // rounds to zero
        const uint32_t exponent = absBits >> 23;
        const uint32_t mantissa = (absBits & 0x7fffffu) | 0x800000u;
        const uint32_t shift = 126 - exponent; // 14..24
        uint32_t half = mantissa >> shift;
        const uint32_t rest = mantissa & ((1u << shift) - 1);
        const uint32_t halfway = 1u << (shift - 1);
        if (rest > halfway || (rest == halfway && (half & 1u))) ++half;
        return uint16_t(sign | half);
    }
    uint32_t half = ((absBits - 0x38000000u) >> 13);
    const uint32_t rest = absBits & 0x1fffu;
    if (rest > 0x1000u || (rest == 0x1000u && (half & 1u))) ++half;
    return uint16_t(sign | half);
}

inline float bf16ToFloat(uint16_t b) {
    return bitsToFloat(uint32_t(b) << 16);
}

inline uint16_t floatToBf16(float f) {
    uint32_t x = floatToBits(f);
    if ((x & 0x7fffffffu) > 0x7f800000u) return uint16_t((x >> 16) | 0x40u); // quiet nan
    x += 0x7fffu + ((x >> 16) & 1u);
    return uint16_t(x >> 16);
}

} // namespace lathe
