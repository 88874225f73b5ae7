#pragma once
// Elementwise activation ops on the device. See Elementwise.cu.

#include "kernels/XCodes.cuh"

#include <cstdint>
#include <cuda_runtime.h>

namespace lathe::kernels {

// out = silu(gate) * up
// out = silu(gate) * up; codes (n % 32 == 0, one token's row, or none): out for the int8 mat-vec.
void swiglu(const float* gate, const float* up, int64_t n, float* out, cudaStream_t stream,
            XCodes codes = {});
// out = a + b (out may alias a or b)
void add(const float* a, const float* b, int64_t n, float* out, cudaStream_t stream);
// out[t][r] += bias[r], out: [nTokens][rows]
void addBias(float* out, const float* bias, int nTokens, int64_t rows, cudaStream_t stream);

// Streams `bytes` (a multiple of 16, 16-byte aligned) once through the SMs, adding into
// blockSums[blocks] (zeroed by the caller): the read half of a memory-bandwidth measurement.
void readProbe(const void* data, int64_t bytes, float* blockSums, int blocks, cudaStream_t stream);
} // namespace lathe::kernels
