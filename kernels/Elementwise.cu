// Elementwise: SwiGLU (silu(gate) * up, with int8 codes of one token's result for the next mat-vec),
// residual add, bias add over float arrays, and the read probe that measures the memory bandwidth a
// decode step can draw on.
//
// Layout: flat float arrays of n elements (bias: out [nTokens][rows] + bias [rows]). Memory bound: one
// thread per element with a grid-stride loop; the compiler keeps it to one load per input and one
// store. silu uses expf (not __expf) to stay within a few ulp of the CPU reference.

#include "kernels/DependentLaunch.cuh"
#include "kernels/Elementwise.cuh"

namespace lathe::kernels {
namespace {

constexpr int kThreads = 256;

unsigned gridFor(int64_t n) {
    const int64_t blocks = (n + kThreads - 1) / kThreads;
    return unsigned(blocks < 65535 * 16 ? blocks : 65535 * 16);
}

// With codes (n % 32 == 0), whole warps take 32 consecutive values per pass and quantize them.
__global__ void swigluKernel(const float* gate, const float* up, int64_t n, float* out, XCodes codes) {
    enterDependentKernel();
    for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
         i += int64_t(gridDim.x) * blockDim.x) {
        const float g = gate[i];
        const float y = g / (1.0f + expf(-g)) * up[i];
        out[i] = y;
        if (codes.q) quantizeWarpBlock(y, threadIdx.x & 31, i / 32, codes);
    }
}

__global__ void addKernel(const float* a, const float* b, int64_t n, float* out) {
    enterDependentKernel();
    for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
         i += int64_t(gridDim.x) * blockDim.x)
        out[i] = a[i] + b[i];
}

__global__ void addBiasKernel(float* out, const float* __restrict__ bias, int64_t rows, int64_t n) {
    enterDependentKernel();
    for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
         i += int64_t(gridDim.x) * blockDim.x)
        out[i] += bias[i % rows];
}

// Reads n float4 values and writes one sum per block, so the compiler cannot drop the loads.
__global__ void readProbeKernel(const float4* __restrict__ data, int64_t n, float* blockSums) {
    float sum = 0.0f;
    for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
         i += int64_t(gridDim.x) * blockDim.x) {
        const float4 v = data[i];
        sum += v.x + v.y + v.z + v.w;
    }
    for (int offset = 16; offset > 0; offset >>= 1)
        sum += __shfl_xor_sync(0xffffffffu, sum, offset);
    if ((threadIdx.x & 31) == 0) atomicAdd(&blockSums[blockIdx.x], sum);
}

} // namespace

void readProbe(const void* data, int64_t bytes, float* blockSums, int blocks, cudaStream_t stream) {
    const int64_t n = bytes / int64_t(sizeof(float4));
    if (n > 0)
        readProbeKernel<<<blocks, kThreads, 0, stream>>>(static_cast<const float4*>(data), n, blockSums);
}

void swiglu(const float* gate, const float* up, int64_t n, float* out, cudaStream_t stream, XCodes codes) {
    if (n % 32 != 0) codes = {};
    if (n > 0)
        launchDependent(swigluKernel, dim3(gridFor(n)), dim3(kThreads), stream, gate, up, n, out, codes);
}

void add(const float* a, const float* b, int64_t n, float* out, cudaStream_t stream) {
    if (n > 0) launchDependent(addKernel, dim3(gridFor(n)), dim3(kThreads), stream, a, b, n, out);
}

void addBias(float* out, const float* bias, int nTokens, int64_t rows, cudaStream_t stream) {
    const int64_t n = int64_t(nTokens) * rows;
    if (n > 0) launchDependent(addBiasKernel, dim3(gridFor(n)), dim3(kThreads), stream, out, bias, rows, n);
}

} // namespace lathe::kernels
