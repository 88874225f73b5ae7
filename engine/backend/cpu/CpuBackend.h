#pragma once
// The CPU reference backend: plain C++ loops over a persistent thread pool. Matmuls split the output
// rows over the threads and handle every token of the batch per weight row, so a prefill reads each
// weight row once; weight rows are dequantized on the fly into a per-thread scratch row.

#include "backend/Backend.h"

#include <memory>

namespace lathe {

struct CpuBackendOptions {
    int threads = 0; // <= 0: all hardware threads
    // On (the default): llama.cpp's CPU arithmetic bit for bit. Matmuls with Q4_0/Q4_1/Q5_0/Q5_1/Q8_0
    // weights quantize the activations to 8-bit blocks and use integer dot products
    // (backend/cpu/ActivationQuant.h); RoPE, attention and SwiGLU round and sum in ggml's AVX2 order
    // with its polynomial exp (backend/cpu/GgmlFloatOrder.h). Off: the plain float reference
    // (dequantized weight row . float activations, libm exp, double softmax sum) for every op.
    bool quantizedActivations = true;
};

std::unique_ptr<Backend> makeCpuBackend(const CpuBackendOptions& options);
inline std::unique_ptr<Backend> makeCpuBackend(int threads) {
    return makeCpuBackend(CpuBackendOptions{threads, true});
}

} // namespace lathe
