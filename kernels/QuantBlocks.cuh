#pragma once
// Device-side views of the weight formats (WeightLayout.h: quantized rows are split into quants and
// scales on upload) and one decoder per format, shared by the mat-vec, dequantize and embedding
// kernels. A "chunk" is the unit a thread decodes at once: one 32-element block for the quantized
// formats, 8 elements for plain ones.

#include "kernels/WeightLayout.h"

#include <cstdint>
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <type_traits>

namespace lathe::kernels {

// Weight formats the kernels read; values are GGUF/DType ids so the host passes DType through.
enum class WeightFormat : int { F32 = 0, F16 = 1, Q4_0 = 2, Q4_1 = 3, Q8_0 = 8, BF16 = 30 };

template <WeightFormat F> struct FormatTraits;
template <> struct FormatTraits<WeightFormat::F32> { static constexpr int kChunk = 8; };
template <> struct FormatTraits<WeightFormat::F16> { static constexpr int kChunk = 8; };
template <> struct FormatTraits<WeightFormat::BF16> { static constexpr int kChunk = 8; };
template <> struct FormatTraits<WeightFormat::Q4_0> { static constexpr int kChunk = 32; };
template <> struct FormatTraits<WeightFormat::Q4_1> { static constexpr int kChunk = 32; };
template <> struct FormatTraits<WeightFormat::Q8_0> { static constexpr int kChunk = 32; };

// The quants and the scale part of block c in a split device row (WeightLayout.h) of `cols` elements.
template <WeightFormat F>
__device__ __forceinline__ const uint8_t* blockQuants(const uint8_t* row, int64_t c) {
    return row + c * blockQuantBytes(int(F));
}
template <WeightFormat F>
__device__ __forceinline__ const uint8_t* blockScale(const uint8_t* row, int64_t cols, int64_t c) {
    return row + (cols / 32) * blockQuantBytes(int(F)) + c * blockScaleBytes(int(F));
}

// Decodes chunk `c` of a device row (WeightLayout.h) of `cols` elements into out[0 .. kChunk).
template <WeightFormat F>
__device__ __forceinline__ void decodeChunk(const uint8_t* row, int64_t cols, int64_t c, float* out) {
    if constexpr (F == WeightFormat::F32) {
        const float4* p = reinterpret_cast<const float4*>(row) + 2 * c;
        const float4 a = p[0], b = p[1];
        out[0] = a.x, out[1] = a.y, out[2] = a.z, out[3] = a.w;
        out[4] = b.x, out[5] = b.y, out[6] = b.z, out[7] = b.w;
    } else if constexpr (F == WeightFormat::F16) {
        const uint4 v = reinterpret_cast<const uint4*>(row)[c];
        const __half2* h = reinterpret_cast<const __half2*>(&v);
#pragma unroll
        for (int i = 0; i < 4; ++i) {
            const float2 f = __half22float2(h[i]);
            out[2 * i] = f.x, out[2 * i + 1] = f.y;
        }
    } else if constexpr (F == WeightFormat::BF16) {
        const uint4 v = reinterpret_cast<const uint4*>(row)[c];
        const __nv_bfloat162* h = reinterpret_cast<const __nv_bfloat162*>(&v);
#pragma unroll
        for (int i = 0; i < 4; ++i) {
            const float2 f = __bfloat1622float2(h[i]);
            out[2 * i] = f.x, out[2 * i + 1] = f.y;
        }
    } else if constexpr (F == WeightFormat::Q4_0 || F == WeightFormat::Q4_1) {
        const uint4 v = *reinterpret_cast<const uint4*>(blockQuants<F>(row, c));
        const uint8_t* qs = reinterpret_cast<const uint8_t*>(&v);
        const __half* scale = reinterpret_cast<const __half*>(blockScale<F>(row, cols, c));
        const float d = __half2float(scale[0]);
        if constexpr (F == WeightFormat::Q4_0) {
#pragma unroll
            for (int i = 0; i < 16; ++i) {
                out[i] = float(int(qs[i] & 0x0f) - 8) * d;
                out[i + 16] = float(int(qs[i] >> 4) - 8) * d;
            }
        } else {
            const float m = __half2float(scale[1]);
#pragma unroll
            for (int i = 0; i < 16; ++i) {
                out[i] = float(qs[i] & 0x0f) * d + m;
                out[i + 16] = float(qs[i] >> 4) * d + m;
            }
        }
    } else {
        const uint4* p = reinterpret_cast<const uint4*>(blockQuants<F>(row, c));
        const uint4 v[2] = {p[0], p[1]};
        const int8_t* qs = reinterpret_cast<const int8_t*>(v);
        const float d = __half2float(*reinterpret_cast<const __half*>(blockScale<F>(row, cols, c)));
#pragma unroll
        for (int i = 0; i < 32; ++i)
            out[i] = float(qs[i]) * d;
    }
}

// Bytes of a device row of `cols` elements (WeightLayout.h).
__host__ __device__ inline int64_t weightRowBytes(WeightFormat f, int64_t cols) {
    return deviceRowBytes(int(f), cols);
}

template <WeightFormat F> using FormatTag = std::integral_constant<WeightFormat, F>;

// Calls fn(FormatTag<F>{}) for the runtime format f; false for a format without kernels.
template <typename Fn> bool dispatchFormat(WeightFormat f, Fn&& fn) {
    switch (f) {
    case WeightFormat::F32:
        fn(FormatTag<WeightFormat::F32>{});
        return true;
    case WeightFormat::F16:
        fn(FormatTag<WeightFormat::F16>{});
        return true;
    case WeightFormat::BF16:
        fn(FormatTag<WeightFormat::BF16>{});
        return true;
    case WeightFormat::Q4_0:
        fn(FormatTag<WeightFormat::Q4_0>{});
        return true;
    case WeightFormat::Q4_1:
        fn(FormatTag<WeightFormat::Q4_1>{});
        return true;
    case WeightFormat::Q8_0:
        fn(FormatTag<WeightFormat::Q8_0>{});
        return true;
    }
    return false;
}

// Row length must be a whole number of chunks for the kernels (true of every Llama-family matrix).
inline bool formatHasKernels(int dtypeId, int64_t cols) {
    switch (WeightFormat(dtypeId)) {
    case WeightFormat::F32:
    case WeightFormat::F16:
    case WeightFormat::BF16:
        return cols % 8 == 0;
    case WeightFormat::Q4_0:
    case WeightFormat::Q4_1:
    case WeightFormat::Q8_0:
        return cols % 32 == 0;
    }
    return false;
}

} // namespace lathe::kernels
