#include "io/Quants.h"

#include "core/Error.h"
#include "core/Half.h"

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <cstring>

namespace lathe {
namespace {

constexpr int kQk = 32;   // elements per block of the 32-wide formats
constexpr int kQkK = 256; // elements per K-quant super-block

inline float halfAt(const uint8_t* p) {
    uint16_t h;
    std::memcpy(&h, p, 2);
    return fp16ToFloat(h);
}

inline void putHalf(uint8_t* p, float f) {
    const uint16_t h = floatToFp16(f);
    std::memcpy(p, &h, 2);
}

// ---- 32-wide formats -------------------------------------------------------------------------

void dequantizeQ4_0(const uint8_t* b, float* y) {
    const float d = halfAt(b);
    const uint8_t* qs = b + 2;
    for (int j = 0; j < kQk / 2; ++j) {
        y[j] = float((qs[j] & 0x0f) - 8) * d;
        y[j + kQk / 2] = float((qs[j] >> 4) - 8) * d;
    }
}

void dequantizeQ4_1(const uint8_t* b, float* y) {
    const float d = halfAt(b), m = halfAt(b + 2);
    const uint8_t* qs = b + 4;
    for (int j = 0; j < kQk / 2; ++j) {
        y[j] = float(qs[j] & 0x0f) * d + m;
        y[j + kQk / 2] = float(qs[j] >> 4) * d + m;
    }
}

// Q5: bit j of qh is the fifth bit of element j (0..31).
inline int fifthBit(uint32_t qh, int j) {
    return int((qh >> j) & 1u) << 4;
}

void dequantizeQ5_0(const uint8_t* b, float* y) {
    const float d = halfAt(b);
    uint32_t qh;
    std::memcpy(&qh, b + 2, 4);
    const uint8_t* qs = b + 6;
    for (int j = 0; j < kQk / 2; ++j) {
        y[j] = float(((qs[j] & 0x0f) | fifthBit(qh, j)) - 16) * d;
        y[j + kQk / 2] = float(((qs[j] >> 4) | fifthBit(qh, j + kQk / 2)) - 16) * d;
    }
}

void dequantizeQ5_1(const uint8_t* b, float* y) {
    const float d = halfAt(b), m = halfAt(b + 2);
    uint32_t qh;
    std::memcpy(&qh, b + 4, 4);
    const uint8_t* qs = b + 8;
    for (int j = 0; j < kQk / 2; ++j) {
        y[j] = float((qs[j] & 0x0f) | fifthBit(qh, j)) * d + m;
        y[j + kQk / 2] = float((qs[j] >> 4) | fifthBit(qh, j + kQk / 2)) * d + m;
    }
}

void dequantizeQ8_0(const uint8_t* b, float* y) {
    const float d = halfAt(b);
    const auto* qs = reinterpret_cast<const int8_t*>(b + 2);
    for (int j = 0; j < kQk; ++j)
        y[j] = float(qs[j]) * d;
}

void dequantizeQ8_1(const uint8_t* b, float* y) {
    const float d = halfAt(b);
    const auto* qs = reinterpret_cast<const int8_t*>(b + 4);
    for (int j = 0; j < kQk; ++j)
        y[j] = float(qs[j]) * d;
}

// ---- K-quants --------------------------------------------------------------------------------

void dequantizeQ2_K(const uint8_t* b, float* y) {
    const uint8_t* scales = b;
    const uint8_t* q = b + 16;
    const float d = halfAt(b + 80), dmin = halfAt(b + 82);
    int is = 0;
    for (int half = 0; half < 2; ++half) { // each 128 elements use 32 bytes of qs, 2 bits per shift
        for (int shift = 0; shift < 8; shift += 2) {
            for (int part = 0; part < 2; ++part) {
                const uint8_t sc = scales[is++];
                const float dl = d * float(sc & 0x0f), ml = dmin * float(sc >> 4);
                for (int l = 0; l < 16; ++l)
                    *y++ = dl * float((q[l + 16 * part] >> shift) & 3) - ml;
            }
        }
        q += 32;
    }
}

void dequantizeQ3_K(const uint8_t* b, float* y) {
    const uint8_t* hmask = b;
    const uint8_t* q = b + 32;
    const uint8_t* packed = b + 96;
    const float dAll = halfAt(b + 108);
    // 16 six-bit scales: low 4 bits in bytes 0..7 (group j < 8 low nibble, j >= 8 high nibble of byte
    // j-8), top 2 bits in bytes 8..11 (group j at bits 2*(j/4) of byte 8 + j%4). Stored with +32 bias.
    int scales[16];
    for (int j = 0; j < 16; ++j) {
        const int low = j < 8 ? (packed[j] & 0x0f) : (packed[j - 8] >> 4);
        const int high = (packed[8 + j % 4] >> (2 * (j / 4))) & 3;
        scales[j] = (low | (high << 4)) - 32;
    }
    int is = 0;
    uint8_t m = 1;
    for (int half = 0; half < 2; ++half) {
        for (int shift = 0; shift < 8; shift += 2) {
            for (int part = 0; part < 2; ++part) {
                const float dl = dAll * float(scales[is++]);
                for (int l = 0; l < 16; ++l) {
                    const int idx = l + 16 * part;
                    const int low = (q[idx] >> shift) & 3;
                    *y++ = dl * float(low - ((hmask[idx] & m) ? 0 : 4));
                }
            }
            m = uint8_t(m << 1);
        }
        q += 32;
    }
}

void dequantizeQ4_K(const uint8_t* b, float* y) {
    const float d = halfAt(b), dmin = halfAt(b + 2);
    const uint8_t* scales = b + 4;
    const uint8_t* q = b + 16;
    for (int group = 0; group < 8; group += 2) {
        uint8_t sc, m;
        kScaleMin(group, scales, sc, m);
        const float d1 = d * float(sc), m1 = dmin * float(m);
        kScaleMin(group + 1, scales, sc, m);
        const float d2 = d * float(sc), m2 = dmin * float(m);
        for (int l = 0; l < 32; ++l)
            *y++ = d1 * float(q[l] & 0x0f) - m1;
        for (int l = 0; l < 32; ++l)
            *y++ = d2 * float(q[l] >> 4) - m2;
        q += 32;
    }
}

void dequantizeQ5_K(const uint8_t* b, float* y) {
    const float d = halfAt(b), dmin = halfAt(b + 2);
    const uint8_t* scales = b + 4;
    const uint8_t* qh = b + 16;
    const uint8_t* ql = b + 48;
    uint8_t u1 = 1, u2 = 2;
    for (int group = 0; group < 8; group += 2) {
        uint8_t sc, m;
        kScaleMin(group, scales, sc, m);
        const float d1 = d * float(sc), m1 = dmin * float(m);
        kScaleMin(group + 1, scales, sc, m);
        const float d2 = d * float(sc), m2 = dmin * float(m);
        for (int l = 0; l < 32; ++l)
            *y++ = d1 * float((ql[l] & 0x0f) + ((qh[l] & u1) ? 16 : 0)) - m1;
        for (int l = 0; l < 32; ++l)
            *y++ = d2 * float((ql[l] >> 4) + ((qh[l] & u2) ? 16 : 0)) - m2;
        ql += 32;
        u1 = uint8_t(u1 << 2);
        u2 = uint8_t(u2 << 2);
    }
}

void dequantizeQ6_K(const uint8_t* b, float* y) {
    const uint8_t* ql = b;
    const uint8_t* qh = b + 128;
    const auto* sc = reinterpret_cast<const int8_t*>(b + 192);
    const float d = halfAt(b + 208);
    for (int half = 0; half < 2; ++half) {
        for (int l = 0; l < 32; ++l) {
            const int is = l / 16;
            const int q1 = ((ql[l] & 0x0f) | (((qh[l] >> 0) & 3) << 4)) - 32;
            const int q2 = ((ql[l + 32] & 0x0f) | (((qh[l] >> 2) & 3) << 4)) - 32;
            const int q3 = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
            const int q4 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
            y[l] = d * float(sc[is]) * float(q1);
            y[l + 32] = d * float(sc[is + 2]) * float(q2);
            y[l + 64] = d * float(sc[is + 4]) * float(q3);
            y[l + 96] = d * float(sc[is + 6]) * float(q4);
        }
        y += 128;
        ql += 64;
        qh += 32;
        sc += 8;
    }
}

void dequantizeQ8_K(const uint8_t* b, float* y) {
    float d;
    std::memcpy(&d, b, 4);
    const auto* qs = reinterpret_cast<const int8_t*>(b + 4);
    for (int j = 0; j < kQkK; ++j)
        y[j] = d * float(qs[j]);
}

// ---- Lathe's own formats ----------------------------------------------------------------------

constexpr int kLq3Block = 64;

// The 3-bit code of element j: bits 3j..3j+2 of qs as one little-endian stream. The second byte is
// read only when the code straddles into it (never past qs[23], which would be the next block).
inline int lq3Code(const uint8_t* qs, int j) {
    const int bit = 3 * j, byte = bit / 8, shift = bit % 8;
    unsigned v = qs[byte];
    if (shift > 5) v |= unsigned(qs[byte + 1]) << 8;
    return int((v >> shift) & 7u);
}

void dequantizeLQ3_64(const uint8_t* b, float* y) {
    const float d = halfAt(b), m = halfAt(b + 2);
    const uint8_t* qs = b + 4;
    for (int j = 0; j < kLq3Block; ++j)
        y[j] = float(lq3Code(qs, j)) * d + m;
}

using BlockDecoder = void (*)(const uint8_t*, float*);

BlockDecoder blockDecoderFor(DType type) {
    switch (type) {
    case DType::Q4_0:
        return dequantizeQ4_0;
    case DType::Q4_1:
        return dequantizeQ4_1;
    case DType::Q5_0:
        return dequantizeQ5_0;
    case DType::Q5_1:
        return dequantizeQ5_1;
    case DType::Q8_0:
        return dequantizeQ8_0;
    case DType::Q8_1:
        return dequantizeQ8_1;
    case DType::Q2_K:
        return dequantizeQ2_K;
    case DType::Q3_K:
        return dequantizeQ3_K;
    case DType::Q4_K:
        return dequantizeQ4_K;
    case DType::Q5_K:
        return dequantizeQ5_K;
    case DType::Q6_K:
        return dequantizeQ6_K;
    case DType::Q8_K:
        return dequantizeQ8_K;
    case DType::LQ3_64:
        return dequantizeLQ3_64;
    default:
        return nullptr;
    }
}

// ---- reference quantizers (ggml's *_ref functions, same arithmetic) ---------------------------

// The value of largest magnitude, keeping its sign (the first one on ties, as ggml).
float signedAbsMax(const float* x, int n) {
    float amax = 0.0f, max = 0.0f;
    for (int j = 0; j < n; ++j) {
        if (amax < std::fabs(x[j])) {
            amax = std::fabs(x[j]);
            max = x[j];
        }
    }
    return max;
}

void minMax(const float* x, int n, float& min, float& max) {
    min = FLT_MAX;
    max = -FLT_MAX;
    for (int j = 0; j < n; ++j) {
        min = std::min(min, x[j]);
        max = std::max(max, x[j]);
    }
}

// (int8_t)(v) in ggml truncates toward zero; v stays within [-0.5, 32] for finite input.
inline int truncToInt(float v) {
    return int(v);
}

void quantizeQ4_0(const float* x, uint8_t* b) {
    const float d = signedAbsMax(x, kQk) / -8;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    putHalf(b, d);
    for (int j = 0; j < kQk / 2; ++j) {
        const int x0 = std::min(15, truncToInt(x[j] * id + 8.5f));
        const int x1 = std::min(15, truncToInt(x[j + kQk / 2] * id + 8.5f));
        b[2 + j] = uint8_t(x0 | (x1 << 4));
    }
}

void quantizeQ4_1(const float* x, uint8_t* b) {
    float min, max;
    minMax(x, kQk, min, max);
    const float d = (max - min) / 15;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    putHalf(b, d);
    putHalf(b + 2, min);
    for (int j = 0; j < kQk / 2; ++j) {
        const int x0 = std::min(15, truncToInt((x[j] - min) * id + 0.5f));
        const int x1 = std::min(15, truncToInt((x[j + kQk / 2] - min) * id + 0.5f));
        b[4 + j] = uint8_t(x0 | (x1 << 4));
    }
}

void packQ5(const int* q, uint8_t* qhOut, uint8_t* qs) {
    uint32_t qh = 0;
    for (int j = 0; j < kQk / 2; ++j) {
        const int x0 = q[j], x1 = q[j + kQk / 2];
        qs[j] = uint8_t((x0 & 0x0f) | ((x1 & 0x0f) << 4));
        qh |= uint32_t((x0 & 0x10) >> 4) << j;
        qh |= uint32_t((x1 & 0x10) >> 4) << (j + kQk / 2);
    }
    std::memcpy(qhOut, &qh, 4);
}

void quantizeQ5_0(const float* x, uint8_t* b) {
    const float d = signedAbsMax(x, kQk) / -16;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    putHalf(b, d);
    int q[kQk];
    for (int j = 0; j < kQk; ++j)
        q[j] = std::min(31, truncToInt(x[j] * id + 16.5f));
    packQ5(q, b + 2, b + 6);
}

void quantizeQ5_1(const float* x, uint8_t* b) {
    float min, max;
    minMax(x, kQk, min, max);
    const float d = (max - min) / 31;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    putHalf(b, d);
    putHalf(b + 2, min);
    int q[kQk];
    for (int j = 0; j < kQk; ++j)
        q[j] = truncToInt((x[j] - min) * id + 0.5f) & 0xff; // ggml casts to uint8_t without clamping
    packQ5(q, b + 4, b + 8);
}

void quantizeQ8_0(const float* x, uint8_t* b) {
    float amax = 0.0f;
    for (int j = 0; j < kQk; ++j)
        amax = std::max(amax, std::fabs(x[j]));
    const float d = amax / 127;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    putHalf(b, d);
    for (int j = 0; j < kQk; ++j)
        b[2 + j] = uint8_t(int8_t(std::round(x[j] * id)));
}

// Asymmetric round-to-nearest over the block's range; d and m are rounded to fp16 before the codes are
// chosen, so the codes fit the values the decoder will use.
void quantizeLQ3_64(const float* x, uint8_t* b) {
    float min, max;
    minMax(x, kLq3Block, min, max);
    const float d = fp16ToFloat(floatToFp16((max - min) / 7));
    const float m = fp16ToFloat(floatToFp16(min));
    putHalf(b, d);
    putHalf(b + 2, m);
    uint8_t* qs = b + 4;
    std::memset(qs, 0, 24);
    for (int j = 0; j < kLq3Block; ++j) {
        const float q = d != 0.0f ? std::round((x[j] - m) / d) : 0.0f;
        const unsigned code = q >= 7.0f ? 7u : q > 0.0f ? unsigned(q) : 0u; // NaN -> 0
        const int bit = 3 * j, byte = bit / 8, shift = bit % 8;
        qs[byte] = uint8_t(qs[byte] | (code << shift));
        if (shift > 5) qs[byte + 1] = uint8_t(qs[byte + 1] | (code >> (8 - shift)));
    }
}

using BlockEncoder = void (*)(const float*, uint8_t*);

BlockEncoder blockEncoderFor(DType type) {
    switch (type) {
    case DType::Q4_0:
        return quantizeQ4_0;
    case DType::Q4_1:
        return quantizeQ4_1;
    case DType::Q5_0:
        return quantizeQ5_0;
    case DType::Q5_1:
        return quantizeQ5_1;
    case DType::Q8_0:
        return quantizeQ8_0;
    case DType::LQ3_64:
        return quantizeLQ3_64;
    default:
        return nullptr;
    }
}

bool isPlainFloat(DType type) {
    return type == DType::F32 || type == DType::F16 || type == DType::BF16;
}

void checkCount(DType type, int64_t n, const char* what) {
    const DTypeInfo& info = dtypeInfo(type);
    if (n < 0 || n % info.blockSize != 0)
        fail(ErrorCategory::InvalidArgument, "{}: {} elements is not a multiple of the {} block size {}",
             what, n, info.name, info.blockSize);
}

} // namespace

bool canDequantize(DType type) {
    return isPlainFloat(type) || blockDecoderFor(type) != nullptr;
}
bool canQuantize(DType type) {
    return isPlainFloat(type) || blockEncoderFor(type) != nullptr;
}

void dequantizeRow(DType type, const void* src, float* dst, int64_t n) {
    if (!canDequantize(type))
        fail(ErrorCategory::Unsupported, "dequantizeRow: {} tensors cannot be decoded", dtypeName(type));
    checkCount(type, n, "dequantizeRow");
    const auto* bytes = static_cast<const uint8_t*>(src);
    switch (type) {
    case DType::F32:
        std::memcpy(dst, src, size_t(n) * 4);
        return;
    case DType::F16:
        for (int64_t i = 0; i < n; ++i)
            dst[i] = halfAt(bytes + 2 * i);
        return;
    case DType::BF16:
        for (int64_t i = 0; i < n; ++i) {
            uint16_t h;
            std::memcpy(&h, bytes + 2 * i, 2);
            dst[i] = bf16ToFloat(h);
        }
        return;
    default:
        break;
    }
    const DTypeInfo& info = dtypeInfo(type);
    const BlockDecoder decode = blockDecoderFor(type);
    for (int64_t block = 0; block < n / info.blockSize; ++block)
        decode(bytes + block * info.blockBytes, dst + block * info.blockSize);
}

void quantizeRow(DType type, const float* src, void* dst, int64_t n) {
    if (!canQuantize(type))
        fail(ErrorCategory::Unsupported, "quantizeRow: {} has no reference quantizer", dtypeName(type));
    checkCount(type, n, "quantizeRow");
    auto* bytes = static_cast<uint8_t*>(dst);
    switch (type) {
    case DType::F32:
        std::memcpy(dst, src, size_t(n) * 4);
        return;
    case DType::F16:
        for (int64_t i = 0; i < n; ++i)
            putHalf(bytes + 2 * i, src[i]);
        return;
    case DType::BF16:
        for (int64_t i = 0; i < n; ++i) {
            const uint16_t h = floatToBf16(src[i]);
            std::memcpy(bytes + 2 * i, &h, 2);
        }
        return;
    default:
        break;
    }
    const DTypeInfo& info = dtypeInfo(type);
    const BlockEncoder encode = blockEncoderFor(type);
    for (int64_t block = 0; block < n / info.blockSize; ++block)
        encode(src + block * info.blockSize, bytes + block * info.blockBytes);
}

} // namespace lathe
