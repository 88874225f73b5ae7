#pragma once
// Decode mat-vec: out[t][r] = sum_c w[r][c] * x[t][c] (+ bias[r]) for a few tokens, straight from the
// stored weight format. See Matvec.cu.

#include <cstdint>
#include <cuda_runtime.h>

namespace lathe::kernels {

constexpr int kMatvecMaxTokens = 8; // larger batches go through the cuBLAS GEMM path
constexpr int kMatvecMaxParts = 3;  // products of one x in one launch (q, k, v)

// A further product of the same x in the same launch: out = w · x (+ bias), w with the first
// product's format and cols (one token only).
struct MatvecPart {
    const void* w = nullptr;
    int64_t rows = 0;
    const float* bias = nullptr;
    float* out = nullptr;
};

struct MatvecArgs {
    const void* w = nullptr; // [rows][row bytes], format `dtype` (a DType / GGUF id)
    int dtype = 0;
    int64_t rows = 0, cols = 0;
    const float* x = nullptr;    // [nTokens][cols]
    int nTokens = 0;             // 1 .. kMatvecMaxTokens
    const float* bias = nullptr; // [rows] or null
    float* out = nullptr;        // [nTokens][rows]
    // Device scratch of matvecScratchBytes(cols, nTokens) bytes, 16-byte aligned: with it, tokens
    // against a Q4_0/Q4_1/Q8_0 weight run on int8 (x quantized per 32-block, as ggml does for every
    // batch); null keeps float activations.
    void* scratch = nullptr;
    // With scratch and one token: quantize x with one scale over the whole row instead of one per
    // 32-block (per-token int8 activations, kernels/ActivationQuant.cuh), scale kept in float.
    bool perTokenActivations = false;
    // With scratch: it already holds x quantized in this mode (the previous matmul read the same x), so
    // the quantization is skipped.
    bool scratchHoldsX = false;
    // One token: more products of x, their rows after the first's in one grid (fewer launches, and
    // small matrices such as k and v share the machine with q).
    MatvecPart more[kMatvecMaxParts - 1];
    int moreParts = 0;
};

// Codes [nTokens][cols], then (d, s) per block [nTokens][cols / 32], then the row's max |x|.
inline int64_t matvecScratchBytes(int64_t cols, int nTokens = 1) {
    return nTokens * (cols + (cols / 32) * 8) + 16;
}

// False when the format or shape has no kernel (the caller then dequantizes and uses GEMM).
bool matvec(const MatvecArgs& args, cudaStream_t stream);

} // namespace lathe::kernels
