#pragma once
// A conversation's decoding settings and the JSON they take in QSettings and in a run's config.

#include "decode/SamplingParams.h"

#include <nlohmann/json.hpp>
#include <string>

namespace lathe::gui {

struct DecodingSettings {
    SamplingParams sampling;
    int maxNewTokens = 512;
    std::string systemPrompt;
};

nlohmann::json decodingToJson(const DecodingSettings& settings);
// Missing or mistyped keys keep their defaults: settings written by an older version still load.
DecodingSettings decodingFromJson(const nlohmann::json& json);

} // namespace lathe::gui
