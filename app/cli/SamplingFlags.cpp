#include "SamplingFlags.h"

#include <random>

namespace lathe::cli {

void SamplingFlags::addTo(CLI::App& command) {
    command.add_option("-n,--max-tokens", maxNewTokens, "Most tokens to generate")->capture_default_str();
    command.add_flag("--greedy", greedy, "Always take the most likely token (same as --temp 0)");
    command.add_option("--temp", temperature, "Sampling temperature (0 = greedy)")->capture_default_str();
    command.add_option("--top-k", topK, "Keep the K most likely tokens (0 = off)")->capture_default_str();
    command.add_option("--top-p", topP, "Keep the smallest set reaching probability P (1 = off)")
        ->capture_default_str();
    command.add_option("--min-p", minP, "Drop tokens below M x the top probability (0 = off)")
        ->capture_default_str();
    command.add_option("--repeat-penalty", repeatPenalty, "Penalty for recent tokens (1 = off)")
        ->capture_default_str();
    command.add_option("--repeat-last-n", repeatLastN, "How many recent tokens the penalty covers")
        ->capture_default_str();
    command.add_option("--seed", seed, "Random seed (default: random, printed)")
        ->each([this](const std::string&) { seedGiven = true; });
    command.add_option("--stop", stopStrings, "Stop when this text is generated (repeatable)");
}

GenerationRequest SamplingFlags::request() const {
    GenerationRequest r;
    if (maxNewTokens < 1)
        fail(ErrorCategory::InvalidArgument, "--max-tokens must be >= 1, got {}", maxNewTokens);
    r.maxNewTokens = maxNewTokens;
    r.stopStrings = stopStrings;
    r.sampling.temperature = greedy ? 0.0f : temperature;
    r.sampling.topK = topK;
    r.sampling.topP = topP;
    r.sampling.minP = minP;
    r.sampling.repeatPenalty = repeatPenalty;
    r.sampling.repeatLastN = repeatLastN;
    r.sampling.seed = seedGiven ? seed : std::random_device{}();
    r.sampling.validate();
    return r;
}

} // namespace lathe::cli
