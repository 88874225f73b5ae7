#pragma once
// Logits processing and token sampling on the device. See Sampling.cu.

#include <cstdint>
#include <cuda_runtime.h>

namespace lathe::kernels {

// decode/SamplingParams semantics (repetition penalty excepted: it is applied to the logits first).
struct SamplingArgs {
    const float* logits = nullptr; // [n] device
    int n = 0;
    float temperature = 0.0f; // <= 0: greedy argmax, lowest id on ties
    int topK = 0;             // 0 = off
    float topP = 1.0f;        // 1 = off
    float minP = 0.0f;        // 0 = off
    float uniform = 0.0f;     // a draw in [0, 1) from the caller's seeded generator
    float* scratch = nullptr; // [n] device floats
    int32_t* token = nullptr; // [1] device: the chosen token id
};

void sampleToken(const SamplingArgs& args, cudaStream_t stream);

} // namespace lathe::kernels
