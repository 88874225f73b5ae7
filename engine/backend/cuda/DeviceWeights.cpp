#include "backend/cuda/DeviceWeights.h"

#include "core/Error.h"
#include "kernels/WeightLayout.h"

#include <cstring>

namespace lathe::cuda {

bool packsOnUpload(DType format) {
    return kernels::isSplitBlockFormat(int(format));
}

int64_t deviceRowBytes(DType format, int64_t cols) {
    return kernels::deviceRowBytes(int(format), cols);
}

std::vector<uint8_t> packRowsForDevice(DType format, const uint8_t* stored, uint64_t rowStride, int64_t rows,
                                       int64_t cols) {
    if (!packsOnUpload(format) || cols % 32 != 0)
        fail(ErrorCategory::Internal, "packRowsForDevice: {} rows of {} elements are not packed",
             dtypeName(format), cols);
    const int id = int(format);
    const int quantBytes = kernels::blockQuantBytes(id), scaleBytes = kernels::blockScaleBytes(id);
    const int storedBlockBytes = quantBytes + scaleBytes; // ggml: the scale part first, then the quants
    const int64_t blocks = cols / 32, rowBytes = kernels::deviceRowBytes(id, cols);
    std::vector<uint8_t> packed(static_cast<size_t>(rows * rowBytes), 0);
    for (int64_t r = 0; r < rows; ++r) {
        const uint8_t* source = stored + uint64_t(r) * rowStride;
        uint8_t* quants = packed.data() + r * rowBytes;
        uint8_t* scales = quants + blocks * quantBytes;
        for (int64_t b = 0; b < blocks; ++b) {
            const uint8_t* block = source + b * storedBlockBytes;
            std::memcpy(scales + b * scaleBytes, block, size_t(scaleBytes));
            std::memcpy(quants + b * quantBytes, block + scaleBytes, size_t(quantBytes));
        }
    }
    return packed;
}

} // namespace lathe::cuda
