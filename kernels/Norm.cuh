#pragma once
// RMSNorm on the device, alone or after the residual add. See Norm.cu.

#include "kernels/XCodes.cuh"

#include <cuda_runtime.h>

namespace lathe::kernels {

// out[t] = x[t] / sqrt(mean(x[t]^2) + eps) * weight; x, out: [nTokens][dim] (may alias); weight: [dim].
// codes (one token, dim % 32 == 0, or none): out quantized for the int8 mat-vec (XCodes.cuh).
void rmsNorm(const float* x, const float* weight, int nTokens, int dim, float eps, float* out,
             cudaStream_t stream, XCodes codes = {});

// residual += a, then out = rmsNorm(residual) as above: the residual add and the next norm in one pass.
void addRmsNorm(const float* a, float* residual, const float* weight, int nTokens, int dim, float eps,
                float* out, cudaStream_t stream, XCodes codes = {});

} // namespace lathe::kernels
