#pragma once
// Reference (de)quantizers for ggml's block formats and Lathe's own: the one definition of each layout
// that every backend and test is checked against. Bit-exact with ggml's reference code (ggml-quants.c)
// for ggml's formats; written for clarity, not speed.
//
// Layouts (all little-endian, "half" = IEEE fp16), elements per block in parentheses:
//   Q4_0 (32):  half d; u8 qs[16]             x = (nibble - 8) * d; low nibbles x[0..15], high x[16..31]
//   Q4_1 (32):  half d, m; u8 qs[16]          x = nibble * d + m
//   Q5_0 (32):  half d; u8 qh[4]; u8 qs[16]   5th bit of x[j] is bit j of qh; x = (q - 16) * d
//   Q5_1 (32):  half d, m; u8 qh[4]; u8 qs[16]            x = q * d + m
//   Q8_0 (32):  half d; i8 qs[32]             x = q * d
//   Q8_1 (32):  half d, s; i8 qs[32]          x = q * d (s = d * sum(q), used by dot products)
//   Q2_K (256): u8 scales[16]; u8 qs[64]; half d, dmin                 16 groups of 16, 4-bit scale/min
//   Q3_K (256): u8 hmask[32]; u8 qs[64]; u8 scales[12]; half d         16 groups of 16, 6-bit signed scales
//   Q4_K (256): half d, dmin; u8 scales[12]; u8 qs[128]                8 groups of 32, 6-bit scales, mins
//   Q5_K (256): half d, dmin; u8 scales[12]; u8 qh[32]; u8 qs[128]
//   Q6_K (256): u8 ql[128]; u8 qh[64]; i8 scales[16]; half d           16 groups of 16
//   Q8_K (256): float d; i8 qs[256]; i16 bsums[16]
// Lathe's own (type ids from 1000, core/DType.h):
//   LQ3_64 (64):  half d, m; u8 qs[24]      x[j] = c_j * d + m, c_j in 0..7 the 3-bit code of element j:
//                   bits 3j..3j+2 of qs read as one little-endian bit stream (byte 3j/8, shift 3j%8; a
//                   code may straddle two bytes). Blocks of 64 fit rows of 576 (SmolLM2) where 128
//                   would not; a coarser group is the same d, m in consecutive blocks. Quantizer: asymmetric
//                   round-to-nearest per block, d = (max - min) / 7 and m = min, both rounded to fp16 first,
//                   c = clamp(round((x - m) / d), 0, 7) with round half away from zero (c = 0 where d is 0).

#include "core/DType.h"

#include <cstdint>

namespace lathe {

// Decodes n elements (a multiple of the type's block size) of `src` into `dst`.
// Throws lathe::Error (Unsupported) for types without a dequantizer, InvalidArgument for a bad n.
void dequantizeRow(DType type, const void* src, float* dst, int64_t n);

// Encodes n floats into `dst` as ggml's reference quantizer does (same rounding, same bytes), or as the
// layout comment above says for Lathe's own formats.
// Supported: F32, F16, BF16, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, LQ3_64.
void quantizeRow(DType type, const float* src, void* dst, int64_t n);

bool canDequantize(DType type);
bool canQuantize(DType type);

// Q4_K/Q5_K pack 8 six-bit scales and 8 six-bit mins into 12 bytes: groups 0..3 in the low 6 bits of
// bytes 0..3 (scales) and 4..7 (mins); groups 4..7 keep their low 4 bits in bytes 8..11 and their
// top 2 bits in the spare high bits of bytes 0..7. Group j's pair:
inline void kScaleMin(int j, const uint8_t* packed, uint8_t& scale, uint8_t& min) {
    if (j < 4) {
        scale = packed[j] & 63;
        min = packed[j + 4] & 63;
    } else {
        scale = uint8_t((packed[j + 4] & 0x0f) | ((packed[j - 4] >> 6) << 4));
        min = uint8_t((packed[j + 4] >> 4) | ((packed[j] >> 6) << 4));
    }
}

} // namespace lathe
