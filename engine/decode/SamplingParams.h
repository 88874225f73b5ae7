#pragma once
// How the next token is chosen from a row of logits. The defaults are llama.cpp's (temperature 0.8,
// top-k 40, top-p 0.95, min-p 0.05, no repetition penalty) with a fixed seed, so that a run is
// reproducible unless the caller asks for a fresh seed.

#include <cstdint>

namespace lathe {

struct SamplingParams {
    float temperature = 0.8f;   // 0 = greedy (argmax, lowest token id on ties)
    int topK = 40;              // keep the k most likely tokens; 0 = off
    float topP = 0.95f;         // keep the smallest most-likely set whose probability reaches p; 1 = off
    float minP = 0.05f;         // drop tokens below minP * (probability of the most likely); 0 = off
    float repeatPenalty = 1.0f; // logit / penalty if logit > 0 else logit * penalty; 1 = off
    int repeatLastN = 64;       // penalty window over prompt + generated tokens; -1 = all of them
    uint64_t seed = 0;

    static SamplingParams greedy() {
        SamplingParams p;
        p.temperature = 0.0f;
        return p;
    }
    // No truncation at all: plain softmax sampling at the given temperature.
    static SamplingParams unrestricted(float temperature, uint64_t seed) {
        SamplingParams p;
        p.temperature = temperature;
        p.topK = 0;
        p.topP = 1.0f;
        p.minP = 0.0f;
        p.seed = seed;
        return p;
    }

    bool isGreedy() const { return temperature == 0.0f; }
    // Throws lathe::Error (InvalidArgument) naming the first field out of range.
    void validate() const;
};

} // namespace lathe
