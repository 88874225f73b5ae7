// Rope: rotates each pair of a head's first nDims dimensions by theta_i = pos * base^(-2i/nDims) / f_i.
//
// Layout: x row-major [nTokens][nHeads][headDim] float, in place; positions [nTokens]; freqFactors
// [nDims/2] or null. One block per (token, head), one thread per pair.
// Two pairings: Interleaved (2i, 2i+1) for GGUF "llama" files and HalfSplit (i, i + nDims/2, NeoX) for
// Hugging Face checkpoints and qwen2. The pair's arithmetic is RopePair.cuh's.

#include "kernels/DependentLaunch.cuh"
#include "kernels/Rope.cuh"
#include "kernels/RopePair.cuh"

namespace lathe::kernels {
namespace {

__global__ void ropeKernel(float* x, int nHeads, int headDim, const int32_t* __restrict__ positions,
                           int nDims, float thetaScale, bool halfSplit,
                           const float* __restrict__ freqFactors) {
    enterDependentKernel();
    const int t = blockIdx.x / nHeads;
    const int h = blockIdx.x % nHeads;
    rotateHead(x + (int64_t(t) * nHeads + h) * headDim, positions[t], nDims, thetaScale, halfSplit,
               freqFactors);
}

} // namespace

float ropeThetaScale(const RopeArgs& a) {
    return powf(a.freqBase, -2.0f / float(a.nDims));
}

void rope(const RopeArgs& a, cudaStream_t stream) {
    if (a.nTokens <= 0 || a.nHeads <= 0) return;
    const float thetaScale = ropeThetaScale(a);
    const int threads = a.nDims / 2 < 128 ? ((a.nDims / 2 + 31) / 32) * 32 : 128;
    launchDependent(ropeKernel, dim3(a.nTokens * a.nHeads), dim3(threads), stream, a.x, a.nHeads, a.headDim,
                    a.positions, a.nDims, thetaScale, a.halfSplit, a.freqFactors);
}

} // namespace lathe::kernels
