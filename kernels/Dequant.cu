// Dequant: decodes stored weights on the device.
//
// dequantRowsToHalf: prefill GEMMs run on tensor cores through cuBLAS, which reads fp16/bf16, so
// quantized weights are expanded tile by tile (a few thousand rows) into an fp16 scratch matrix
// [nRows][cols] just before their GEMM; the tile bounds scratch memory and stays L2-friendly.
// gatherRows: the embedding lookup, rows `ids` of a [vocab][cols] table to float [nIds][cols].
// convertActivations: float activations to the GEMM's input precision.
// One thread decodes one chunk (QuantBlocks.cuh); grids are 1-D over chunks.

#include "kernels/DependentLaunch.cuh"
#include "kernels/Dequant.cuh"
#include "kernels/QuantBlocks.cuh"

namespace lathe::kernels {
namespace {

constexpr int kThreads = 256;

unsigned gridFor(int64_t work) {
    return unsigned((work + kThreads - 1) / kThreads);
}

template <WeightFormat F>
__global__ void dequantToHalfKernel(const uint8_t* __restrict__ w, int64_t cols, int64_t rowBytes,
                                    int64_t rowBegin, int64_t nRows, __half* __restrict__ out) {
    constexpr int kChunk = FormatTraits<F>::kChunk;
    const int64_t chunksPerRow = cols / kChunk;
    const int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
    if (i >= nRows * chunksPerRow) return;
    const int64_t r = i / chunksPerRow, c = i % chunksPerRow;
    float values[kChunk];
    decodeChunk<F>(w + (rowBegin + r) * rowBytes, cols, c, values);
    __half2* dst = reinterpret_cast<__half2*>(out + r * cols + c * kChunk);
#pragma unroll
    for (int k = 0; k < kChunk / 2; ++k)
        dst[k] = __floats2half2_rn(values[2 * k], values[2 * k + 1]);
}

template <WeightFormat F>
__global__ void gatherKernel(const uint8_t* __restrict__ w, int64_t cols, int64_t rowBytes,
                             const int32_t* __restrict__ ids, int nIds, float* __restrict__ out) {
    enterDependentKernel();
    constexpr int kChunk = FormatTraits<F>::kChunk;
    const int64_t chunksPerRow = cols / kChunk;
    const int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
    if (i >= int64_t(nIds) * chunksPerRow) return;
    const int64_t t = i / chunksPerRow, c = i % chunksPerRow;
    float values[kChunk];
    decodeChunk<F>(w + int64_t(ids[t]) * rowBytes, cols, c, values);
    float* dst = out + t * cols + c * kChunk;
#pragma unroll
    for (int k = 0; k < kChunk; ++k)
        dst[k] = values[k];
}

__global__ void toHalfKernel(const float* __restrict__ x, int64_t n, __half* __restrict__ out) {
    const int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
    if (i < n) out[i] = __float2half_rn(x[i]);
}

__global__ void toBf16Kernel(const float* __restrict__ x, int64_t n, __nv_bfloat16* __restrict__ out) {
    const int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
    if (i < n) out[i] = __float2bfloat16_rn(x[i]);
}

} // namespace

bool hasWeightKernels(int dtype, int64_t cols) {
    return formatHasKernels(dtype, cols);
}

bool dequantRowsToHalf(const void* w, int dtype, int64_t cols, int64_t rowBegin, int64_t nRows, void* outHalf,
                       cudaStream_t stream) {
    if (!formatHasKernels(dtype, cols) || nRows <= 0) return false;
    return dispatchFormat(WeightFormat(dtype), [&](auto tag) {
        constexpr WeightFormat F = decltype(tag)::value;
        const int64_t work = nRows * (cols / FormatTraits<F>::kChunk);
        dequantToHalfKernel<F><<<gridFor(work), kThreads, 0, stream>>>(static_cast<const uint8_t*>(w), cols,
                                                                       weightRowBytes(F, cols), rowBegin,
                                                                       nRows, static_cast<__half*>(outHalf));
    });
}

bool gatherRows(const void* w, int dtype, int64_t cols, const int32_t* ids, int nIds, float* out,
                cudaStream_t stream) {
    if (!formatHasKernels(dtype, cols) || nIds <= 0) return false;
    return dispatchFormat(WeightFormat(dtype), [&](auto tag) {
        constexpr WeightFormat F = decltype(tag)::value;
        const int64_t work = int64_t(nIds) * (cols / FormatTraits<F>::kChunk);
        launchDependent(gatherKernel<F>, dim3(gridFor(work)), dim3(kThreads), stream,
                        static_cast<const uint8_t*>(w), cols, weightRowBytes(F, cols), ids, nIds, out);
    });
}

void convertActivations(const float* x, int64_t n, bool toBf16, void* out, cudaStream_t stream) {
    if (n <= 0) return;
    if (toBf16)
        toBf16Kernel<<<gridFor(n), kThreads, 0, stream>>>(x, n, static_cast<__nv_bfloat16*>(out));
    else
        toHalfKernel<<<gridFor(n), kThreads, 0, stream>>>(x, n, static_cast<__half*>(out));
}

} // namespace lathe::kernels
