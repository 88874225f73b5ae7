#pragma once
// Inputs and comparisons shared by the SIMD kernel suites (TestAvx2Kernels, TestAvx512Kernels).

#include "backend/cpu/ActivationQuant.h"
#include "core/DType.h"
#include "core/Half.h"

#include <bit>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <random>
#include <string>
#include <vector>

namespace lathe::test {

inline bool sameBits(float a, float b) {
    return std::bit_cast<uint32_t>(a) == std::bit_cast<uint32_t>(b) || (std::isnan(a) && std::isnan(b));
}

// Random bytes for a row of blocks, with each block's fp16 scale (and min) set to a sane value.
inline std::vector<uint8_t> randomRow(DType type, int64_t blocks, std::mt19937& rng) {
    const int bytes = type == DType::Q4_0   ? 18
                      : type == DType::Q4_1 ? 20
                      : type == DType::Q5_0 ? 22
                      : type == DType::Q5_1 ? 24
                                            : 34;
    std::vector<uint8_t> row(size_t(blocks * bytes));
    std::uniform_int_distribution<int> byte(0, 255);
    std::uniform_real_distribution<float> scale(-0.05f, 0.05f);
    for (auto& b : row)
        b = uint8_t(byte(rng));
    for (int64_t b = 0; b < blocks; ++b) {
        uint8_t* p = row.data() + b * bytes;
        const uint16_t d = floatToFp16(scale(rng)), m = floatToFp16(scale(rng));
        std::memcpy(p, &d, 2);
        if (type == DType::Q4_1 || type == DType::Q5_1) std::memcpy(p + 2, &m, 2);
        if (type == DType::Q8_0 && b % 3 == 0) p[2 + b % 32] = 0x80; // -128: no saturation in the pairs
    }
    return row;
}

inline std::vector<float> randomFloats(size_t n, std::mt19937& rng, float range) {
    std::uniform_real_distribution<float> value(-range, range);
    std::vector<float> v(n);
    for (auto& x : v)
        x = value(rng);
    return v;
}

// A four-row tile kernel against quantizedDotScalar, bit for bit: four random rows of `type` (1, 7, 18
// and 129 blocks) against 1..maxTokens rows of quantized activations. tile(rows, x, blocks, tokens, out)
// runs the kernel with out[t * 4 + r] for row r and token t. Returns the first output that differs, as
// text, or "" when every one matches.
template <typename Tile>
std::string fourRowTileMismatch(DType type, int maxTokens, std::mt19937& rng, Tile&& tile) {
    for (int64_t blocks : {1, 7, 18, 129}) {
        std::vector<std::vector<uint8_t>> rows;
        const uint8_t* rowPointers[4];
        for (int r = 0; r < 4; ++r) {
            rows.push_back(randomRow(type, blocks, rng));
            rowPointers[r] = rows.back().data();
        }
        std::vector<ActivationBlock> x(static_cast<size_t>(maxTokens * blocks));
        const std::vector<float> values = randomFloats(size_t(maxTokens * blocks * 32), rng, 2.0f);
        quantizeActivationsScalar(values.data(), maxTokens * blocks * 32, x.data());
        for (int tokens = 1; tokens <= maxTokens; ++tokens) {
            std::vector<float> out(size_t(tokens * 4));
            tile(rowPointers, x.data(), blocks, tokens, out.data());
            for (int t = 0; t < tokens; ++t)
                for (int r = 0; r < 4; ++r)
                    if (!sameBits(out[size_t(t * 4 + r)],
                                  quantizedDotScalar(type, rowPointers[r], x.data() + t * blocks, blocks)))
                        return std::to_string(blocks) + " blocks, " + std::to_string(tokens) +
                               " tokens: row " + std::to_string(r) + ", token " + std::to_string(t);
        }
    }
    return "";
}

} // namespace lathe::test
