#pragma once
// XCodes: a single-token activation x quantized to ggml's Q8 blocks for the int8 mat-vec (Matvec.cu):
// per 32 values q = rint(x · 127 / amax), d = fp16(amax / 127), s = fp16(d · Σq). The mat-vec's own
// quantize kernel writes them, and so do the ops whose output feeds a mat-vec (RMSNorm, SwiGLU,
// attention), while that output is in registers: the mat-vec then skips its quantize launch.
// Layout in the scratch buffer (matvecScratchBytes): codes [cols] int8, then (d, s) [cols / 32] float2.

#include <cstdint>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

namespace lathe::kernels {

struct XCodes {
    int8_t* q = nullptr;  // [cols]; null: no codes wanted
    float2* ds = nullptr; // [cols / 32]
};

inline XCodes xCodesIn(void* scratch, int64_t cols) {
    int8_t* q = static_cast<int8_t*>(scratch);
    return XCodes{q, reinterpret_cast<float2*>(q + cols)};
}

#if defined(__CUDACC__)
// Block `block` of x, lane i holding its value v (all 32 lanes of the warp call this together).
__device__ __forceinline__ void quantizeWarpBlock(float v, int lane, int64_t block, XCodes codes) {
    float amax = fabsf(v);
#pragma unroll
    for (int offset = 16; offset > 0; offset >>= 1)
        amax = fmaxf(amax, __shfl_xor_sync(0xffffffffu, amax, offset));
    const float d = amax / 127.0f;
    const float inverse = amax != 0.0f ? 127.0f / amax : 0.0f;
    const int value = __float2int_rn(v * inverse);
    int sum = value;
#pragma unroll
    for (int offset = 16; offset > 0; offset >>= 1)
        sum += __shfl_xor_sync(0xffffffffu, sum, offset);
    codes.q[block * 32 + lane] = int8_t(value);
    if (lane == 0)
        codes.ds[block] =
            make_float2(__half2float(__float2half_rn(d)), __half2float(__float2half_rn(d * float(sum))));
}
#endif

} // namespace lathe::kernels
