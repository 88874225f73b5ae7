#pragma once
// RMSNorm on the device. See Norm.cu.

#include <cuda_runtime.h>

namespace lathe::kernels {

// out[t] = x[t] / sqrt(mean(x[t]^2) + eps) * weight; x, out: [nTokens][dim] (may alias); weight: [dim].
void rmsNorm(const float* x, const float* weight, int nTokens, int dim, float eps, float* out,
             cudaStream_t stream);

} // namespace lathe::kernels
