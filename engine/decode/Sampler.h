#pragma once
// Chooses the next token from one row of logits. The rules run in a fixed order, as llama.cpp's
// default chain does:
//   1. repetition penalty over the last repeatLastN tokens of the history (each distinct token once)
//   2. top-k      keep the k largest logits
//   3. top-p      keep the smallest most-likely prefix whose probability (softmax at temperature 1)
//                 reaches p
//   4. min-p      keep tokens whose probability is >= minP * the largest probability
//   5. temperature  divide the survivors' logits by T
//   6. softmax over the survivors, then one draw from the seeded generator
// Temperature 0 is greedy: the argmax of the penalised logits, the lowest token id on ties.
// Candidates are ordered by logit, descending, ties by ascending token id, so a draw is a pure
// function of (logits, history, seed, number of draws so far).

#include "decode/SamplingParams.h"

#include <cstdint>
#include <random>
#include <span>
#include <vector>

namespace lathe {

struct TokenProb {
    int32_t token;
    float prob;
};

class Sampler {
public:
    // Throws lathe::Error (InvalidArgument) when params are out of range.
    explicit Sampler(const SamplingParams& params);

    const SamplingParams& params() const { return params_; }
    void reseed(uint64_t seed) { rng_.seed(seed); }

    // The tokens that survive rules 1-5 with their final probabilities (summing to 1), most likely
    // first. Greedy gives the single argmax with probability 1. Tokens whose logit is NaN or -inf
    // never survive. Throws lathe::Error (InvalidArgument) when no logit is usable.
    std::vector<TokenProb> candidates(std::span<const float> logits, std::span<const int32_t> history) const;

    // Draws one token (advances the generator unless greedy).
    int32_t sample(std::span<const float> logits, std::span<const int32_t> history);

    // Rule 1 alone, in place: exposed so strategies that score logits themselves (beam search)
    // penalise exactly as the sampler does.
    static void applyRepeatPenalty(std::span<float> logits, std::span<const int32_t> history, float penalty,
                                   int lastN);

private:
    double uniform(); // [0, 1) with 53 random bits; portable, unlike std::uniform_real_distribution

    SamplingParams params_;
    std::mt19937_64 rng_;
    mutable std::vector<float> work_; // penalised logits, reused between calls
};

} // namespace lathe
