#pragma once
// The decoding flags generate and chat share: --greedy or --temp/--top-k/--top-p/--min-p/
// --repeat-penalty/--seed, and -n.

#include "decode/Generator.h"

#include <CLI/CLI.hpp>

namespace lathe::cli {

struct SamplingFlags {
    bool greedy = false;
    float temperature = 0.8f;
    int topK = 40;
    float topP = 0.95f;
    float minP = 0.05f;
    float repeatPenalty = 1.0f;
    int repeatLastN = 64;
    uint64_t seed = 0;
    bool seedGiven = false;
    int maxNewTokens = 256;
    std::vector<std::string> stopStrings;

    void addTo(CLI::App& command);
    GenerationRequest request() const; // validated; throws lathe::Error on bad values
};

} // namespace lathe::cli
