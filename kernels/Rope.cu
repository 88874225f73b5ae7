// Rope: rotates each pair of a head's first nDims dimensions by theta_i = pos * base^(-2i/nDims) / f_i.
//
// Layout: x row-major [nTokens][nHeads][headDim] float, in place; positions [nTokens]; freqFactors
// [nDims/2] or null. One block per (token, head), one thread per pair.
// Two pairings: Interleaved (2i, 2i+1) for GGUF "llama" files and HalfSplit (i, i + nDims/2, NeoX) for
// Hugging Face checkpoints and qwen2. theta_i is built by i repeated float multiplications by
// base^(-2/nDims), as the CPU reference and ggml do, so long positions round the same way.

#include "kernels/DependentLaunch.cuh"
#include "kernels/Rope.cuh"

namespace lathe::kernels {
namespace {

__global__ void ropeKernel(float* x, int nHeads, int headDim, const int32_t* __restrict__ positions,
                           int nDims, float thetaScale, bool halfSplit,
                           const float* __restrict__ freqFactors) {
    enterDependentKernel();
    const int t = blockIdx.x / nHeads;
    const int h = blockIdx.x % nHeads;
    float* head = x + (int64_t(t) * nHeads + h) * headDim;
    for (int i = threadIdx.x; i < nDims / 2; i += blockDim.x) {
        float theta = float(positions[t]);
        for (int k = 0; k < i; ++k)
            theta *= thetaScale;
        if (freqFactors) theta /= freqFactors[i];
        float s, c;
        sincosf(theta, &s, &c);
        const int a = halfSplit ? i : 2 * i;
        const int b = halfSplit ? i + nDims / 2 : 2 * i + 1;
        const float x0 = head[a], x1 = head[b];
        head[a] = x0 * c - x1 * s;
        head[b] = x0 * s + x1 * c;
    }
}

} // namespace

void rope(const RopeArgs& a, cudaStream_t stream) {
    if (a.nTokens <= 0 || a.nHeads <= 0) return;
    const float thetaScale = powf(a.freqBase, -2.0f / float(a.nDims));
    const int threads = a.nDims / 2 < 128 ? ((a.nDims / 2 + 31) / 32) * 32 : 128;
    launchDependent(ropeKernel, dim3(a.nTokens * a.nHeads), dim3(threads), stream, a.x, a.nHeads, a.headDim,
                    a.positions, a.nDims, thetaScale, a.halfSplit, a.freqFactors);
}

} // namespace lathe::kernels
