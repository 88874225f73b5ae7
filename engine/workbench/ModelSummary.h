#pragma once
// What a model card shows: architecture, shapes, parameter count, size, tensor formats, tokenizer and
// chat template. Computed from opened ModelFiles without touching the weights.

#include "io/ModelFiles.h"

#include <cstdint>
#include <map>
#include <nlohmann/json_fwd.hpp>
#include <string>

namespace lathe {

struct ModelSummary {
    std::string path;
    std::string format; // "gguf" or "huggingface"
    std::string name;
    ModelConfig config;
    uint64_t parameterCount = 0;
    uint64_t fileBytes = 0;
    std::map<std::string, int> tensorTypeCounts;      // "q4_1" -> 210
    std::map<std::string, uint64_t> tensorTypeParams; // "q4_1" -> parameters stored in it
    std::string tokenizerKind;                        // "byte-level BPE (smollm)"
    int vocabSize = 0;
    std::string chatTemplateFamily;

    nlohmann::json toJson() const;
    std::string toText() const;
};

ModelSummary summarizeModel(const ModelFiles& files);

} // namespace lathe
