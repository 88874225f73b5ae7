// Per-token int8 activations. One block of 256 threads per row: a strided max |x| over the row,
// reduced through the warps and shared memory, then every element rounded to its code (round half to
// even, as the CPU's nearbyint) and, for fakeQuantizePerToken, scaled back by d.

#include "kernels/ActivationQuant.cuh"
#include "kernels/DependentLaunch.cuh"

namespace lathe::kernels {
namespace {

constexpr int kThreads = 256;

__device__ float blockAbsMax(const float* __restrict__ row, int64_t cols) {
    __shared__ float warpMax[kThreads / 32];
    float amax = 0.0f;
    for (int64_t c = threadIdx.x; c < cols; c += kThreads)
        amax = fmaxf(amax, fabsf(row[c]));
#pragma unroll
    for (int offset = 16; offset > 0; offset >>= 1)
        amax = fmaxf(amax, __shfl_xor_sync(0xffffffffu, amax, offset));
    if ((threadIdx.x & 31) == 0) warpMax[threadIdx.x >> 5] = amax;
    __syncthreads();
    amax = warpMax[0];
#pragma unroll
    for (int w = 1; w < kThreads / 32; ++w)
        amax = fmaxf(amax, warpMax[w]);
    __syncthreads(); // warpMax is reused by the next call in the same block
    return amax;
}

__global__ void rowAbsMaxKernel(const float* __restrict__ x, int64_t cols, float* __restrict__ amax) {
    enterDependentKernel();
    const float m = blockAbsMax(x + int64_t(blockIdx.x) * cols, cols);
    if (threadIdx.x == 0) amax[blockIdx.x] = m;
}

__global__ void fakeQuantizeKernel(const float* x, int64_t cols, float* out) {
    const float* row = x + int64_t(blockIdx.x) * cols;
    float* dst = out + int64_t(blockIdx.x) * cols;
    const float amax = blockAbsMax(row, cols);
    const float d = amax / 127.0f;
    const float inverse = amax != 0.0f ? 127.0f / amax : 0.0f;
    for (int64_t c = threadIdx.x; c < cols; c += kThreads) {
        // fmaxf returns the other operand for NaN, so NaN becomes -127 as on the CPU.
        const float code = fminf(fmaxf(rintf(row[c] * inverse), -127.0f), 127.0f);
        dst[c] = code * d;
    }
}

} // namespace

void rowAbsMax(const float* x, int nTokens, int64_t cols, float* amax, cudaStream_t stream) {
    if (nTokens > 0)
        launchDependent(rowAbsMaxKernel, dim3(unsigned(nTokens)), dim3(kThreads), stream, x, cols, amax);
}

void fakeQuantizePerToken(const float* x, int nTokens, int64_t cols, float* out, cudaStream_t stream) {
    if (nTokens > 0) fakeQuantizeKernel<<<unsigned(nTokens), kThreads, 0, stream>>>(x, cols, out);
}

} // namespace lathe::kernels
