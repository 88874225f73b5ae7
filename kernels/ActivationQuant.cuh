#pragma once
// Per-token int8 activations on the device (SmoothQuant W8A8, ActivationQuantization::PerTokenInt8), as
// the CPU backend defines them (backend/cpu/ActivationQuant.h): one scale d = max|x| / 127 per row,
// codes rint(x · 127 / max|x|) clamped to ±127 (NaN gives −127), d kept in float. See ActivationQuant.cu.

#include <cstdint>
#include <cuda_runtime.h>

namespace lathe::kernels {

// amax[t] = max |x[t][c]| over the row. x: [nTokens][cols].
void rowAbsMax(const float* x, int nTokens, int64_t cols, float* amax, cudaStream_t stream);

// out[t][c] = d_t · code(x[t][c]): the activations as the integer dot products see them, for the
// float and fp16 paths (several tokens, GEMM), which then multiply what int8 kernels would.
// out may alias x.
void fakeQuantizePerToken(const float* x, int nTokens, int64_t cols, float* out, cudaStream_t stream);

} // namespace lathe::kernels
