#pragma once
// The device layout of weight rows, shared by the host packer (engine/backend/cuda/DeviceWeights) and
// the kernels (QuantBlocks.cuh). Plain C++ so both compilers read the same definition.
//
// Float formats (F32, F16, BF16) keep their stored rows. A row of Q4_0, Q4_1 or Q8_0 blocks is stored
// as all its blocks' quants, then all their scales, padded to 16 bytes:
//   [quants: blocks x quantBytes][scales: blocks x scaleBytes][pad to 16]
// ggml interleaves an 18-byte (Q4_0), 20-byte (Q4_1) or 34-byte (Q8_0) block, which a GPU can read
// only with 2- or 4-byte loads. Split, a lane reads one block's quants with one 16-byte load, a warp's
// quant loads cover 512 contiguous bytes, and its scale loads are contiguous too. Quants keep ggml's
// order: Q4 byte j holds element j (low nibble) and j + 16 (high nibble); Q8_0 one int8 per element.

#include <cstdint>

#if defined(__CUDACC__)
#define LATHE_HOST_DEVICE __host__ __device__
#else
#define LATHE_HOST_DEVICE
#endif

namespace lathe::kernels {

// Ids are GGUF/DType ids (F32 0, F16 1, Q4_0 2, Q4_1 3, Q8_0 8, BF16 30).
LATHE_HOST_DEVICE constexpr bool isSplitBlockFormat(int dtype) {
    return dtype == 2 || dtype == 3 || dtype == 8;
}
// Bytes of one block's quants (32 elements) and of its scale part: Q4_0 d; Q4_1 (d, m); Q8_0 d.
LATHE_HOST_DEVICE constexpr int blockQuantBytes(int dtype) {
    return dtype == 8 ? 32 : 16;
}
LATHE_HOST_DEVICE constexpr int blockScaleBytes(int dtype) {
    return dtype == 3 ? 4 : 2;
}

// Bytes of one device row of `cols` elements; 0 for a format the kernels do not read.
LATHE_HOST_DEVICE constexpr int64_t deviceRowBytes(int dtype, int64_t cols) {
    if (dtype == 0) return cols * 4;
    if (dtype == 1 || dtype == 30) return cols * 2;
    if (isSplitBlockFormat(dtype)) {
        const int64_t bytes = cols / 32 * (blockQuantBytes(dtype) + blockScaleBytes(dtype));
        return (bytes + 15) / 16 * 16;
    }
    return 0;
}

} // namespace lathe::kernels
