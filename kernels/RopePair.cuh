#pragma once
// RopePair: the rotation of pair i of one head, shared by the rope kernel (Rope.cu) and the fused
// rope + KV store (Attention.cu) so both give the same bits. theta_i = position * thetaScale^i / f_i,
// built by i repeated float multiplications, as the CPU reference and ggml do, so long positions
// round the same way.

#include <cuda_runtime.h>

namespace lathe::kernels {

struct RopePair {
    int a, b;   // the pair's two dimensions in the head
    float c, s; // cos, sin of theta_i
};

__device__ __forceinline__ RopePair ropePair(int i, int position, int nDims, float thetaScale, bool halfSplit,
                                             const float* __restrict__ freqFactors) {
    float theta = float(position);
    for (int k = 0; k < i; ++k)
        theta *= thetaScale;
    if (freqFactors) theta /= freqFactors[i];
    RopePair p;
    sincosf(theta, &p.s, &p.c);
    p.a = halfSplit ? i : 2 * i;
    p.b = halfSplit ? i + nDims / 2 : 2 * i + 1;
    return p;
}

// Rotates the pair in head (in place) and returns its new values.
__device__ __forceinline__ float2 rotatePair(float* head, const RopePair& p) {
    const float x0 = head[p.a], x1 = head[p.b];
    const float2 y = make_float2(x0 * p.c - x1 * p.s, x0 * p.s + x1 * p.c);
    head[p.a] = y.x;
    head[p.b] = y.y;
    return y;
}

// Rotates the first nDims dimensions of one head in place, the block's threads taking every
// blockDim.x-th pair.
__device__ __forceinline__ void rotateHead(float* head, int position, int nDims, float thetaScale,
                                           bool halfSplit, const float* __restrict__ freqFactors) {
    for (int i = threadIdx.x; i < nDims / 2; i += blockDim.x)
        rotatePair(head, ropePair(i, position, nDims, thetaScale, halfSplit, freqFactors));
}

} // namespace lathe::kernels
