// Norm: RMSNorm, out[t][i] = (x[t][i] * rsqrt(mean_i(x[t][i]^2) + eps)) * weight[i], optionally after
// the residual add (residual[t] += a[t], then the norm of the sum): a decode step's norm follows an add
// every time but the first, and one pass saves a launch and a re-read.
//
// Layout: x, a, residual, out row-major [nTokens][dim] float; weight [dim] float. One block per token,
// up to 1024 threads (a row is ~1-16k floats: one to a few loads per thread, all in flight): each thread
// sums squares over a strided slice, the block reduces through shared memory (one value per warp),
// then every thread scales its slice. A warp's slice is 32 consecutive values, so with one token it
// can also write them as int8 codes for the next mat-vec (XCodes.cuh). The scale is applied before the
// weight, as the CPU reference (and ggml) does.

#include "kernels/DependentLaunch.cuh"
#include "kernels/Norm.cuh"

namespace lathe::kernels {
namespace {

constexpr int kMaxThreads = 1024;

template <bool kAdd>
__global__ void __launch_bounds__(kMaxThreads)
    rmsNormKernel(const float* a, float* x, const float* __restrict__ weight, int dim, float eps, float* out,
                  XCodes codes) {
    __shared__ float warpSums[kMaxThreads / 32];
    enterDependentKernel();
    const int threads = blockDim.x;
    float* xr = x + int64_t(blockIdx.x) * dim;
    float* yr = out + int64_t(blockIdx.x) * dim;
    float sum = 0.0f;
    for (int i = threadIdx.x; i < dim; i += threads) {
        float v = xr[i];
        if constexpr (kAdd) {
            v += a[int64_t(blockIdx.x) * dim + i];
            xr[i] = v;
        }
        sum += v * v;
    }
#pragma unroll
    for (int offset = 16; offset > 0; offset >>= 1)
        sum += __shfl_xor_sync(0xffffffffu, sum, offset);
    if ((threadIdx.x & 31) == 0) warpSums[threadIdx.x >> 5] = sum;
    __syncthreads();
    float total = 0.0f;
    for (int w = 0; w < threads / 32; ++w)
        total += warpSums[w];
    const float scale = rsqrtf(total / float(dim) + eps);
    const int lane = threadIdx.x & 31;
    // Whole warps walk the row (threads is a multiple of 32), so the code blocks' shuffles are uniform.
    for (int base = threadIdx.x - lane; base < dim; base += threads) {
        const int i = base + lane;
        const float y = i < dim ? (xr[i] * scale) * weight[i] : 0.0f;
        if (i < dim) yr[i] = y;
        if (codes.q) quantizeWarpBlock(y, lane, i / 32, codes);
    }
}

int threadsFor(int dim) {
    const int warps = (dim + 31) / 32;
    return warps * 32 < kMaxThreads ? warps * 32 : kMaxThreads;
}

} // namespace

void rmsNorm(const float* x, const float* weight, int nTokens, int dim, float eps, float* out,
             cudaStream_t stream, XCodes codes) {
    if (nTokens <= 0) return;
    if (nTokens != 1 || dim % 32 != 0) codes = {};
    launchDependent(rmsNormKernel<false>, dim3(nTokens), dim3(threadsFor(dim)), stream, nullptr,
                    const_cast<float*>(x), weight, dim, eps, out, codes);
}

void addRmsNorm(const float* a, float* residual, const float* weight, int nTokens, int dim, float eps,
                float* out, cudaStream_t stream, XCodes codes) {
    if (nTokens <= 0) return;
    if (nTokens != 1 || dim % 32 != 0) codes = {};
    launchDependent(rmsNormKernel<true>, dim3(nTokens), dim3(threadsFor(dim)), stream, a, residual, weight,
                    dim, eps, out, codes);
}

} // namespace lathe::kernels
