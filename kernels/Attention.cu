// Attention: out[t][h] = softmax(scale * q[t][h] . K[s]) . V[s] over the slots s row t may see, reading
// keys and values from a paged cache in device memory, plus the KV store that fills it (alone, or with
// the rotary embedding of q and k in the same launch).
//
// Layout: q, out [nTokens][nHeads][headDim] float. The pool has model/KvCache's block layout,
// [block][layer][K|V][kvHead][slot][headDim] float, and holds the only copy of the rows (a block copied
// on write is one device-to-device copy). Query head h
// reads KV head h / (nHeads / nHeadsKv). The visible slots of a row are [0, prefix) then its tree
// extras (AttentionMask), so causal and token-tree masks are one code path.
//
// Split-K (flash-decoding): a decode row has one query but thousands of keys, too little parallelism
// for one block per (row, head). The visible range is cut into kAttentionChunk-slot splits, grid
// (split, head, row); in a split each of 4 warps walks every 4th slot with an online softmax (running
// max m, sum l, accumulator acc: headDim/32 values per lane), the warps merge through shared memory,
// and the split's (m, l, acc) goes to a workspace. A second kernel merges the splits of each (row, head)
// rescaling by exp(m_split - m_max); with one split the first kernel writes the output itself. Prefill rows
// run through the same kernels (a row is independent of the others); a tiled prefill kernel that shares K/V
// tiles across query rows is still to come. Variant: one instantiation per headDim/32 (1..8) so each lane's q
// and acc stay in registers.

#include "kernels/Attention.cuh"
#include "kernels/DependentLaunch.cuh"
#include "kernels/RopePair.cuh"

#include <algorithm>
#include <cfloat>

namespace lathe::kernels {
namespace {

constexpr int kWarps = 4;

__device__ __forceinline__ int64_t kvOffset(const PagedKv& kv, int layer, int block, int kvHead, bool value,
                                            int slotInBlock) {
    const int64_t blockLayer = (int64_t(block) * kv.nLayers + layer) * 2 + (value ? 1 : 0);
    return ((blockLayer * kv.nHeadsKv + kvHead) * kv.blockTokens + slotInBlock) * kv.headDim;
}

template <int PerLane> __global__ void __launch_bounds__(kWarps * 32) splitKernel(AttentionArgs a) {
    enterDependentKernel();
    constexpr int kHeadDim = PerLane * 32;
    const int split = blockIdx.x, h = blockIdx.y, t = blockIdx.z;
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    const int kvHead = h / (a.nHeads / a.kv.nHeadsKv);
    const int prefix = a.prefix[t];
    const int extraBegin = a.extraBegin[t];
    const int visible = prefix + a.extraBegin[t + 1] - extraBegin;
    const int begin = split * kAttentionChunk;
    const int end = min(visible, begin + kAttentionChunk);
    const int32_t* table = a.blockTables + a.tableOffset[t];

    float q[PerLane], acc[PerLane];
    const float* qh = a.q + (int64_t(t) * a.nHeads + h) * kHeadDim;
#pragma unroll
    for (int j = 0; j < PerLane; ++j) {
        q[j] = qh[lane + 32 * j];
        acc[j] = 0.0f;
    }
    float m = -FLT_MAX, l = 0.0f;
    for (int i = begin + warp; i < end; i += kWarps) {
        const int slot = i < prefix ? i : a.extras[extraBegin + i - prefix];
        const int block = table[slot / a.kv.blockTokens];
        const int inBlock = slot % a.kv.blockTokens;
        const float* k = a.kv.pool + kvOffset(a.kv, a.layer, block, kvHead, false, inBlock);
        const float* v = a.kv.pool + kvOffset(a.kv, a.layer, block, kvHead, true, inBlock);
        float dot = 0.0f;
#pragma unroll
        for (int j = 0; j < PerLane; ++j)
            dot += q[j] * k[lane + 32 * j];
#pragma unroll
        for (int offset = 16; offset > 0; offset >>= 1)
            dot += __shfl_xor_sync(0xffffffffu, dot, offset);
        const float s = dot * a.scale;
        const float mNew = fmaxf(m, s);
        const float correction = expf(m - mNew);
        const float p = expf(s - mNew);
        l = l * correction + p;
#pragma unroll
        for (int j = 0; j < PerLane; ++j)
            acc[j] = acc[j] * correction + p * v[lane + 32 * j];
        m = mNew;
    }

    __shared__ float warpM[kWarps], warpL[kWarps];
    __shared__ float warpAcc[kWarps][kHeadDim];
    if (lane == 0) warpM[warp] = m, warpL[warp] = l;
#pragma unroll
    for (int j = 0; j < PerLane; ++j)
        warpAcc[warp][lane + 32 * j] = acc[j];
    __syncthreads();
    float mMax = -FLT_MAX;
#pragma unroll
    for (int w = 0; w < kWarps; ++w)
        mMax = fmaxf(mMax, warpM[w]);
    if (gridDim.x == 1) { // one split: the merged result is the output
        float lSum = 0.0f;
#pragma unroll
        for (int w = 0; w < kWarps; ++w)
            lSum += warpL[w] > 0.0f ? warpL[w] * expf(warpM[w] - mMax) : 0.0f;
        const float inverse = lSum > 0.0f ? 1.0f / lSum : 0.0f;
        const int64_t first = (int64_t(t) * a.nHeads + h) * kHeadDim;
        for (int d = threadIdx.x; d < kHeadDim; d += blockDim.x) { // whole warps: kHeadDim % 32 == 0
            float sum = 0.0f;
#pragma unroll
            for (int w = 0; w < kWarps; ++w)
                sum += warpAcc[w][d] * (warpL[w] > 0.0f ? expf(warpM[w] - mMax) : 0.0f);
            a.out[first + d] = sum * inverse;
            if (a.codes.q) quantizeWarpBlock(sum * inverse, lane, (first + d) / 32, a.codes);
        }
        return;
    }
    float* partial = a.workspace + ((int64_t(t) * a.nHeads + h) * gridDim.x + split) * (kHeadDim + 2);
    for (int d = threadIdx.x; d < kHeadDim; d += blockDim.x) {
        float sum = 0.0f;
#pragma unroll
        for (int w = 0; w < kWarps; ++w)
            sum += warpAcc[w][d] * (warpL[w] > 0.0f ? expf(warpM[w] - mMax) : 0.0f);
        partial[2 + d] = sum;
    }
    if (threadIdx.x == 0) {
        float lSum = 0.0f;
#pragma unroll
        for (int w = 0; w < kWarps; ++w)
            lSum += warpL[w] > 0.0f ? warpL[w] * expf(warpM[w] - mMax) : 0.0f;
        partial[0] = mMax;
        partial[1] = lSum;
    }
}

__global__ void mergeKernel(AttentionArgs a, int nSplits, int headDim) {
    enterDependentKernel();
    const int h = blockIdx.x, t = blockIdx.y;
    const float* partials = a.workspace + (int64_t(t) * a.nHeads + h) * nSplits * (headDim + 2);
    float mMax = -FLT_MAX;
    for (int s = 0; s < nSplits; ++s)
        if (partials[s * (headDim + 2) + 1] > 0.0f) mMax = fmaxf(mMax, partials[s * (headDim + 2)]);
    float lSum = 0.0f;
    for (int s = 0; s < nSplits; ++s) {
        const float* p = partials + s * (headDim + 2);
        if (p[1] > 0.0f) lSum += p[1] * expf(p[0] - mMax);
    }
    const float inverse = lSum > 0.0f ? 1.0f / lSum : 0.0f;
    const int64_t first = (int64_t(t) * a.nHeads + h) * headDim;
    for (int d = threadIdx.x; d < headDim; d += blockDim.x) { // whole warps: headDim % 32 == 0
        float sum = 0.0f;
        for (int s = 0; s < nSplits; ++s) {
            const float* p = partials + s * (headDim + 2);
            if (p[1] > 0.0f) sum += p[2 + d] * expf(p[0] - mMax);
        }
        a.out[first + d] = sum * inverse;
        if (a.codes.q) quantizeWarpBlock(sum * inverse, threadIdx.x & 31, (first + d) / 32, a.codes);
    }
}

__global__ void storeKvKernel(float* pool, PagedKv kv, int layer, const float* __restrict__ k,
                              const float* __restrict__ v, const int32_t* __restrict__ blockOf,
                              const int32_t* __restrict__ slotInBlock) {
    enterDependentKernel();
    const int t = blockIdx.x, head = blockIdx.y;
    const int64_t src = (int64_t(t) * kv.nHeadsKv + head) * kv.headDim;
    float* kDst = pool + kvOffset(kv, layer, blockOf[t], head, false, slotInBlock[t]);
    float* vDst = pool + kvOffset(kv, layer, blockOf[t], head, true, slotInBlock[t]);
    for (int d = threadIdx.x; d < kv.headDim; d += blockDim.x) {
        kDst[d] = k[src + d];
        vDst[d] = v[src + d];
    }
}

// Grid (token, head): heads below rope.nHeads rotate a q head; the rest rotate a k head, write it
// into the cache as they go, and copy its v row.
__global__ void ropeStoreKvKernel(RopeStoreKvArgs a, float thetaScale) {
    enterDependentKernel();
    const RopeArgs& r = a.rope;
    const int t = blockIdx.x, head = blockIdx.y;
    const int position = r.positions[t];
    if (head < r.nHeads) {
        rotateHead(r.x + (int64_t(t) * r.nHeads + head) * r.headDim, position, r.nDims, thetaScale,
                   r.halfSplit, r.freqFactors);
        return;
    }
    const int kvHead = head - r.nHeads;
    const int64_t src = (int64_t(t) * a.kv.nHeadsKv + kvHead) * a.kv.headDim;
    float* k = a.k + src;
    float* kDst = a.pool + kvOffset(a.kv, a.layer, a.blockOf[t], kvHead, false, a.slotInBlock[t]);
    float* vDst = a.pool + kvOffset(a.kv, a.layer, a.blockOf[t], kvHead, true, a.slotInBlock[t]);
    for (int i = threadIdx.x; i < r.nDims / 2; i += blockDim.x) {
        const RopePair p = ropePair(i, position, r.nDims, thetaScale, r.halfSplit, r.freqFactors);
        const float2 y = rotatePair(k, p);
        kDst[p.a] = y.x;
        kDst[p.b] = y.y;
    }
    for (int d = r.nDims + threadIdx.x; d < a.kv.headDim; d += blockDim.x) // past the rotated dimensions
        kDst[d] = k[d];
    for (int d = threadIdx.x; d < a.kv.headDim; d += blockDim.x)
        vDst[d] = a.v[src + d];
}

template <int PerLane> void launchSplit(const AttentionArgs& a, int nSplits, cudaStream_t stream) {
    launchDependent(splitKernel<PerLane>, dim3(nSplits, a.nHeads, a.nTokens), dim3(kWarps * 32), stream, a);
}

} // namespace

bool pagedAttention(const AttentionArgs& a, cudaStream_t stream) {
    const int headDim = a.kv.headDim;
    if (!attentionSupportsHeadDim(headDim)) return false;
    if (a.nTokens <= 0) return true;
    const int nSplits = a.splits > 0 ? a.splits : attentionSplits(a.maxVisible);
    AttentionArgs args = a;
    if (a.nTokens != 1) args.codes = {};
    switch (headDim / 32) {
    case 1:
        launchSplit<1>(args, nSplits, stream);
        break;
    case 2:
        launchSplit<2>(args, nSplits, stream);
        break;
    case 3:
        launchSplit<3>(args, nSplits, stream);
        break;
    case 4:
        launchSplit<4>(args, nSplits, stream);
        break;
    case 5:
        launchSplit<5>(args, nSplits, stream);
        break;
    case 6:
        launchSplit<6>(args, nSplits, stream);
        break;
    case 7:
        launchSplit<7>(args, nSplits, stream);
        break;
    default:
        launchSplit<8>(args, nSplits, stream);
        break;
    }
    if (nSplits == 1) return true;
    const int mergeThreads = std::min(headDim, 128);
    launchDependent(mergeKernel, dim3(a.nHeads, a.nTokens), dim3(mergeThreads), stream, args, nSplits,
                    headDim);
    return true;
}

void storeKv(float* pool, const PagedKv& kv, int layer, const float* k, const float* v, int nTokens,
             const int32_t* blockOf, const int32_t* slotInBlock, cudaStream_t stream) {
    if (nTokens <= 0) return;
    const int threads = std::min(kv.headDim, 128);
    launchDependent(storeKvKernel, dim3(nTokens, kv.nHeadsKv), dim3(threads), stream, pool, kv, layer, k, v,
                    blockOf, slotInBlock);
}

void ropeAndStoreKv(const RopeStoreKvArgs& a, cudaStream_t stream) {
    if (a.rope.nTokens <= 0) return;
    const int threads = std::min(((a.kv.headDim + 31) / 32) * 32, 128);
    launchDependent(ropeStoreKvKernel, dim3(a.rope.nTokens, a.rope.nHeads + a.kv.nHeadsKv), dim3(threads),
                    stream, a, ropeThetaScale(a.rope));
}

} // namespace lathe::kernels
