#include "compress/QuantGrid.h"

#include "core/Error.h"
#include "core/Half.h"

#include <algorithm>
#include <cmath>
#include <cstring>

namespace lathe {

namespace {

float toHalfPrecision(float v) {
    return fp16ToFloat(floatToFp16(v));
}

} // namespace

void QuantSpec::validate(int64_t cols) const {
    if (bits != 3 && bits != 4 && bits != 8)
        fail(ErrorCategory::InvalidArgument, "quantization: {} bits is not supported (3, 4 or 8)", bits);
    if (bits == 8 && !symmetric)
        fail(ErrorCategory::InvalidArgument,
             "quantization: 8-bit is symmetric only (stored as Q8_0); set symmetric");
    if (group != 0 && (group < 32 || group % 32 != 0))
        fail(ErrorCategory::InvalidArgument,
             "quantization: group {} is not a multiple of 32 (use 32, 64, 128 ... or 0 for per channel)",
             group);
    if (cols % 32 != 0)
        fail(ErrorCategory::InvalidArgument, "quantization: rows of {} weights are not whole blocks of 32",
             cols);
}

GroupParams groupParams(std::span<const float> weights, const QuantSpec& spec, float clip) {
    GroupParams p;
    if (weights.empty()) return p;
    if (spec.symmetric) {
        // The weight of largest magnitude keeps its sign and maps to the grid's end (ggml's Q4_0 rule),
        // except at 8 bits, where Q8_0's symmetric range [-127, 127] is kept.
        float signedMax = 0.0f;
        for (float w : weights)
            if (std::fabs(w) > std::fabs(signedMax)) signedMax = w;
        signedMax *= clip;
        // The scale may be negative (a positive extreme): codes then descend as values ascend, as ggml's
        // Q4_0 stores it. Code 2^(bits-1) is zero either way.
        const int half = 1 << (spec.bits - 1);
        p.scale = toHalfPrecision(spec.bits == 8 ? std::fabs(signedMax) / 127.0f : signedMax / -float(half));
        p.min = -float(half) * p.scale;
        return p;
    }
    auto [lo, hi] = std::minmax_element(weights.begin(), weights.end());
    // Clipping as AWQ's search does it: the range is clamped to +-clip * max|w|.
    const float bound = std::max(std::fabs(*lo), std::fabs(*hi)) * clip;
    const float minV = std::max(*lo, -bound), maxV = std::min(*hi, bound);
    const int top = (1 << spec.bits) - 1;
    p.scale = toHalfPrecision((maxV - minV) / float(top));
    p.min = toHalfPrecision(minV);
    return p;
}

std::vector<float> QuantizedMatrix::dequantized() const {
    std::vector<float> out(size_t(rows * cols));
    for (int64_t r = 0; r < rows; ++r)
        for (int64_t c = 0; c < cols; ++c)
            out[size_t(r * cols + c)] = value(r, c);
    return out;
}

QuantizedMatrix quantizeNearest(std::span<const float> w, int64_t rows, int64_t cols, const QuantSpec& spec,
                                std::span<const float> clips) {
    spec.validate(cols);
    if (int64_t(w.size()) != rows * cols)
        fail(ErrorCategory::Internal, "quantizeNearest: {} weights are not {} x {}", w.size(), rows, cols);
    QuantizedMatrix m;
    m.rows = rows;
    m.cols = cols;
    m.spec = spec;
    const int64_t g = spec.groupLength(cols), perRow = (cols + g - 1) / g;
    if (!clips.empty() && int64_t(clips.size()) != rows * perRow)
        fail(ErrorCategory::Internal, "quantizeNearest: {} clip ratios for {} groups", clips.size(),
             rows * perRow);
    m.codes.resize(size_t(rows * cols));
    m.groups.resize(size_t(rows * perRow));
    for (int64_t r = 0; r < rows; ++r)
        for (int64_t k = 0; k < perRow; ++k) {
            const int64_t length = std::min(g, cols - k * g);
            const float* src = w.data() + r * cols + k * g;
            const float clip = clips.empty() ? 1.0f : clips[size_t(r * perRow + k)];
            const GroupParams p = groupParams(std::span(src, size_t(length)), spec, clip);
            m.groups[size_t(r * perRow + k)] = p;
            uint8_t* codes = m.codes.data() + r * cols + k * g;
            for (int64_t j = 0; j < length; ++j)
                codes[j] = uint8_t(quantizeToCode(src[j], p, spec.bits));
        }
    return m;
}

DType storageFormatFor(const QuantSpec& spec, int64_t cols) {
    switch (spec.bits) {
    case 8:
        return DType::Q8_0;
    case 4:
        return spec.symmetric ? DType::Q4_0 : DType::Q4_1;
    case 3:
        if (spec.groupLength(cols) % 64 == 0 && cols % 64 == 0) return DType::LQ3_64;
        return DType::Q4_1;
    default:
        fail(ErrorCategory::InvalidArgument, "quantization: no stored format for {} bits", spec.bits);
    }
}

namespace {

void putHalf(uint8_t* dst, float v) {
    const uint16_t h = floatToFp16(v);
    std::memcpy(dst, &h, 2);
}

} // namespace

std::vector<uint8_t> encodeQuantized(const QuantizedMatrix& m) {
    const DType format = storageFormatFor(m.spec, m.cols);
    const DTypeInfo& info = dtypeInfo(format);
    const int64_t block = info.blockSize;
    const int64_t blocksPerRow = m.cols / block;
    std::vector<uint8_t> out(size_t(m.rows * blocksPerRow * info.blockBytes), 0);
    const int half = 1 << (m.spec.bits - 1);
    for (int64_t r = 0; r < m.rows; ++r)
        for (int64_t b = 0; b < blocksPerRow; ++b) {
            uint8_t* dst = out.data() + size_t((r * blocksPerRow + b) * info.blockBytes);
            const int64_t c0 = b * block;
            const GroupParams& p = m.paramsOf(r, c0);
            const uint8_t* codes = m.codes.data() + r * m.cols + c0;
            switch (format) {
            case DType::Q8_0: // half d; i8 qs[32]: x = q * d
                putHalf(dst, p.scale);
                for (int j = 0; j < 32; ++j)
                    dst[2 + j] = uint8_t(int8_t(int(codes[j]) - half));
                break;
            case DType::Q4_0: // half d; u8 qs[16]: x = (nibble - 8) * d, low nibbles first
            case DType::Q4_1: // half d, m; u8 qs[16]: x = nibble * d + m
            {
                const int offset = format == DType::Q4_0 ? 2 : 4;
                putHalf(dst, p.scale);
                if (format == DType::Q4_1) putHalf(dst + 2, p.min);
                // 3-bit codes in a Q4_1 container keep their value: nibble = code.
                for (int j = 0; j < 16; ++j)
                    dst[offset + j] = uint8_t((codes[j] & 0x0f) | ((codes[j + 16] & 0x0f) << 4));
                break;
            }
            case DType::LQ3_64: // half d, m; u8 qs[24]: code j at bits 3j..3j+2, x = code * d + m
                putHalf(dst, p.scale);
                putHalf(dst + 2, p.min);
                for (int j = 0; j < 64; ++j) {
                    const int bit = 3 * j;
                    const unsigned v = unsigned(codes[j] & 7u) << (bit % 8);
                    dst[4 + bit / 8] |= uint8_t(v & 0xffu);
                    if ((bit % 8) > 5) dst[4 + bit / 8 + 1] |= uint8_t(v >> 8);
                }
                break;
            default:
                fail(ErrorCategory::Internal, "encodeQuantized: {}", dtypeName(format));
            }
        }
    return out;
}

} // namespace lathe
