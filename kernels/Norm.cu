// Norm: RMSNorm, out[t][i] = (x[t][i] * rsqrt(mean_i(x[t][i]^2) + eps)) * weight[i].
//
// Layout: x, out row-major [nTokens][dim] float; weight [dim] float. One block of 256 threads per
// token: each thread sums squares over a strided slice, the block reduces through shared memory (one
// value per warp), then every thread scales its slice. The scale is applied before the weight, as the
// CPU reference (and ggml) does, so rounding matches to the last step.

#include "kernels/Norm.cuh"

namespace lathe::kernels {
namespace {

constexpr int kThreads = 256;

__global__ void __launch_bounds__(kThreads)
    rmsNormKernel(const float* x, const float* __restrict__ weight, int dim, float eps, float* out) {
    __shared__ float warpSums[kThreads / 32];
    const float* xr = x + int64_t(blockIdx.x) * dim;
    float* yr = out + int64_t(blockIdx.x) * dim;
    float sum = 0.0f;
    for (int i = threadIdx.x; i < dim; i += kThreads)
        sum += xr[i] * xr[i];
#pragma unroll
    for (int offset = 16; offset > 0; offset >>= 1)
        sum += __shfl_xor_sync(0xffffffffu, sum, offset);
    if ((threadIdx.x & 31) == 0) warpSums[threadIdx.x >> 5] = sum;
    __syncthreads();
    float total = 0.0f;
#pragma unroll
    for (int w = 0; w < kThreads / 32; ++w)
        total += warpSums[w];
    const float scale = rsqrtf(total / float(dim) + eps);
    for (int i = threadIdx.x; i < dim; i += kThreads)
        yr[i] = (xr[i] * scale) * weight[i];
}

} // namespace

void rmsNorm(const float* x, const float* weight, int nTokens, int dim, float eps, float* out,
             cudaStream_t stream) {
    if (nTokens <= 0) return;
    rmsNormKernel<<<nTokens, kThreads, 0, stream>>>(x, weight, dim, eps, out);
}

} // namespace lathe::kernels
