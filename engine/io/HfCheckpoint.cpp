// Hugging Face folders: config.json, model.safetensors (or shards listed in
// model.safetensors.index.json), tokenizer.json and tokenizer_config.json.

#include "core/Error.h"
#include "core/TextFile.h"
#include "io/MappedFile.h"
#include "io/ModelLoader.h"
#include "io/SafetensorsFile.h"

#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>
#include <regex>
#include <set>
#include <sstream>

#if __has_include("tokenizer/HfTokenizerJson.h")
#include "tokenizer/HfTokenizerJson.h"
#define LATHE_HAVE_HF_TOKENIZER 1
#endif

namespace lathe {
namespace {

int intField(const nlohmann::json& config, const std::string& name, const char* key,
             std::optional<int> fallback) {
    const auto it = config.find(key);
    if (it == config.end() || it->is_null()) {
        if (fallback) return *fallback;
        fail(ErrorCategory::InvalidFile, "{}: required field '{}' is missing", name, key);
    }
    if (!it->is_number_integer() || it->get<int64_t>() < 1 || it->get<int64_t>() > INT32_MAX)
        fail(ErrorCategory::InvalidFile, "{}: field '{}' is {} (must be a positive integer)", name, key,
             it->dump());
    return int(it->get<int64_t>());
}

float floatField(const nlohmann::json& object, const std::string& name, const char* key, float fallback) {
    const auto it = object.find(key);
    if (it == object.end() || it->is_null()) return fallback;
    if (!it->is_number())
        fail(ErrorCategory::InvalidFile, "{}: field '{}' is {} (must be a number)", name, key, it->dump());
    return it->get<float>();
}

std::string architectureOf(const nlohmann::json& config, const std::string& name) {
    if (const auto it = config.find("model_type"); it != config.end() && it->is_string()) {
        const std::string type = it->get<std::string>();
        if (type == "llama" || type == "mistral" || type == "qwen2") return type;
        fail(ErrorCategory::Unsupported, "{}: model_type '{}' is not supported (llama, mistral, qwen2 are)",
             name, type);
    }
    if (const auto it = config.find("architectures");
        it != config.end() && it->is_array() && !it->empty() && (*it)[0].is_string()) {
        const std::string cls = (*it)[0].get<std::string>();
        if (cls == "LlamaForCausalLM") return "llama";
        if (cls == "MistralForCausalLM") return "mistral";
        if (cls == "Qwen2ForCausalLM") return "qwen2";
        fail(ErrorCategory::Unsupported, "{}: architecture '{}' is not supported", name, cls);
    }
    fail(ErrorCategory::InvalidFile, "{}: neither 'model_type' nor 'architectures' says what the model is",
         name);
}

void readRopeScaling(const nlohmann::json& config, const std::string& name, ModelConfig& c) {
    const auto it = config.find("rope_scaling");
    if (it == config.end() || it->is_null()) return;
    if (!it->is_object()) fail(ErrorCategory::InvalidFile, "{}: rope_scaling is not an object", name);
    std::string type;
    for (const char* key : {"rope_type", "type"})
        if (const auto t = it->find(key); t != it->end() && t->is_string()) type = t->get<std::string>();
    if (type == "default") return;
    if (type != "llama3")
        fail(ErrorCategory::Unsupported, "{}: rope_scaling type '{}' is not supported (Lathe reads llama3)",
             name, type);
    c.ropeLlama3.factor = floatField(*it, name, "factor", 0.0f);
    c.ropeLlama3.lowFreqFactor = floatField(*it, name, "low_freq_factor", c.ropeLlama3.lowFreqFactor);
    c.ropeLlama3.highFreqFactor = floatField(*it, name, "high_freq_factor", c.ropeLlama3.highFreqFactor);
    c.ropeLlama3.originalContext =
        intField(*it, name, "original_max_position_embeddings", c.ropeLlama3.originalContext);
    if (c.ropeLlama3.factor == 0.0f)
        fail(ErrorCategory::InvalidFile, "{}: llama3 rope_scaling has no factor", name);
}

// Loads every shard the folder holds and adds the tensors Lathe uses, under their GGUF names.
void loadWeights(const std::filesystem::path& folder, ModelFiles& files) {
    std::vector<std::filesystem::path> shards;
    const auto indexPath = folder / "model.safetensors.index.json";
    if (std::filesystem::exists(indexPath)) {
        std::set<std::string> names;
        for (const auto& [tensor, shard] : readSafetensorsIndex(indexPath))
            names.insert(shard);
        for (const std::string& shard : names)
            shards.push_back(folder / shard);
    } else if (std::filesystem::exists(folder / "model.safetensors")) {
        shards.push_back(folder / "model.safetensors");
    } else {
        fail(ErrorCategory::InvalidFile, "{}: no model.safetensors or model.safetensors.index.json",
             folder.string());
    }
    for (const auto& shardPath : shards) {
        SafetensorsFile shard = SafetensorsFile::open(shardPath);
        files.totalBytes += shard.mapping()->size();
        for (const TensorView& t : shard.tensors()) {
            const std::string gguf = ggufNameForHfTensor(t.name);
            if (gguf.empty()) continue;
            TensorView renamed = t;
            renamed.name = gguf;
            // Safetensors data is only as aligned as its header length makes it; backends read
            // floats and halves in place, so misaligned tensors get an aligned copy.
            if (reinterpret_cast<uintptr_t>(t.data) % alignof(float) != 0) {
                auto copy = std::make_unique<uint8_t[]>(t.nbytes);
                std::memcpy(copy.get(), t.data, t.nbytes);
                renamed.data = copy.get();
                files.ownedBuffers.push_back(std::move(copy));
            }
            if (!files.tensors.emplace(gguf, renamed).second)
                fail(ErrorCategory::InvalidFile, "{}: tensor '{}' appears in more than one shard",
                     shardPath.string(), t.name);
        }
        files.mappings.push_back(shard.mapping());
    }
}

void loadTokenizer(const std::filesystem::path& folder, ModelFiles& files) {
    const auto tokenizerPath = folder / "tokenizer.json";
    if (!std::filesystem::exists(tokenizerPath))
        fail(ErrorCategory::InvalidFile, "{}: no tokenizer.json", folder.string());
#ifdef LATHE_HAVE_HF_TOKENIZER
    const auto configPath = folder / "tokenizer_config.json";
    const std::string configText =
        std::filesystem::exists(configPath) ? readTextFile(configPath, "model config") : std::string("{}");
    files.tokenizer = tokenizerSpecFromHuggingFace(readTextFile(tokenizerPath, "tokenizer"), configText);
#else
        // The tokenizer.json reader is not in this build yet: the weights and config still load, and the
        // empty TokenizerSpec makes any attempt to tokenize fail visibly.
#endif
}

} // namespace

ModelConfig modelConfigFromHfConfig(const std::string& configJsonText, const std::string& name) {
    nlohmann::json config;
    try {
        config = nlohmann::json::parse(configJsonText);
    } catch (const nlohmann::json::exception& e) {
        fail(ErrorCategory::InvalidFile, "{}: malformed JSON: {}", name, e.what());
    }
    if (!config.is_object()) fail(ErrorCategory::InvalidFile, "{}: not a JSON object", name);
    ModelConfig c;
    c.architecture = architectureOf(config, name);
    c.ropeStyle = RopeStyle::HalfSplit; // Hugging Face q/k weights are not permuted
    c.qkvBias = c.architecture == "qwen2";
    if (const auto it = config.find("_name_or_path"); it != config.end() && it->is_string())
        c.name = it->get<std::string>();
    c.nEmbd = intField(config, name, "hidden_size", std::nullopt);
    c.nFf = intField(config, name, "intermediate_size", std::nullopt);
    c.nLayers = intField(config, name, "num_hidden_layers", std::nullopt);
    c.nHeads = intField(config, name, "num_attention_heads", std::nullopt);
    c.nHeadsKv = intField(config, name, "num_key_value_heads", c.nHeads);
    c.headDim = intField(config, name, "head_dim", std::max(1, c.nEmbd / c.nHeads));
    c.ropeDims = c.headDim;
    c.vocabSize = intField(config, name, "vocab_size", std::nullopt);
    c.contextLength = intField(config, name, "max_position_embeddings", std::nullopt);
    c.rmsEps = floatField(config, name, "rms_norm_eps", 1e-6f);
    c.ropeFreqBase = floatField(config, name, "rope_theta", 10000.0f);
    if (const auto it = config.find("tie_word_embeddings"); it != config.end() && !it->is_null()) {
        if (!it->is_boolean())
            fail(ErrorCategory::InvalidFile, "{}: tie_word_embeddings is not a bool", name);
        c.tiedEmbeddings = it->get<bool>();
    }
    readRopeScaling(config, name, c);
    return c;
}

std::string ggufNameForHfTensor(const std::string& hfName) {
    if (hfName == "model.embed_tokens.weight") return "token_embd.weight";
    if (hfName == "model.norm.weight") return "output_norm.weight";
    if (hfName == "lm_head.weight") return "output.weight";
    static const std::regex layer(R"(model\.layers\.(\d+)\.(.+)\.(weight|bias))");
    std::smatch m;
    if (!std::regex_match(hfName, m, layer)) return "";
    static const std::pair<const char*, const char*> kParts[] = {
        {"input_layernorm", "attn_norm"},    {"self_attn.q_proj", "attn_q"},
        {"self_attn.k_proj", "attn_k"},      {"self_attn.v_proj", "attn_v"},
        {"self_attn.o_proj", "attn_output"}, {"post_attention_layernorm", "ffn_norm"},
        {"mlp.gate_proj", "ffn_gate"},       {"mlp.up_proj", "ffn_up"},
        {"mlp.down_proj", "ffn_down"},
    };
    for (const auto& [hf, gguf] : kParts)
        if (m[2] == hf) return "blk." + m[1].str() + "." + gguf + "." + m[3].str();
    return "";
}

ModelFiles openHuggingFaceFolder(const std::filesystem::path& folder) {
    ModelFiles files;
    files.format = ModelFormat::HuggingFaceFolder;
    files.path = folder;
    const auto configPath = folder / "config.json";
    files.config = modelConfigFromHfConfig(readTextFile(configPath, "model config"), configPath.string());
    if (files.config.name.empty()) files.config.name = folder.filename().string();
    files.config.validate();
    loadWeights(folder, files);
    loadTokenizer(folder, files);
    checkModelTensors(files);
    return files;
}

} // namespace lathe
