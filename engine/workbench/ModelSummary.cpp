#include "workbench/ModelSummary.h"

#include "tokenizer/ChatTemplate.h"

#include <algorithm>
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <nlohmann/json.hpp>

namespace lathe {
namespace {

const char* ropeStyleName(RopeStyle style) {
    return style == RopeStyle::Interleaved ? "interleaved" : "half-split (neox)";
}

std::string humanBytes(uint64_t bytes) {
    const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    double value = double(bytes);
    int unit = 0;
    while (value >= 1024.0 && unit < 4) {
        value /= 1024.0;
        ++unit;
    }
    return fmt::format("{:.1f} {}", value, units[unit]);
}

} // namespace

ModelSummary summarizeModel(const ModelFiles& files) {
    ModelSummary s;
    s.path = files.path.string();
    s.format = files.format == ModelFormat::Gguf ? "gguf" : "huggingface";
    s.name = files.config.name;
    s.config = files.config;
    s.fileBytes = files.totalBytes;
    for (const auto& [name, tensor] : files.tensors) {
        const uint64_t count = uint64_t(tensor.elementCount());
        s.parameterCount += count;
        const std::string type(dtypeName(tensor.dtype));
        s.tensorTypeCounts[type] += 1;
        s.tensorTypeParams[type] += count;
    }
    const TokenizerSpec& tok = files.tokenizer;
    s.tokenizerKind =
        tok.kind == TokenizerKind::BytePairGpt2
            ? fmt::format("byte-level BPE ({})", tok.preTokenizer.empty() ? "default" : tok.preTokenizer)
            : std::string("SentencePiece BPE");
    s.vocabSize = int(tok.tokens.size());
    s.chatTemplateFamily = std::string(ChatTemplate::detect(tok).familyName());
    return s;
}

nlohmann::json ModelSummary::toJson() const {
    nlohmann::json types = nlohmann::json::object();
    for (const auto& [type, count] : tensorTypeCounts)
        types[type] = {{"tensors", count}, {"parameters", tensorTypeParams.at(type)}};
    return {
        {"path", path},
        {"format", format},
        {"name", name},
        {"architecture", config.architecture},
        {"parameters", parameterCount},
        {"file_bytes", fileBytes},
        {"layers", config.nLayers},
        {"hidden", config.nEmbd},
        {"heads", config.nHeads},
        {"kv_heads", config.nHeadsKv},
        {"head_dim", config.headDim},
        {"ffn", config.nFf},
        {"ffn_per_layer", config.layerFf}, // empty when every layer has "ffn"
        {"activation_quantization", activationQuantizationName(config.activationQuantization)},
        {"vocab", config.vocabSize},
        {"context_length", config.contextLength},
        {"rms_eps", config.rmsEps},
        {"rope_freq_base", config.ropeFreqBase},
        {"rope_style", ropeStyleName(config.ropeStyle)},
        {"rope_llama3_factor", config.ropeLlama3.factor},
        {"tied_embeddings", config.tiedEmbeddings},
        {"qkv_bias", config.qkvBias},
        {"tensor_types", types},
        {"tokenizer", tokenizerKind},
        {"tokenizer_vocab", vocabSize},
        {"chat_template", chatTemplateFamily},
    };
}

std::string ModelSummary::toText() const {
    std::string out;
    auto line = [&out](std::string_view key, const std::string& value) {
        out += fmt::format("{:<16}{}\n", key, value);
    };
    line("path", path);
    line("format", format);
    if (!name.empty()) line("name", name);
    line("architecture", config.architecture);
    line("parameters", fmt::format("{} ({:.1f} M)", parameterCount, double(parameterCount) / 1e6));
    line("size", fmt::format("{} ({} bytes)", humanBytes(fileBytes), fileBytes));
    line("layers", std::to_string(config.nLayers));
    line("hidden", std::to_string(config.nEmbd));
    line("heads",
         fmt::format("{} query, {} key/value, head dim {}", config.nHeads, config.nHeadsKv, config.headDim));
    if (config.layerFf.empty()) {
        line("feed-forward", std::to_string(config.nFf));
    } else {
        const auto [narrowest, widest] = std::minmax_element(config.layerFf.begin(), config.layerFf.end());
        line("feed-forward",
             fmt::format("{}..{} by layer: {}", *narrowest, *widest, fmt::join(config.layerFf, ", ")));
    }
    if (config.activationQuantization != ActivationQuantization::PerBlock)
        line("activations", std::string(activationQuantizationName(config.activationQuantization)));
    line("vocabulary", std::to_string(config.vocabSize));
    line("context", std::to_string(config.contextLength));
    line("rope",
         fmt::format("base {}, {}{}", config.ropeFreqBase, ropeStyleName(config.ropeStyle),
                     config.ropeLlama3.factor > 0 ? fmt::format(", llama3 x{}", config.ropeLlama3.factor)
                                                  : ""));
    line("rms eps", fmt::format("{}", config.rmsEps));
    line("embeddings", config.tiedEmbeddings ? "tied to the output" : "separate output matrix");
    std::string types;
    for (const auto& [type, count] : tensorTypeCounts)
        types += fmt::format("{}{} x{} ({:.1f} M params)", types.empty() ? "" : ", ", type, count,
                             double(tensorTypeParams.at(type)) / 1e6);
    line("tensor types", types);
    line("tokenizer", fmt::format("{}, {} tokens", tokenizerKind, vocabSize));
    line("chat template", chatTemplateFamily);
    return out;
}

} // namespace lathe
