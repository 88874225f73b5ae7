#pragma once
// How generate and chat describe a finished generation: the timing line and the JSON fields.

#include "decode/Generator.h"

#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <string>

namespace lathe::cli {

inline std::string timingLine(const GenerationResult& r) {
    const GenerationTimings& t = r.timings;
    return fmt::format(
        "[{} prompt tokens ({} reused) at {:.1f} tok/s, TTFT {:.0f} ms, {} tokens at {:.1f} tok/s, stop: {}]",
        t.promptTokens, t.reusedPromptTokens, t.promptTokensPerSecond(), t.timeToFirstTokenSeconds * 1e3,
        t.generatedTokens, t.decodeTokensPerSecond(), stopReasonName(r.stopReason));
}

inline nlohmann::json timingsJson(const GenerationResult& r) {
    const GenerationTimings& t = r.timings;
    return {{"prompt_tokens", t.promptTokens},
            {"reused_prompt_tokens", t.reusedPromptTokens},
            {"generated_tokens", t.generatedTokens},
            {"prompt_seconds", t.promptSeconds},
            {"ttft_seconds", t.timeToFirstTokenSeconds},
            {"decode_seconds", t.decodeSeconds},
            {"prompt_tokens_per_second", t.promptTokensPerSecond()},
            {"decode_tokens_per_second", t.decodeTokensPerSecond()}};
}

} // namespace lathe::cli
