#include "tokenizer/HfTokenizerJson.h"

#include "core/Error.h"

#include <limits>
#include <nlohmann/json.hpp>
#include <unordered_map>

namespace lathe {

namespace {

using nlohmann::json;

json parse(const std::string& text, const char* file) {
    try {
        return json::parse(text);
    } catch (const json::exception& e) {
        fail(ErrorCategory::InvalidFile, "{} is not valid JSON: {}", file, e.what());
    }
}

// tokenizer_config.json writes special tokens either as "text" or as {"content": "text", ...}.
std::string tokenContent(const json& value) {
    if (value.is_string()) return value.get<std::string>();
    if (value.is_object() && value.contains("content") && value["content"].is_string())
        return value["content"].get<std::string>();
    return {};
}

// Every pre-tokenizer step, flattening Sequence.
void collectSteps(const json& node, std::vector<json>& steps) {
    if (!node.is_object()) return;
    if (node.value("type", "") == "Sequence" && node.contains("pretokenizers")) {
        for (const auto& child : node["pretokenizers"])
            collectSteps(child, steps);
    } else {
        steps.push_back(node);
    }
}

// The GGUF pre-tokenizer name whose regex list matches what tokenizer.json describes.
std::string preTokenizerName(const json& preTokenizer) {
    std::vector<json> steps;
    collectSteps(preTokenizer, steps);
    bool individualDigits = false;
    for (const auto& step : steps) {
        const std::string type = step.value("type", "");
        if (type == "Digits" && step.value("individual_digits", false)) individualDigits = true;
        if (type == "Split" && step.contains("pattern")) {
            const std::string regex = step["pattern"].value("Regex", "");
            if (regex.find("\\p{N}{1,3}") != std::string::npos) return "llama-bpe";
            if (regex.find("[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}|") != std::string::npos) return "qwen2";
        }
    }
    return individualDigits ? "smollm" : "gpt2";
}

bool usesMetaspace(const json& root) {
    std::vector<json> steps;
    if (root.contains("pre_tokenizer")) collectSteps(root["pre_tokenizer"], steps);
    for (const auto& step : steps)
        if (step.value("type", "") == "Metaspace") return true;
    const json& normalizer = root.contains("normalizer") ? root["normalizer"] : json();
    return normalizer.dump().find("\xE2\x96\x81") != std::string::npos;
}

bool prependsSpace(const json& root) {
    std::vector<json> steps;
    if (root.contains("pre_tokenizer")) collectSteps(root["pre_tokenizer"], steps);
    for (const auto& step : steps) {
        if (step.value("type", "") == "Metaspace")
            return step.value("add_prefix_space", true) && step.value("prepend_scheme", "always") != "never";
    }
    const json& normalizer = root.contains("normalizer") ? root["normalizer"] : json();
    return normalizer.dump().find("\"Prepend\"") != std::string::npos;
}

std::string chatTemplateOf(const json& config) {
    if (!config.contains("chat_template")) return {};
    const json& t = config["chat_template"];
    if (t.is_string()) return t.get<std::string>();
    if (t.is_array()) { // [{"name": "default", "template": "..."}, ...]
        for (const auto& entry : t)
            if (entry.value("name", "") == "default") return entry.value("template", "");
        if (!t.empty()) return t[0].value("template", "");
    }
    return {};
}

} // namespace

TokenizerSpec tokenizerSpecFromHuggingFace(const std::string& tokenizerJsonText,
                                           const std::string& tokenizerConfigJsonText) {
    const json root = parse(tokenizerJsonText, "tokenizer.json");
    const json config = tokenizerConfigJsonText.empty()
                            ? json::object()
                            : parse(tokenizerConfigJsonText, "tokenizer_config.json");
    if (!root.is_object() || !root.contains("model") || !root["model"].is_object())
        fail(ErrorCategory::InvalidFile, "tokenizer.json has no 'model' object");
    const json& model = root["model"];
    const std::string modelType = model.value("type", "BPE");
    if (modelType != "BPE")
        fail(ErrorCategory::Unsupported, "tokenizer.json model.type '{}' (only BPE)", modelType);
    if (!model.contains("vocab") || !model["vocab"].is_object())
        fail(ErrorCategory::InvalidFile, "tokenizer.json model.vocab is missing or not an object");

    TokenizerSpec spec;
    const bool sentencePiece = model.value("byte_fallback", false) || usesMetaspace(root);
    spec.kind = sentencePiece ? TokenizerKind::SentencePieceBpe : TokenizerKind::BytePairGpt2;

    // id -> text, from the vocabulary and the added tokens (which may lie beyond it).
    std::unordered_map<int64_t, std::pair<std::string, TokenType>> byId;
    int64_t maxId = -1;
    constexpr int64_t kMaxVocab = 1 << 24; // far above any real vocabulary; guards the allocation
    auto put = [&](int64_t id, const std::string& text, TokenType type, const char* where) {
        if (id < 0 || id >= kMaxVocab)
            fail(ErrorCategory::InvalidFile, "tokenizer.json {} id {} for '{}' is out of range", where, id,
                 text);
        byId[id] = {text, type};
        maxId = std::max(maxId, id);
    };
    for (const auto& [text, id] : model["vocab"].items()) {
        if (!id.is_number_integer())
            fail(ErrorCategory::InvalidFile, "tokenizer.json model.vocab['{}'] is not an integer", text);
        TokenType type = TokenType::Normal;
        if (sentencePiece && text.size() == 6 && text.rfind("<0x", 0) == 0 && text.back() == '>')
            type = TokenType::Byte;
        put(id.get<int64_t>(), text, type, "model.vocab");
    }
    if (root.contains("added_tokens") && root["added_tokens"].is_array()) {
        for (const auto& added : root["added_tokens"]) {
            if (!added.contains("id") || !added["id"].is_number_integer() || !added.contains("content") ||
                !added["content"].is_string())
                fail(ErrorCategory::InvalidFile,
                     "tokenizer.json added_tokens entry lacks an integer id or content");
            const TokenType type =
                added.value("special", false) ? TokenType::Control : TokenType::UserDefined;
            put(added["id"].get<int64_t>(), added["content"].get<std::string>(), type, "added_tokens");
        }
    }
    spec.tokens.resize(size_t(maxId + 1));
    spec.types.assign(size_t(maxId + 1), TokenType::Unused);
    for (int64_t id = 0; id <= maxId; ++id) {
        const auto it = byId.find(id);
        if (it == byId.end()) {
            spec.tokens[size_t(id)] = "[PAD" + std::to_string(id) + "]";
        } else {
            spec.tokens[size_t(id)] = it->second.first;
            spec.types[size_t(id)] = it->second.second;
        }
    }

    if (model.contains("merges") && model["merges"].is_array()) {
        for (const auto& merge : model["merges"]) {
            if (merge.is_string()) {
                spec.merges.push_back(merge.get<std::string>());
            } else if (merge.is_array() && merge.size() == 2 && merge[0].is_string() &&
                       merge[1].is_string()) {
                spec.merges.push_back(merge[0].get<std::string>() + " " + merge[1].get<std::string>());
            } else {
                fail(ErrorCategory::InvalidFile,
                     "tokenizer.json model.merges has an entry that is not a pair");
            }
        }
    }

    std::unordered_map<std::string, int32_t> idOf;
    for (size_t i = 0; i < spec.tokens.size(); ++i)
        idOf.emplace(spec.tokens[i], int32_t(i));
    auto idOfToken = [&](const std::string& text) -> int32_t {
        const auto it = idOf.find(text);
        return it == idOf.end() ? -1 : it->second;
    };

    if (sentencePiece) {
        // SentencePiece merges by score: a token made by an earlier merge scores higher.
        spec.scores.assign(spec.tokens.size(), -std::numeric_limits<float>::max() / 2);
        for (size_t rank = 0; rank < spec.merges.size(); ++rank) {
            std::string joined = spec.merges[rank];
            joined.erase(joined.find(' ', 1), 1);
            const int32_t id = idOfToken(joined);
            if (id >= 0 && spec.scores[size_t(id)] < -float(rank)) spec.scores[size_t(id)] = -float(rank);
        }
        spec.addSpacePrefix = prependsSpace(root);
        spec.preTokenizer = "default";
    } else {
        spec.preTokenizer = root.contains("pre_tokenizer") ? preTokenizerName(root["pre_tokenizer"]) : "gpt2";
    }

    if (model.contains("unk_token") && model["unk_token"].is_string()) {
        spec.unknownId = idOfToken(model["unk_token"].get<std::string>());
        if (spec.unknownId >= 0 && spec.types[size_t(spec.unknownId)] != TokenType::Control)
            spec.types[size_t(spec.unknownId)] = TokenType::Unknown;
    }
    if (config.contains("bos_token")) spec.bosId = idOfToken(tokenContent(config["bos_token"]));
    if (config.contains("eos_token")) spec.eosId = idOfToken(tokenContent(config["eos_token"]));
    if (config.contains("pad_token")) spec.paddingId = idOfToken(tokenContent(config["pad_token"]));
    if (config.contains("unk_token") && spec.unknownId < 0)
        spec.unknownId = idOfToken(tokenContent(config["unk_token"]));
    spec.addBos = config.value("add_bos_token", sentencePiece) && spec.bosId >= 0;
    spec.addEos = config.value("add_eos_token", false) && spec.eosId >= 0;
    spec.chatTemplate = chatTemplateOf(config);
    return spec;
}

} // namespace lathe
