#pragma once
// Rotary position embedding on the device. See Rope.cu.

#include <cstdint>
#include <cuda_runtime.h>

namespace lathe::kernels {

struct RopeArgs {
    float* x = nullptr; // [nTokens][nHeads][headDim], rotated in place
    int nTokens = 0, nHeads = 0, headDim = 0;
    const int32_t* positions = nullptr; // [nTokens]
    int nDims = 0;                      // rotated dimensions per head (even, <= headDim)
    float freqBase = 10000.0f;
    bool halfSplit = false;             // pairs (i, i + nDims/2) instead of (2i, 2i+1)
    const float* freqFactors = nullptr; // [nDims/2] divisors of theta_i, or null
};

void rope(const RopeArgs& args, cudaStream_t stream);

// base^(-2/nDims): theta_i = position * ropeThetaScale^i (RopePair.cuh).
float ropeThetaScale(const RopeArgs& args);

} // namespace lathe::kernels
