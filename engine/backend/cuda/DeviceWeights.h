#pragma once
// DeviceWeights: stored weight rows rearranged into the device layout the kernels read
// (kernels/WeightLayout.h). Plain C++, so the packing is unit-tested on machines without a GPU.

#include "core/DType.h"

#include <cstdint>
#include <vector>

namespace lathe::cuda {

// True when `format` rows are rearranged on upload (Q4_0, Q4_1, Q8_0); float rows travel as stored.
bool packsOnUpload(DType format);

// Bytes of one device row of `cols` elements of `format` (the stored row size for float formats).
int64_t deviceRowBytes(DType format, int64_t cols);

// `rows` stored rows of `cols` elements (ggml blocks, rowStride bytes apart) in the device layout:
// per row the blocks' quants, then their scale parts, then zero padding to 16 bytes.
std::vector<uint8_t> packRowsForDevice(DType format, const uint8_t* stored, uint64_t rowStride, int64_t rows,
                                       int64_t cols);

} // namespace lathe::cuda
