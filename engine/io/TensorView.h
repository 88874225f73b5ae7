#pragma once
// A read-only view of one stored tensor: its name, format, shape and bytes (usually inside a
// memory-mapped model file). Shapes use ggml's order: shape[0] is the contiguous (innermost)
// dimension, so a matrix of `rows` outputs by `cols` inputs has shape {cols, rows}.

#include <array>
#include <cstdint>
#include <string>

#include "core/DType.h"

namespace lathe {

struct TensorView {
    std::string name;
    DType dtype = DType::F32;
    int nDims = 0;
    std::array<int64_t, 4> shape{1, 1, 1, 1}; // unused trailing dims are 1
    const uint8_t* data = nullptr;
    uint64_t nbytes = 0;

    int64_t elementCount() const { return shape[0] * shape[1] * shape[2] * shape[3]; }
    int64_t rowLength() const { return shape[0]; }
    int64_t rowCount() const { return shape[1] * shape[2] * shape[3]; }
    uint64_t rowStride() const { return rowBytes(dtype, uint64_t(shape[0])); }
    const uint8_t* row(int64_t index) const { return data + uint64_t(index) * rowStride(); }
};

} // namespace lathe
