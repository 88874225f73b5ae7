#pragma once
// The weight grids of Lathe's quantizers: b-bit codes per weight, one scale and one minimum per group
// of `group` consecutive weights of a row (group 0: the whole row, "per channel"). RTN, AWQ and GPTQ
// all produce a QuantizedMatrix; the encoder turns it into a stored format without rounding again.
//
//   value = code * scale + min          code in [0, 2^bits)
//   symmetric: min = -2^(bits-1) * scale, so code 2^(bits-1) is exactly 0 (pruned weights stay 0); the
//              scale follows ggml's Q4_0 rule: the weight of largest magnitude maps to code 0.
//   asymmetric: scale = (max - min) / (2^bits - 1), min = the group's minimum.
// Scales and minimums are rounded to fp16 before any code is chosen, so the stored block formats hold
// every value exactly:
//   8-bit symmetric     -> Q8_0 (each block of 32 carries its group's scale)
//   4-bit symmetric     -> Q4_0           4-bit asymmetric -> Q4_1
//   3-bit, group a multiple of 64 (or per channel) on rows of 64s -> LQ3_64 (Lathe's own, 3.5 bpw; a
//                       group of 128 repeats its scale and minimum in both blocks of 64)
//   3-bit otherwise     -> Q4_1 (exact, at 4-bit size)

#include "core/DType.h"

#include <cstdint>
#include <span>
#include <vector>

namespace lathe {

struct QuantSpec {
    int bits = 4;    // 3, 4 or 8
    int group = 128; // 32, 64, 128, ... (a multiple of 32), or 0 for per channel; where the row is
                     // not whole groups, its last group is shorter (576 = 4 x 128 + 64)
    bool symmetric = false;

    int groupLength(int64_t cols) const { return group == 0 ? int(cols) : group; }
    // Throws lathe::Error (InvalidArgument) naming what does not fit rows of `cols` weights.
    void validate(int64_t cols) const;
};

struct GroupParams {
    float scale = 0.0f; // fp16-representable; negative for a symmetric group whose extreme is positive
    float min = 0.0f;   // fp16-representable
};

// The grid of one group of weights; clip in (0, 1] shrinks the range (AWQ's clipping search).
GroupParams groupParams(std::span<const float> weights, const QuantSpec& spec, float clip = 1.0f);

inline int quantizeToCode(float w, const GroupParams& p, int bits) {
    if (p.scale == 0.0f) return 0; // a constant group: every code decodes to min
    float q = (w - p.min) / p.scale;
    q = q < 0.0f ? 0.0f : q;
    const float top = float((1 << bits) - 1);
    q = q > top ? top : q;
    return int(q + 0.5f);
}
inline float codeValue(int code, const GroupParams& p) {
    return float(code) * p.scale + p.min;
}

struct QuantizedMatrix {
    int64_t rows = 0, cols = 0;
    QuantSpec spec;
    std::vector<uint8_t> codes;      // [rows][cols]
    std::vector<GroupParams> groups; // [rows][cols / groupLength]

    int64_t groupsPerRow() const { return (cols + spec.groupLength(cols) - 1) / spec.groupLength(cols); }
    const GroupParams& paramsOf(int64_t r, int64_t c) const {
        return groups[size_t(r * groupsPerRow() + c / spec.groupLength(cols))];
    }
    float value(int64_t r, int64_t c) const { return codeValue(codes[size_t(r * cols + c)], paramsOf(r, c)); }
    std::vector<float> dequantized() const; // [rows][cols]
};

// Round to nearest on the grid of each group. w: [rows][cols]. clips: empty, or one clip ratio per
// group ([rows][groupsPerRow]).
QuantizedMatrix quantizeNearest(std::span<const float> w, int64_t rows, int64_t cols, const QuantSpec& spec,
                                std::span<const float> clips = {});

// The stored format for a spec on rows of `cols` weights (see the table above).
DType storageFormatFor(const QuantSpec& spec, int64_t cols);
// The rows of storageFormatFor(...), bytes ready for GgufWriter.
std::vector<uint8_t> encodeQuantized(const QuantizedMatrix& m);

} // namespace lathe
