// Matvec: the decode-time matrix-vector product, out[t][r] = sum_c w[r][c] * x[t][c] (+ bias[r]).
//
// Layout: w is row-major in its stored format (ggml order: a row is one output's `cols` inputs), x and
// out are row-major float ([nTokens][cols], [nTokens][rows]). Decode is bound by reading w once, so one
// warp owns one output row and its lanes stride over the row's chunks (a 32-element quant block or 8
// plain elements, 16-byte loads for F16/BF16), decoding each chunk once and applying it to every token
// of the (small) batch; lane partial sums meet in a warp shuffle reduction.
//
// Variants: one instantiation per weight format (F32, F16, BF16, Q4_0, Q4_1, Q8_0) times a token bucket
// (1, 2, 4, 8) so the per-token accumulators stay in registers (compile-time indices only).

#include "kernels/Matvec.cuh"
#include "kernels/QuantBlocks.cuh"

namespace lathe::kernels {
namespace {

constexpr int kWarpsPerBlock = 4;

template <WeightFormat F, int MaxTokens>
__global__ void __launch_bounds__(kWarpsPerBlock * 32)
    matvecKernel(const uint8_t* __restrict__ w, int64_t rows, int64_t cols, int64_t rowBytes,
                 const float* __restrict__ x, int nTokens, const float* __restrict__ bias,
                 float* __restrict__ out) {
    constexpr int kChunk = FormatTraits<F>::kChunk;
    const int lane = threadIdx.x & 31;
    const int64_t r = int64_t(blockIdx.x) * kWarpsPerBlock + (threadIdx.x >> 5);
    if (r >= rows) return;
    const uint8_t* row = w + r * rowBytes;
    const int64_t chunks = cols / kChunk;
    float acc[MaxTokens] = {};
    float values[kChunk];
    for (int64_t c = lane; c < chunks; c += 32) {
        decodeChunk<F>(row, c, values);
#pragma unroll
        for (int t = 0; t < MaxTokens; ++t) {
            if (t >= nTokens) break;
            const float4* xv = reinterpret_cast<const float4*>(x + t * cols + c * kChunk);
            float sum = 0.0f;
#pragma unroll
            for (int i = 0; i < kChunk / 4; ++i) {
                const float4 v = xv[i];
                sum += values[4 * i] * v.x + values[4 * i + 1] * v.y + values[4 * i + 2] * v.z +
                       values[4 * i + 3] * v.w;
            }
            acc[t] += sum;
        }
    }
#pragma unroll
    for (int t = 0; t < MaxTokens; ++t) {
        float v = acc[t];
#pragma unroll
        for (int offset = 16; offset > 0; offset >>= 1)
            v += __shfl_xor_sync(0xffffffffu, v, offset);
        acc[t] = v;
    }
    if (lane == 0) {
        const float b = bias ? bias[r] : 0.0f;
#pragma unroll
        for (int t = 0; t < MaxTokens; ++t)
            if (t < nTokens) out[t * rows + r] = acc[t] + b;
    }
}

template <WeightFormat F, int MaxTokens> void launchMatvec(const MatvecArgs& a, cudaStream_t stream) {
    const dim3 grid(unsigned((a.rows + kWarpsPerBlock - 1) / kWarpsPerBlock));
    matvecKernel<F, MaxTokens>
        <<<grid, kWarpsPerBlock * 32, 0, stream>>>(static_cast<const uint8_t*>(a.w), a.rows, a.cols,
                                                   weightRowBytes(F, a.cols), a.x, a.nTokens, a.bias, a.out);
}

} // namespace

bool matvec(const MatvecArgs& args, cudaStream_t stream) {
    if (args.nTokens < 1 || args.nTokens > kMatvecMaxTokens || !formatHasKernels(args.dtype, args.cols))
        return false;
    return dispatchFormat(WeightFormat(args.dtype), [&](auto tag) {
        constexpr WeightFormat F = decltype(tag)::value;
        if (args.nTokens == 1)
            launchMatvec<F, 1>(args, stream);
        else if (args.nTokens == 2)
            launchMatvec<F, 2>(args, stream);
        else if (args.nTokens <= 4)
            launchMatvec<F, 4>(args, stream);
        else
            launchMatvec<F, 8>(args, stream);
    });
}

} // namespace lathe::kernels
