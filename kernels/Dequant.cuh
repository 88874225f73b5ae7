#pragma once
// Weight decoding on the device: rows to half precision (GEMM tiles), gathered rows to float
// (embedding lookup), and activation conversion for tensor-core GEMMs. See Dequant.cu.

#include <cstdint>
#include <cuda_runtime.h>

namespace lathe::kernels {

// True when the mat-vec, dequantize and gather kernels read this format at this row length (F32, F16,
// BF16 with cols % 8 == 0; Q4_0, Q4_1, Q8_0 with cols % 32 == 0).
bool hasWeightKernels(int dtype, int64_t cols);

// out[i][c] = w[rowBegin + i][c] as fp16, i < nRows. False for a format/shape without kernels.
bool dequantRowsToHalf(const void* w, int dtype, int64_t cols, int64_t rowBegin, int64_t nRows, void* outHalf,
                       cudaStream_t stream);

// out[i][c] = w[ids[i]][c] as float (embedding lookup); ids are device int32, assumed in range.
bool gatherRows(const void* w, int dtype, int64_t cols, const int32_t* ids, int nIds, float* out,
                cudaStream_t stream);

// out[i] = x[i] rounded to fp16 (toBf16 = false) or bf16 (toBf16 = true).
void convertActivations(const float* x, int64_t n, bool toBf16, void* out, cudaStream_t stream);

} // namespace lathe::kernels
