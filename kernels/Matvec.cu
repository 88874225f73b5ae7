// Matvec: the decode-time matrix-vector product, out[t][r] = sum_c w[r][c] * x[t][c] (+ bias[r]).
//
// Layout: w is row-major in its stored format (ggml order: a row is one output's `cols` inputs), x and
// out are row-major float ([nTokens][cols], [nTokens][rows]). Decode is bound by reading w once.
// Three kernels:
//  - one token, Q4_0/Q4_1/Q8_0 (the common decode step): x is quantized to int8 blocks as ggml does, and
//    a warp owns two rows; each lane takes a block at a time (its quants in one 16-byte load, thanks to
//    the split device layout of WeightLayout.h) and dots it with eight __dp4a;
//  - one token, float formats (F32, F16, BF16): a warp per row, lanes striding over 8-element chunks
//    with 16-byte loads;
//  - 2 to 8 tokens (speculative verification, small batches): a warp per row decodes each chunk once
//    and applies it to every token, the per-token sums in registers (one instantiation per bucket 2, 4,
//    8 so indices stay compile-time); on Q4_0/Q4_1/Q8_0 with int8 codes of every token, else floats.
// Lane partial sums meet in a warp shuffle reduction. Rows-per-warp choices: tests/gpu/RESULTS.md.
// All are dependent launches (DependentLaunch.cuh): the single-token kernels send their rows towards L2
// while the kernel before them finishes, then wait for it.

#include "kernels/ActivationQuant.cuh"
#include "kernels/DependentLaunch.cuh"
#include "kernels/Matvec.cuh"
#include "kernels/QuantBlocks.cuh"
#include "kernels/XCodes.cuh"

#include <cstdlib>

namespace lathe::kernels {
namespace {

constexpr int kWarpsPerBlock = 4;

// The sum of v over the warp's 32 lanes, in every lane.
__device__ __forceinline__ float warpSum(float v) {
#pragma unroll
    for (int offset = 16; offset > 0; offset >>= 1)
        v += __shfl_xor_sync(0xffffffffu, v, offset);
    return v;
}

// Sums each token's lane partials across the warp; lane 0 writes row r of every token (plus its bias).
template <int MaxTokens>
__device__ __forceinline__ void storeTokenSums(float (&acc)[MaxTokens], int lane, int64_t r, int64_t rows,
                                               int nTokens, const float* __restrict__ bias,
                                               float* __restrict__ out) {
#pragma unroll
    for (int t = 0; t < MaxTokens; ++t) {
        const float v = warpSum(acc[t]);
        if (lane == 0 && t < nTokens) out[t * rows + r] = v + (bias ? bias[r] : 0.0f);
    }
}

template <WeightFormat F, int MaxTokens>
__global__ void __launch_bounds__(kWarpsPerBlock * 32)
    matvecKernel(const uint8_t* __restrict__ w, int64_t rows, int64_t cols, int64_t rowBytes,
                 const float* __restrict__ x, int nTokens, const float* __restrict__ bias,
                 float* __restrict__ out) {
    constexpr int kChunk = FormatTraits<F>::kChunk;
    const int lane = threadIdx.x & 31;
    const int64_t r = int64_t(blockIdx.x) * kWarpsPerBlock + (threadIdx.x >> 5);
    enterDependentKernel();
    if (r >= rows) return;
    const uint8_t* row = w + r * rowBytes;
    const int64_t chunks = cols / kChunk;
    float acc[MaxTokens] = {};
    float values[kChunk];
    for (int64_t c = lane; c < chunks; c += 32) {
        decodeChunk<F>(row, cols, c, values);
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
    storeTokenSums<MaxTokens>(acc, lane, r, rows, nTokens, bias, out);
}

// ---- Single-token decode: a warp owns kRows consecutive rows, so each x chunk a lane loads (and its
// sum, which the quantized formats' offsets need) serves kRows weight chunks. A chunk's raw bytes are
// loaded for every row first, with the widest loads its alignment allows, then decoded: the loads of
// all rows are in flight together.

template <WeightFormat F> struct RawChunk;
template <> struct RawChunk<WeightFormat::F32> { float4 a, b; };
template <> struct RawChunk<WeightFormat::F16> { uint4 v; };
template <> struct RawChunk<WeightFormat::BF16> { uint4 v; };
template <> struct RawChunk<WeightFormat::Q4_0> {
    unsigned short d;
    uint32_t q[4];
};
template <> struct RawChunk<WeightFormat::Q4_1> {
    uint32_t dm; // d, m as fp16
    uint32_t q[4];
};
template <> struct RawChunk<WeightFormat::Q8_0> {
    unsigned short d;
    uint32_t q[8];
};

// Chunk c of a device row of `cols` elements: quantized blocks as one (Q4) or two (Q8_0) 16-byte loads
// of quants plus their scale part (WeightLayout.h).
template <WeightFormat F>
__device__ __forceinline__ RawChunk<F> loadChunk(const uint8_t* row, int64_t cols, int64_t c) {
    RawChunk<F> raw;
    if constexpr (F == WeightFormat::F32) {
        const float4* p = reinterpret_cast<const float4*>(row) + 2 * c;
        raw.a = __ldg(p);
        raw.b = __ldg(p + 1);
    } else if constexpr (F == WeightFormat::F16 || F == WeightFormat::BF16) {
        raw.v = __ldg(reinterpret_cast<const uint4*>(row) + c);
    } else {
        const uint4* quants = reinterpret_cast<const uint4*>(blockQuants<F>(row, c));
        constexpr int kVectors = F == WeightFormat::Q8_0 ? 2 : 1;
#pragma unroll
        for (int i = 0; i < kVectors; ++i) {
            const uint4 v = __ldg(quants + i);
            raw.q[4 * i] = v.x, raw.q[4 * i + 1] = v.y, raw.q[4 * i + 2] = v.z, raw.q[4 * i + 3] = v.w;
        }
        const uint8_t* scale = blockScale<F>(row, cols, c);
        if constexpr (F == WeightFormat::Q4_1)
            raw.dm = __ldg(reinterpret_cast<const unsigned int*>(scale));
        else
            raw.d = __ldg(reinterpret_cast<const unsigned short*>(scale));
    }
    return raw;
}

// sum_i w_i * x_i over one chunk; xSum = sum_i x_i (for the formats with an offset).
template <WeightFormat F>
__device__ __forceinline__ float dotChunk(const RawChunk<F>& raw, const float* x, float xSum) {
    if constexpr (F == WeightFormat::F32) {
        return raw.a.x * x[0] + raw.a.y * x[1] + raw.a.z * x[2] + raw.a.w * x[3] + raw.b.x * x[4] +
               raw.b.y * x[5] + raw.b.z * x[6] + raw.b.w * x[7];
    } else if constexpr (F == WeightFormat::F16 || F == WeightFormat::BF16) {
        float sum = 0.0f;
#pragma unroll
        for (int i = 0; i < 4; ++i) {
            float2 f;
            if constexpr (F == WeightFormat::F16)
                f = __half22float2(reinterpret_cast<const __half2*>(&raw.v)[i]);
            else
                f = __bfloat1622float2(reinterpret_cast<const __nv_bfloat162*>(&raw.v)[i]);
            sum += f.x * x[2 * i] + f.y * x[2 * i + 1];
        }
        return sum;
    } else if constexpr (F == WeightFormat::Q8_0) {
        float sum = 0.0f;
#pragma unroll
        for (int i = 0; i < 8; ++i)
#pragma unroll
            for (int b = 0; b < 4; ++b)
                sum += float(int8_t(raw.q[i] >> (8 * b))) * x[4 * i + b];
        return __half2float(__ushort_as_half(raw.d)) * sum;
    } else {
        // Byte j of the 16 holds element j (low nibble) and element j + 16 (high nibble).
        float sum = 0.0f;
#pragma unroll
        for (int i = 0; i < 4; ++i)
#pragma unroll
            for (int b = 0; b < 4; ++b) {
                const uint32_t byte = raw.q[i] >> (8 * b);
                sum += float(byte & 0x0f) * x[4 * i + b] + float((byte >> 4) & 0x0f) * x[16 + 4 * i + b];
            }
        if constexpr (F == WeightFormat::Q4_0)
            return __half2float(__ushort_as_half(raw.d)) * (sum - 8.0f * xSum);
        else
            return __half2float(__ushort_as_half((unsigned short)(raw.dm & 0xffff))) * sum +
                   __half2float(__ushort_as_half((unsigned short)(raw.dm >> 16))) * xSum;
    }
}

// The single-token kernels' rows: the rows of up to kMatvecMaxParts matrices (MatvecArgs::more) one
// after another. rowEnd[p] is the end of part p's rows in that sequence.
struct RowParts {
    const uint8_t* w[kMatvecMaxParts];
    const float* bias[kMatvecMaxParts];
    float* out[kMatvecMaxParts];
    int64_t rowEnd[kMatvecMaxParts];
    int count;
    // Constant indices only: a run-time index would copy the whole parameter struct to local memory.
    __device__ __forceinline__ int64_t rows() const {
        return count == 3 ? rowEnd[2] : count == 2 ? rowEnd[1] : rowEnd[0];
    }
};

struct RowRef {
    const uint8_t* w; // the row's bytes
    const float* bias;
    float* out;
    int64_t row; // within its part
};

__device__ __forceinline__ RowRef rowRef(const RowParts& p, int64_t r, int64_t rowBytes) {
    const bool second = p.count > 1 && r >= p.rowEnd[0], third = p.count > 2 && r >= p.rowEnd[1];
    const int64_t row = r - (third ? p.rowEnd[1] : second ? p.rowEnd[0] : 0);
    const uint8_t* w = third ? p.w[2] : second ? p.w[1] : p.w[0];
    return {w + row * rowBytes,
            third    ? p.bias[2]
            : second ? p.bias[1]
                     : p.bias[0],
            third    ? p.out[2]
            : second ? p.out[1]
                     : p.out[0],
            row};
}

RowParts rowParts(const MatvecArgs& a) {
    RowParts p{};
    p.count = 1 + a.moreParts;
    p.w[0] = static_cast<const uint8_t*>(a.w);
    p.bias[0] = a.bias;
    p.out[0] = a.out;
    p.rowEnd[0] = a.rows;
    for (int i = 1; i < p.count; ++i) {
        p.w[i] = static_cast<const uint8_t*>(a.more[i - 1].w);
        p.bias[i] = a.more[i - 1].bias;
        p.out[i] = a.more[i - 1].out;
        p.rowEnd[i] = p.rowEnd[i - 1] + a.more[i - 1].rows;
    }
    return p;
}

// Sums each row's lane partials across the warp; lane r writes row r0 + r (plus its bias).
template <int kRows>
__device__ __forceinline__ void storeRowSums(const float (&acc)[kRows], int lane, int64_t r0,
                                             const RowParts& parts, int64_t rowBytes) {
#pragma unroll
    for (int r = 0; r < kRows; ++r) {
        const float v = warpSum(acc[r]);
        if (lane == r && r0 + r < parts.rows()) {
            const RowRef ref = rowRef(parts, r0 + r, rowBytes);
            ref.out[ref.row] = v + (ref.bias ? ref.bias[ref.row] : 0.0f);
        }
    }
}

template <WeightFormat F, int kRows>
__global__ void __launch_bounds__(kWarpsPerBlock * 32)
    matvecRowsKernel(RowParts parts, int64_t cols, int64_t rowBytes, const float* __restrict__ x) {
    constexpr int kChunk = FormatTraits<F>::kChunk;
    const int lane = threadIdx.x & 31;
    const int64_t r0 = (int64_t(blockIdx.x) * kWarpsPerBlock + (threadIdx.x >> 5)) * kRows;
    if (r0 >= parts.rows()) return;
    const uint8_t* row[kRows];
#pragma unroll
    for (int r = 0; r < kRows; ++r) {
        row[r] = rowRef(parts, min(r0 + r, parts.rows() - 1), rowBytes).w; // past the end: a repeat, unused
        prefetchToL2(row[r], int(rowBytes), lane);
    }
    enterDependentKernel();
    const int64_t chunks = cols / kChunk;
    float acc[kRows] = {};
#pragma unroll 2
    for (int64_t c = lane; c < chunks; c += 32) {
        RawChunk<F> raw[kRows];
#pragma unroll
        for (int r = 0; r < kRows; ++r)
            raw[r] = loadChunk<F>(row[r], cols, c);
        float xv[kChunk];
        const float4* xp = reinterpret_cast<const float4*>(x + c * kChunk);
        float xSum = 0.0f;
#pragma unroll
        for (int i = 0; i < kChunk / 4; ++i) {
            const float4 v = __ldg(xp + i);
            xv[4 * i] = v.x, xv[4 * i + 1] = v.y, xv[4 * i + 2] = v.z, xv[4 * i + 3] = v.w;
            xSum += (v.x + v.y) + (v.z + v.w);
        }
#pragma unroll
        for (int r = 0; r < kRows; ++r)
            acc[r] += dotChunk<F>(raw[r], xv, xSum);
    }
    storeRowSums<kRows>(acc, lane, r0, parts, rowBytes);
}

// ---- Single-token decode of the quantized formats on integer units, as llama.cpp's mmvq does: x is
// quantized once per call to int8 blocks of 32 the way ggml's CPU path does it (q = rint(x·127/amax),
// dx = fp16(amax/127), s = fp16(dx·Σq)), and a weight block's dot with it is eight __dp4a:
// Q8_0 gives d·dx·Σq·xq, Q4_0 d·dx·(Σq·xq − 8·Σxq), Q4_1 d·dx·Σq·xq + m·s.

struct QuantizedX {
    const int4* q;    // [cols/32][2]: 32 int8 per block
    const float2* ds; // [cols/32]: (dx, s)
};

// rowAmax: null for one scale per block (fp16-rounded, as ggml); else the row's max |x|, one float scale
// for every block (per-token mode: codes clamped to ±127, NaN to −127, as the CPU backend does).
__global__ void quantizeXKernel(const float* __restrict__ x, int64_t blocks, int8_t* __restrict__ q,
                                float2* __restrict__ ds, const float* __restrict__ rowAmax) {
    const int64_t block = int64_t(blockIdx.x) * (blockDim.x / 32) + (threadIdx.x >> 5);
    enterDependentKernel();
    if (block >= blocks) return;
    const int lane = threadIdx.x & 31;
    const float v = x[block * 32 + lane];
    if (!rowAmax) {
        quantizeWarpBlock(v, lane, block, XCodes{q, ds});
        return;
    }
    const float amax = *rowAmax;
    const float d = amax / 127.0f;
    const float inverse = amax != 0.0f ? 127.0f / amax : 0.0f;
    const int value = int(fminf(fmaxf(rintf(v * inverse), -127.0f), 127.0f));
    int sum = value;
#pragma unroll
    for (int offset = 16; offset > 0; offset >>= 1)
        sum += __shfl_xor_sync(0xffffffffu, sum, offset);
    q[block * 32 + lane] = int8_t(value);
    if (lane == 0) ds[block] = make_float2(d, d * float(sum));
}

// xqSum: Σxq of the block (Q4_0's offset of 8).
template <WeightFormat F>
__device__ __forceinline__ float dotChunkInt8(const RawChunk<F>& raw, const int* xw, float2 ds, int xqSum) {
    int sum = 0;
    if constexpr (F == WeightFormat::Q8_0) {
#pragma unroll
        for (int i = 0; i < 8; ++i)
            sum = __dp4a(int(raw.q[i]), xw[i], sum);
        return __half2float(__ushort_as_half(raw.d)) * ds.x * float(sum);
    } else {
#pragma unroll
        for (int i = 0; i < 4; ++i) {
            sum = __dp4a(int(raw.q[i] & 0x0f0f0f0fu), xw[i], sum);
            sum = __dp4a(int((raw.q[i] >> 4) & 0x0f0f0f0fu), xw[4 + i], sum);
        }
        if constexpr (F == WeightFormat::Q4_0)
            return __half2float(__ushort_as_half(raw.d)) * ds.x * float(sum - 8 * xqSum);
        else
            return __half2float(__ushort_as_half((unsigned short)(raw.dm & 0xffff))) * ds.x * float(sum) +
                   __half2float(__ushort_as_half((unsigned short)(raw.dm >> 16))) * ds.y;
    }
}

// One row per warp on Q4 formats fits in 32 registers without spilling (ptxas -v): a full SM of warps
// (16 blocks; 12 where an SM holds 1536 threads), each with its 16-byte loads in flight.
#if defined(__CUDA_ARCH__) && (__CUDA_ARCH__ == 860 || __CUDA_ARCH__ == 870 || __CUDA_ARCH__ == 890)
constexpr int kInt8BlocksPerSm = 12;
#else
constexpr int kInt8BlocksPerSm = 16;
#endif

template <WeightFormat F, int kRows>
__global__ void __launch_bounds__(kWarpsPerBlock * 32,
                                  kRows == 1 && F != WeightFormat::Q8_0 ? kInt8BlocksPerSm : 1)
    matvecInt8Kernel(RowParts parts, int64_t cols, int64_t rowBytes, QuantizedX x) {
    const int lane = threadIdx.x & 31;
    const int64_t r0 = (int64_t(blockIdx.x) * kWarpsPerBlock + (threadIdx.x >> 5)) * kRows;
    if (r0 >= parts.rows()) return;
    const uint8_t* row[kRows];
#pragma unroll
    for (int r = 0; r < kRows; ++r) {
        row[r] = rowRef(parts, min(r0 + r, parts.rows() - 1), rowBytes).w;
        prefetchToL2(row[r], int(rowBytes), lane);
    }
    enterDependentKernel();
    const int64_t chunks = cols / 32;
    float acc[kRows] = {};
#pragma unroll 2
    for (int64_t c = lane; c < chunks; c += 32) {
        RawChunk<F> raw[kRows];
#pragma unroll
        for (int r = 0; r < kRows; ++r)
            raw[r] = loadChunk<F>(row[r], cols, c);
        const int4 lo = __ldg(x.q + 2 * c), hi = __ldg(x.q + 2 * c + 1);
        const int xw[8] = {lo.x, lo.y, lo.z, lo.w, hi.x, hi.y, hi.z, hi.w};
        const float2 ds = __ldg(x.ds + c);
        int xqSum = 0;
        if constexpr (F == WeightFormat::Q4_0)
#pragma unroll
            for (int i = 0; i < 8; ++i)
                xqSum = __dp4a(0x01010101, xw[i], xqSum);
#pragma unroll
        for (int r = 0; r < kRows; ++r)
            acc[r] += dotChunkInt8<F>(raw[r], xw, ds, xqSum);
    }
    storeRowSums<kRows>(acc, lane, r0, parts, rowBytes);
}

// 2 to 8 tokens on int8 (speculative verification, small batches): a warp per row loads each weight
// block once and dots it with every token's codes, the per-token sums in registers.
template <WeightFormat F, int MaxTokens>
__global__ void __launch_bounds__(kWarpsPerBlock * 32)
    matvecInt8TokensKernel(const uint8_t* __restrict__ w, int64_t rows, int64_t cols, int64_t rowBytes,
                           QuantizedX x, int nTokens, const float* __restrict__ bias,
                           float* __restrict__ out) {
    const int lane = threadIdx.x & 31;
    const int64_t r = int64_t(blockIdx.x) * kWarpsPerBlock + (threadIdx.x >> 5);
    enterDependentKernel();
    if (r >= rows) return;
    const uint8_t* row = w + r * rowBytes;
    const int64_t chunks = cols / 32;
    float acc[MaxTokens] = {};
    for (int64_t c = lane; c < chunks; c += 32) {
        const RawChunk<F> raw = loadChunk<F>(row, cols, c);
#pragma unroll
        for (int t = 0; t < MaxTokens; ++t) {
            if (t >= nTokens) break;
            const int64_t b = t * chunks + c;
            const int4 lo = __ldg(x.q + 2 * b), hi = __ldg(x.q + 2 * b + 1);
            const int xw[8] = {lo.x, lo.y, lo.z, lo.w, hi.x, hi.y, hi.z, hi.w};
            int xqSum = 0;
            if constexpr (F == WeightFormat::Q4_0)
#pragma unroll
                for (int i = 0; i < 8; ++i)
                    xqSum = __dp4a(0x01010101, xw[i], xqSum);
            acc[t] += dotChunkInt8<F>(raw, xw, __ldg(x.ds + b), xqSum);
        }
    }
    storeTokenSums<MaxTokens>(acc, lane, r, rows, nTokens, bias, out);
}

// x's codes in the scratch (quantized here unless the scratch already holds them).
QuantizedX quantizedX(const MatvecArgs& a, cudaStream_t stream) {
    const int64_t blocks = int64_t(a.nTokens) * (a.cols / 32);
    int8_t* q = static_cast<int8_t*>(a.scratch);
    float2* ds = reinterpret_cast<float2*>(q + int64_t(a.nTokens) * a.cols);
    if (!a.scratchHoldsX) {
        float* rowAmax = nullptr;
        if (a.perTokenActivations) {
            rowAmax = reinterpret_cast<float*>(ds + blocks);
            rowAbsMax(a.x, 1, a.cols, rowAmax, stream);
        }
        constexpr int kQuantWarps = 8;
        launchDependent(quantizeXKernel, dim3(unsigned((blocks + kQuantWarps - 1) / kQuantWarps)),
                        dim3(kQuantWarps * 32), stream, a.x, blocks, q, ds, rowAmax);
    }
    return QuantizedX{reinterpret_cast<const int4*>(q), ds};
}

template <WeightFormat F, int MaxTokens>
void launchMatvecInt8Tokens(const MatvecArgs& a, cudaStream_t stream) {
    const QuantizedX x = quantizedX(a, stream);
    const dim3 grid(unsigned((a.rows + kWarpsPerBlock - 1) / kWarpsPerBlock));
    launchDependent(matvecInt8TokensKernel<F, MaxTokens>, grid, dim3(kWarpsPerBlock * 32), stream,
                    static_cast<const uint8_t*>(a.w), a.rows, a.cols, weightRowBytes(F, a.cols), x, a.nTokens,
                    a.bias, a.out);
}

template <WeightFormat F, int kRows> void launchMatvecInt8(const MatvecArgs& a, cudaStream_t stream) {
    const QuantizedX x = quantizedX(a, stream);
    const RowParts parts = rowParts(a);
    const int64_t rowsPerBlock = int64_t(kWarpsPerBlock) * kRows;
    const dim3 grid(unsigned((parts.rowEnd[parts.count - 1] + rowsPerBlock - 1) / rowsPerBlock));
    launchDependent(matvecInt8Kernel<F, kRows>, grid, dim3(kWarpsPerBlock * 32), stream, parts, a.cols,
                    weightRowBytes(F, a.cols), x);
}

template <WeightFormat F, int kRows> void launchMatvecRows(const MatvecArgs& a, cudaStream_t stream) {
    const RowParts parts = rowParts(a);
    const int64_t rowsPerBlock = int64_t(kWarpsPerBlock) * kRows;
    const dim3 grid(unsigned((parts.rowEnd[parts.count - 1] + rowsPerBlock - 1) / rowsPerBlock));
    launchDependent(matvecRowsKernel<F, kRows>, grid, dim3(kWarpsPerBlock * 32), stream, parts, a.cols,
                    weightRowBytes(F, a.cols), a.x);
}

template <WeightFormat F, int MaxTokens> void launchMatvec(const MatvecArgs& a, cudaStream_t stream) {
    const dim3 grid(unsigned((a.rows + kWarpsPerBlock - 1) / kWarpsPerBlock));
    launchDependent(matvecKernel<F, MaxTokens>, grid, dim3(kWarpsPerBlock * 32), stream,
                    static_cast<const uint8_t*>(a.w), a.rows, a.cols, weightRowBytes(F, a.cols), a.x,
                    a.nTokens, a.bias, a.out);
}

// Rows per warp of the int8 kernel: 1, or LATHE_CUDA_INT8_ROWS (1, 2 or 4) for the tuning runs of
// tests/gpu/device-session.sh. With split rows and graphs, one row per warp (more warps in flight) was
// best on an H100: 8B Q4_0 206/199/186 tok/s, 1B Q4_0 775/725 (rows 1/2/4; RESULTS.md).
int int8RowsPerWarp() {
    static const int rows = [] {
        const char* value = std::getenv("LATHE_CUDA_INT8_ROWS");
        const int n = value ? std::atoi(value) : 1;
        return n == 2 || n == 4 ? n : 1;
    }();
    return rows;
}

} // namespace

bool matvec(const MatvecArgs& args, cudaStream_t stream) {
    if (args.nTokens < 1 || args.nTokens > kMatvecMaxTokens || !formatHasKernels(args.dtype, args.cols))
        return false;
    if (args.moreParts < 0 || args.moreParts >= kMatvecMaxParts || (args.moreParts > 0 && args.nTokens != 1))
        return false;
    return dispatchFormat(WeightFormat(args.dtype), [&](auto tag) {
        constexpr WeightFormat F = decltype(tag)::value;
        constexpr bool kInt8 = F == WeightFormat::Q4_0 || F == WeightFormat::Q4_1 || F == WeightFormat::Q8_0;
        // Rows per warp for one token (tests/gpu/RESULTS.md): int8RowsPerWarp(); on floats one (8B F16 on
        // an H100: 120 tok/s at 1, 103 at 4, 74 at 8), where one warp per row keeps more warps in flight.
        if constexpr (kInt8) {
            if (args.nTokens > 1 && args.scratch && !args.perTokenActivations) {
                if (args.nTokens == 2)
                    launchMatvecInt8Tokens<F, 2>(args, stream);
                else if (args.nTokens <= 4)
                    launchMatvecInt8Tokens<F, 4>(args, stream);
                else
                    launchMatvecInt8Tokens<F, 8>(args, stream);
                return;
            }
            if (args.nTokens == 1 && args.scratch) {
                const int rowsPerWarp = int8RowsPerWarp();
                if (rowsPerWarp == 1)
                    launchMatvecInt8<F, 1>(args, stream);
                else if (rowsPerWarp == 4)
                    launchMatvecInt8<F, 4>(args, stream);
                else
                    launchMatvecInt8<F, 2>(args, stream);
                return;
            }
        }
        if (args.nTokens == 1)
            launchMatvecRows<F, 1>(args, stream);
        else if (args.nTokens == 2)
            launchMatvec<F, 2>(args, stream);
        else if (args.nTokens <= 4)
            launchMatvec<F, 4>(args, stream);
        else
            launchMatvec<F, 8>(args, stream);
    });
}

} // namespace lathe::kernels
