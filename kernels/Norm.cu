// Norm: RMSNorm, out[t][i] = (x[t][i] * rsqrt(mean_i(x[t][i]^2) + eps)) * weight[i], optionally after
// the residual add (residual[t] += a[t], then the norm of the sum): a decode step's norm follows an add
// every time but the first, and one pass saves a launch and a re-read.
//
// Layout: x, a, residual, out row-major [nTokens][dim] float; weight [dim] float. One block per token,
// up to 1024 threads (a row is ~1-16k floats: one to a few loads per thread, all in flight): each thread
// sums squares over a strided slice (held in registers), the block reduces through shared memory (one
// value per warp), then every thread scales its slice. A warp's slice is 32 consecutive values, so with one
// token it can also write them as int8 codes for the next mat-vec (XCodes.cuh). The scale is applied before
// the weight, as the CPU reference (and ggml) does.

#include "kernels/DependentLaunch.cuh"
#include "kernels/Norm.cuh"

namespace lathe::kernels {
namespace {

constexpr int kMaxThreads = 1024;

// Up to kHeld values per thread stay in registers between the two passes (rows up to 8192 wide), and
// the weight is read before waiting for the kernel before (DependentLaunch.cuh): it is constant.
constexpr int kHeld = 8;

template <bool kAdd>
__global__ void __launch_bounds__(kMaxThreads)
    rmsNormKernel(const float* a, float* x, const float* __restrict__ weight, int dim, float eps, float* out,
                  XCodes codes) {
    __shared__ float warpSums[kMaxThreads / 32];
    const int threads = blockDim.x;
    const int lane = threadIdx.x & 31;
    const bool held = dim <= threads * kHeld;
    float w[kHeld], v[kHeld];
    if (held) {
#pragma unroll
        for (int j = 0; j < kHeld; ++j) {
            const int i = threadIdx.x + j * threads;
            w[j] = i < dim ? weight[i] : 0.0f;
        }
    }
    enterDependentKernel();
    float* xr = x + int64_t(blockIdx.x) * dim;
    float* yr = out + int64_t(blockIdx.x) * dim;
    // Element i = threadIdx.x + j * threads of this thread, in the same order in both passes.
    auto load = [&](int i) {
        float value = xr[i];
        if constexpr (kAdd) {
            value += a[int64_t(blockIdx.x) * dim + i];
            xr[i] = value;
        }
        return value;
    };
    float sum = 0.0f;
    if (held) {
#pragma unroll
        for (int j = 0; j < kHeld; ++j) {
            const int i = threadIdx.x + j * threads;
            v[j] = i < dim ? load(i) : 0.0f;
            sum += v[j] * v[j];
        }
    } else {
        for (int i = threadIdx.x; i < dim; i += threads) {
            const float value = load(i);
            sum += value * value;
        }
    }
#pragma unroll
    for (int offset = 16; offset > 0; offset >>= 1)
        sum += __shfl_xor_sync(0xffffffffu, sum, offset);
    if (lane == 0) warpSums[threadIdx.x >> 5] = sum;
    __syncthreads();
    float total = 0.0f;
    for (int warp = 0; warp < threads / 32; ++warp)
        total += warpSums[warp];
    const float scale = rsqrtf(total / float(dim) + eps);
    // Whole warps walk the row (threads is a multiple of 32), so the code blocks' shuffles are uniform.
    auto store = [&](int i, float value, float weightValue) {
        const float y = i < dim ? (value * scale) * weightValue : 0.0f;
        if (i < dim) yr[i] = y;
        if (codes.q) quantizeWarpBlock(y, lane, i / 32, codes);
    };
    if (held) {
#pragma unroll
        for (int j = 0; j < kHeld; ++j) {
            if (j * threads + threadIdx.x - lane >= dim) break;
            store(threadIdx.x + j * threads, v[j], w[j]);
        }
    } else {
        for (int base = threadIdx.x - lane; base < dim; base += threads) {
            const int i = base + lane;
            store(i, i < dim ? xr[i] : 0.0f, i < dim ? weight[i] : 0.0f);
        }
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
