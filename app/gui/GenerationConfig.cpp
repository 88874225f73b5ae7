#include "GenerationConfig.h"

namespace lathe::gui {
namespace {

template <typename T> void readInto(const nlohmann::json& json, const char* key, T& value) {
    const auto it = json.find(key);
    if (it == json.end()) return;
    try {
        value = it->get<T>();
    } catch (const nlohmann::json::exception&) {
        // keep the default
    }
}

} // namespace

nlohmann::json decodingToJson(const DecodingSettings& s) {
    return {{"temperature", s.sampling.temperature},
            {"top_k", s.sampling.topK},
            {"top_p", s.sampling.topP},
            {"min_p", s.sampling.minP},
            {"repeat_penalty", s.sampling.repeatPenalty},
            {"repeat_last_n", s.sampling.repeatLastN},
            {"seed", s.sampling.seed},
            {"max_tokens", s.maxNewTokens},
            {"system_prompt", s.systemPrompt}};
}

DecodingSettings decodingFromJson(const nlohmann::json& json) {
    DecodingSettings s;
    if (!json.is_object()) return s;
    readInto(json, "temperature", s.sampling.temperature);
    readInto(json, "top_k", s.sampling.topK);
    readInto(json, "top_p", s.sampling.topP);
    readInto(json, "min_p", s.sampling.minP);
    readInto(json, "repeat_penalty", s.sampling.repeatPenalty);
    readInto(json, "repeat_last_n", s.sampling.repeatLastN);
    readInto(json, "seed", s.sampling.seed);
    readInto(json, "max_tokens", s.maxNewTokens);
    readInto(json, "system_prompt", s.systemPrompt);
    return s;
}

} // namespace lathe::gui
