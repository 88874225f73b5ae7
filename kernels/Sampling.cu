// Sampling: picks the next token from one row of logits without copying the row to the host, with the
// CPU Sampler's rules (decode/Sampler.cpp): greedy argmax (lowest id on ties), else top-k on the
// logits, top-p over the survivors' temperature-1 probabilities, min-p against the most likely one,
// then a draw from the survivors' softmax at the temperature, walking them most likely first.
//
// Layout: logits [n] float, scratch [n] float, one block of 1024 threads (a row is at most a few
// hundred thousand logits: a handful of L2 passes). Sorting is avoided: each truncation is a
// threshold on p = exp(l - max), found exactly by bisection over the bit patterns of positive floats
// (which order like the floats), one block reduction per step. The draw finds the value x* whose
// cumulative mass (over values >= x*, i.e. in the CPU's descending walk) first exceeds u * total, then
// resolves ties at x* by ascending id. Ties at a top-k boundary are all kept (the CPU keeps the lowest
// ids); sums are float, the CPU's double, so a draw landing within ~1e-7 of a boundary may differ.

#include "kernels/DependentLaunch.cuh"
#include "kernels/Sampling.cuh"

#include <cfloat>
#include <cub/block/block_reduce.cuh>
#include <cub/block/block_scan.cuh>

namespace lathe::kernels {
namespace {

constexpr int kThreads = 1024;
constexpr uint32_t kOneBits = 0x3f800000u; // 1.0f

using Reduce = cub::BlockReduce<float, kThreads>;
using Scan = cub::BlockScan<int, kThreads>;

struct Shared {
    union {
        Reduce::TempStorage reduce;
        Scan::TempStorage scan;
    } cub;
    float broadcast;
    int chosen;
    float bestValue[kThreads / 32];
    int bestIndex[kThreads / 32];
};

__device__ float blockSum(Shared& s, float v) {
    const float total = Reduce(s.cub.reduce).Sum(v);
    if (threadIdx.x == 0) s.broadcast = total;
    __syncthreads();
    const float result = s.broadcast;
    __syncthreads();
    return result;
}

// Mass (or count) of scratch values >= x and >= floor.
__device__ float massAtLeast(Shared& s, const float* p, int n, float x, float floor, bool count) {
    float local = 0.0f;
    for (int i = threadIdx.x; i < n; i += kThreads)
        if (p[i] >= x && p[i] >= floor && p[i] > 0.0f) local += count ? 1.0f : p[i];
    return blockSum(s, local);
}

// Largest positive float x (by bit pattern, in (0, 1]) with massAtLeast(x) >= goal (strict: > goal).
__device__ float largestThreshold(Shared& s, const float* p, int n, float floor, bool count, float goal,
                                  bool strict) {
    uint32_t lo = 1, hi = kOneBits; // invariant: lo satisfies (checked by the caller's goal choice)
    while (lo < hi) {
        const uint32_t mid = lo + (hi - lo + 1) / 2;
        const float mass = massAtLeast(s, p, n, __uint_as_float(mid), floor, count);
        if (strict ? mass > goal : mass >= goal)
            lo = mid;
        else
            hi = mid - 1;
    }
    return __uint_as_float(lo);
}

__device__ int argmax(Shared& s, const float* logits, int n) {
    float best = -FLT_MAX;
    int index = n;
    for (int i = threadIdx.x; i < n; i += kThreads) {
        const float v = logits[i];
        if (!isnan(v) && v > best) best = v, index = i; // ascending i keeps the lowest id on ties
    }
    for (int offset = 16; offset > 0; offset >>= 1) {
        const float ov = __shfl_xor_sync(0xffffffffu, best, offset);
        const int oi = __shfl_xor_sync(0xffffffffu, index, offset);
        if (ov > best || (ov == best && oi < index)) best = ov, index = oi;
    }
    if ((threadIdx.x & 31) == 0) s.bestValue[threadIdx.x >> 5] = best, s.bestIndex[threadIdx.x >> 5] = index;
    __syncthreads();
    if (threadIdx.x == 0) {
        for (int w = 1; w < kThreads / 32; ++w)
            if (s.bestValue[w] > best || (s.bestValue[w] == best && s.bestIndex[w] < index))
                best = s.bestValue[w], index = s.bestIndex[w];
        s.chosen = index < n ? index : 0;
    }
    __syncthreads();
    return s.chosen;
}

__global__ void __launch_bounds__(kThreads) sampleKernel(SamplingArgs a) {
    __shared__ Shared s;
    enterDependentKernel();
    const int best = argmax(s, a.logits, a.n);
    if (a.temperature <= 0.0f) {
        if (threadIdx.x == 0) *a.token = best;
        return;
    }
    const float lMax = a.logits[best];
    float* p = a.scratch;
    for (int i = threadIdx.x; i < a.n; i += kThreads) {
        const float l = a.logits[i];
        p[i] = isnan(l) ? 0.0f : expf(l - lMax);
    }
    __syncthreads();
    float floor = __uint_as_float(1u);
    if (a.topK > 0 && float(a.topK) < massAtLeast(s, p, a.n, floor, floor, true))
        floor = largestThreshold(s, p, a.n, floor, true, float(a.topK), false);
    if (a.topP < 1.0f) {
        const float total = massAtLeast(s, p, a.n, floor, floor, false);
        floor = fmaxf(floor, largestThreshold(s, p, a.n, floor, false, a.topP * total, false));
    }
    if (a.minP > 0.0f) floor = fmaxf(floor, fminf(a.minP, 1.0f));

    // Survivors' weights at the temperature (the most likely has weight 1, so the sum is >= 1).
    const float invT = 1.0f / a.temperature;
    for (int i = threadIdx.x; i < a.n; i += kThreads)
        p[i] = p[i] >= floor && p[i] > 0.0f ? expf((a.logits[i] - lMax) * invT) : 0.0f;
    __syncthreads();
    const float total = massAtLeast(s, p, a.n, 0.0f, 0.0f, false);
    const float target = a.uniform * total;
    float x = largestThreshold(s, p, a.n, 0.0f, false, target, true);
    if (massAtLeast(s, p, a.n, x, 0.0f, false) <= target) x = p[best]; // rounding gap: CPU takes the last
    const float above = massAtLeast(s, p, a.n, __uint_as_float(__float_as_uint(x) + 1u), 0.0f, false);
    const float tieCount = massAtLeast(s, p, a.n, x, 0.0f, true) -
                           massAtLeast(s, p, a.n, __uint_as_float(__float_as_uint(x) + 1u), 0.0f, true);
    int rank = int((target - above) / x);
    rank = max(0, min(rank, int(tieCount) - 1));

    // The rank-th index (ascending) whose weight is exactly x.
    const int chunk = (a.n + kThreads - 1) / kThreads;
    const int begin = min(a.n, int(threadIdx.x) * chunk), end = min(a.n, begin + chunk);
    int ties = 0;
    for (int i = begin; i < end; ++i)
        ties += p[i] == x;
    int before = 0;
    Scan(s.cub.scan).ExclusiveSum(ties, before);
    if (rank >= before && rank < before + ties) {
        int seen = before;
        for (int i = begin; i < end; ++i)
            if (p[i] == x && seen++ == rank) *a.token = i;
    }
}

} // namespace

void sampleToken(const SamplingArgs& args, cudaStream_t stream) {
    if (args.n > 0) launchDependent(sampleKernel, dim3(1), dim3(kThreads), stream, args);
}

} // namespace lathe::kernels
