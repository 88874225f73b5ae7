#include "io/ModelLoader.h"

#include "core/Error.h"
#include "io/GgufReader.h"
#include "io/MappedFile.h"
#include "io/Quants.h"

#include <algorithm>
#include <array>
#include <cstring>
#include <fcntl.h>
#include <unistd.h>

namespace lathe {
namespace {

int positiveInt(const GgufFile& gguf, const std::string& key,
                std::optional<uint32_t> fallback = std::nullopt) {
    std::optional<uint32_t> v = gguf.getU32(key);
    if (!v) v = fallback;
    if (!v) fail(ErrorCategory::InvalidFile, "{}: required key '{}' is missing", gguf.name(), key);
    if (*v == 0 || *v > uint32_t(INT32_MAX))
        fail(ErrorCategory::InvalidFile, "{}: key '{}' is {} (must be a positive int32)", gguf.name(), key,
             *v);
    return int(*v);
}

void readRopeScaling(const GgufFile& gguf, const std::string& arch, ModelConfig& c) {
    const std::string prefix = arch + ".rope.scaling.";
    const std::optional<std::string> type = gguf.getString(prefix + "type");
    const std::optional<float> factor = gguf.getF32(prefix + "factor");
    if (!type || *type == "none") return;
    if (*type != "llama3") {
        if (factor && *factor == 1.0f) return; // a scaling of 1 is no scaling
        fail(ErrorCategory::Unsupported, "{}: {}type '{}' is not supported (Lathe reads llama3 scaling)",
             gguf.name(), prefix, *type);
    }
    if (!factor)
        fail(ErrorCategory::InvalidFile, "{}: {}type is llama3 but {}factor is missing", gguf.name(), prefix,
             prefix);
    c.ropeLlama3.factor = *factor;
    c.ropeLlama3.lowFreqFactor = gguf.getF32(prefix + "low_freq_factor").value_or(c.ropeLlama3.lowFreqFactor);
    c.ropeLlama3.highFreqFactor =
        gguf.getF32(prefix + "high_freq_factor").value_or(c.ropeLlama3.highFreqFactor);
    c.ropeLlama3.originalContext =
        positiveInt(gguf, prefix + "original_context_length", uint32_t(c.ropeLlama3.originalContext));
}

// `{arch}.feed_forward_length`: one width, or (as llama.cpp also accepts) one per layer. Widths that
// are all equal collapse to the single form; nFf is always the widest.
void readFeedForwardWidths(const GgufFile& gguf, const std::string& key, ModelConfig& c) {
    const GgufValue* value = gguf.find(key);
    if (!value || !value->isArray()) {
        c.nFf = positiveInt(gguf, key);
        return;
    }
    const std::optional<std::vector<int32_t>> widths = gguf.getI32Array(key);
    if (int64_t(widths->size()) != c.nLayers)
        fail(ErrorCategory::InvalidFile, "{}: key '{}' holds {} widths but the model has {} layers",
             gguf.name(), key, widths->size(), c.nLayers);
    for (size_t layer = 0; layer < widths->size(); ++layer)
        if ((*widths)[layer] <= 0)
            fail(ErrorCategory::InvalidFile, "{}: key '{}' is {} for layer {} (must be positive)",
                 gguf.name(), key, (*widths)[layer], layer);
    c.nFf = *std::max_element(widths->begin(), widths->end());
    if (std::any_of(widths->begin(), widths->end(), [&](int32_t w) { return w != c.nFf; }))
        c.layerFf.assign(widths->begin(), widths->end());
}

ActivationQuantization readActivationQuantization(const GgufFile& gguf) {
    const std::string key = "lathe.activation_quantization";
    const std::optional<std::string> mode = gguf.getString(key);
    if (!mode || *mode == activationQuantizationName(ActivationQuantization::PerBlock))
        return ActivationQuantization::PerBlock;
    if (*mode == activationQuantizationName(ActivationQuantization::PerTokenInt8))
        return ActivationQuantization::PerTokenInt8;
    fail(ErrorCategory::InvalidFile, "{}: key '{}' is '{}' (Lathe reads per_token_int8 and per_block)",
         gguf.name(), key, *mode);
}

int32_t tokenId(const GgufFile& gguf, const std::string& key, size_t nTokens) {
    const std::optional<uint32_t> id = gguf.getU32(key);
    if (!id) return -1;
    if (*id >= nTokens)
        fail(ErrorCategory::InvalidFile, "{}: {} is {} but the vocabulary has {} tokens", gguf.name(), key,
             *id, nTokens);
    return int32_t(*id);
}

void expectTensor(const ModelFiles& files, const std::string& name, std::array<int64_t, 4> expected) {
    const TensorView* t = files.findTensor(name);
    const std::string source = files.path.string();
    auto shapeText = [](const std::array<int64_t, 4>& s) {
        int n = 4;
        while (n > 1 && s[n - 1] == 1)
            --n;
        std::string out = "[";
        for (int i = 0; i < n; ++i)
            out += (i ? ", " : "") + std::to_string(s[i]);
        return out + "]";
    };
    if (!t) fail(ErrorCategory::InvalidFile, "{}: tensor '{}' is missing", source, name);
    if (t->shape != expected)
        fail(ErrorCategory::InvalidFile, "{}: tensor '{}' has shape {}, expected {}", source, name,
             shapeText(t->shape), shapeText(expected));
    if (!canDequantize(t->dtype))
        fail(ErrorCategory::Unsupported, "{}: tensor '{}' is stored as {}, which Lathe cannot read", source,
             name, dtypeName(t->dtype));
}

} // namespace

const TensorView& ModelFiles::tensor(const std::string& name) const {
    const TensorView* t = findTensor(name);
    if (!t) fail(ErrorCategory::InvalidFile, "{}: tensor '{}' is missing", path.string(), name);
    return *t;
}

const TensorView* ModelFiles::findTensor(const std::string& name) const {
    const auto it = tensors.find(name);
    return it == tensors.end() ? nullptr : &it->second;
}

ModelConfig modelConfigFromGguf(const GgufFile& gguf) {
    ModelConfig c;
    const std::optional<std::string> arch = gguf.getString("general.architecture");
    if (!arch)
        fail(ErrorCategory::InvalidFile, "{}: required key 'general.architecture' is missing", gguf.name());
    c.architecture = *arch;
    if (c.architecture == "llama" || c.architecture == "mistral") {
        c.ropeStyle = RopeStyle::Interleaved;
    } else if (c.architecture == "qwen2") {
        c.ropeStyle = RopeStyle::HalfSplit;
        c.qkvBias = gguf.findTensor("blk.0.attn_q.bias") != nullptr;
    } else {
        fail(ErrorCategory::Unsupported, "{}: architecture '{}' is not supported (llama, mistral, qwen2 are)",
             gguf.name(), c.architecture);
    }
    const std::string& a = c.architecture;
    c.name = gguf.getString("general.name").value_or("");
    c.nLayers = positiveInt(gguf, a + ".block_count");
    c.nEmbd = positiveInt(gguf, a + ".embedding_length");
    readFeedForwardWidths(gguf, a + ".feed_forward_length", c);
    c.nHeads = positiveInt(gguf, a + ".attention.head_count");
    c.nHeadsKv = positiveInt(gguf, a + ".attention.head_count_kv", uint32_t(c.nHeads));
    c.headDim = positiveInt(gguf, a + ".attention.key_length", uint32_t(c.nEmbd / c.nHeads));
    c.ropeDims = positiveInt(gguf, a + ".rope.dimension_count", uint32_t(c.headDim));
    c.contextLength = positiveInt(gguf, a + ".context_length");
    c.rmsEps = gguf.getF32(a + ".attention.layer_norm_rms_epsilon").value_or(c.rmsEps);
    c.ropeFreqBase = gguf.getF32(a + ".rope.freq_base").value_or(c.ropeFreqBase);
    readRopeScaling(gguf, a, c);
    c.activationQuantization = readActivationQuantization(gguf);
    c.tiedEmbeddings = gguf.findTensor("output.weight") == nullptr;

    if (const auto vocab = gguf.getU32(a + ".vocab_size")) {
        c.vocabSize = positiveInt(gguf, a + ".vocab_size");
    } else if (const GgufValue* tokens = gguf.find("tokenizer.ggml.tokens"); tokens && tokens->isArray()) {
        c.vocabSize = int(std::min<uint64_t>(tokens->arraySize(), INT32_MAX));
    } else if (const TensorView* embd = gguf.findTensor("token_embd.weight"); embd && embd->nDims >= 2) {
        c.vocabSize = int(std::min<int64_t>(embd->shape[1], INT32_MAX));
    }
    return c;
}

TokenizerSpec tokenizerSpecFromGguf(const GgufFile& gguf) {
    TokenizerSpec spec;
    const std::optional<std::string> model = gguf.getString("tokenizer.ggml.model");
    if (!model)
        fail(ErrorCategory::InvalidFile, "{}: required key 'tokenizer.ggml.model' is missing", gguf.name());
    if (*model == "gpt2") {
        spec.kind = TokenizerKind::BytePairGpt2;
    } else if (*model == "llama") {
        spec.kind = TokenizerKind::SentencePieceBpe;
        spec.addBos = true; // llama.cpp's defaults for SentencePiece vocabularies
        spec.addSpacePrefix = true;
    } else {
        fail(ErrorCategory::Unsupported, "{}: tokenizer.ggml.model '{}' is not supported (gpt2, llama are)",
             gguf.name(), *model);
    }
    spec.preTokenizer = gguf.getString("tokenizer.ggml.pre").value_or("default");
    auto tokens = gguf.getStringArray("tokenizer.ggml.tokens");
    if (!tokens || tokens->empty())
        fail(ErrorCategory::InvalidFile, "{}: required key 'tokenizer.ggml.tokens' is missing or empty",
             gguf.name());
    spec.tokens = std::move(*tokens);
    const size_t n = spec.tokens.size();
    if (auto scores = gguf.getF32Array("tokenizer.ggml.scores")) {
        if (scores->size() != n)
            fail(ErrorCategory::InvalidFile, "{}: tokenizer.ggml.scores has {} entries for {} tokens",
                 gguf.name(), scores->size(), n);
        spec.scores = std::move(*scores);
    }
    if (auto types = gguf.getI32Array("tokenizer.ggml.token_type")) {
        if (types->size() != n)
            fail(ErrorCategory::InvalidFile, "{}: tokenizer.ggml.token_type has {} entries for {} tokens",
                 gguf.name(), types->size(), n);
        spec.types.reserve(n);
        for (size_t i = 0; i < n; ++i) {
            const int32_t t = (*types)[i];
            if (t < 0 || t > int32_t(TokenType::Byte))
                fail(ErrorCategory::InvalidFile, "{}: tokenizer.ggml.token_type[{}] is {} (must be 0..6)",
                     gguf.name(), i, t);
            spec.types.push_back(TokenType(t));
        }
    } else {
        spec.types.assign(n, TokenType::Normal);
    }
    if (auto merges = gguf.getStringArray("tokenizer.ggml.merges")) spec.merges = std::move(*merges);
    spec.bosId = tokenId(gguf, "tokenizer.ggml.bos_token_id", n);
    spec.eosId = tokenId(gguf, "tokenizer.ggml.eos_token_id", n);
    spec.eotId = tokenId(gguf, "tokenizer.ggml.eot_token_id", n);
    spec.unknownId = tokenId(gguf, "tokenizer.ggml.unknown_token_id", n);
    spec.paddingId = tokenId(gguf, "tokenizer.ggml.padding_token_id", n);
    spec.addBos = gguf.getBool("tokenizer.ggml.add_bos_token").value_or(spec.addBos);
    spec.addEos = gguf.getBool("tokenizer.ggml.add_eos_token").value_or(spec.addEos);
    spec.addSpacePrefix = gguf.getBool("tokenizer.ggml.add_space_prefix").value_or(spec.addSpacePrefix);
    spec.chatTemplate = gguf.getString("tokenizer.chat_template").value_or("");
    return spec;
}

void checkModelTensors(const ModelFiles& files) {
    const ModelConfig& c = files.config;
    const int64_t e = c.nEmbd, v = c.vocabSize;
    const int64_t q = int64_t(c.nHeads) * c.headDim, kv = int64_t(c.nHeadsKv) * c.headDim;
    expectTensor(files, "token_embd.weight", {e, v, 1, 1});
    expectTensor(files, "output_norm.weight", {e, 1, 1, 1});
    if (!c.tiedEmbeddings) expectTensor(files, "output.weight", {e, v, 1, 1});
    for (int layer = 0; layer < c.nLayers; ++layer) {
        const std::string blk = "blk." + std::to_string(layer) + ".";
        const int64_t ff = c.ffOf(layer);
        expectTensor(files, blk + "attn_norm.weight", {e, 1, 1, 1});
        expectTensor(files, blk + "attn_q.weight", {e, q, 1, 1});
        expectTensor(files, blk + "attn_k.weight", {e, kv, 1, 1});
        expectTensor(files, blk + "attn_v.weight", {e, kv, 1, 1});
        expectTensor(files, blk + "attn_output.weight", {q, e, 1, 1});
        expectTensor(files, blk + "ffn_norm.weight", {e, 1, 1, 1});
        expectTensor(files, blk + "ffn_gate.weight", {e, ff, 1, 1});
        expectTensor(files, blk + "ffn_up.weight", {e, ff, 1, 1});
        expectTensor(files, blk + "ffn_down.weight", {ff, e, 1, 1});
        if (c.qkvBias) {
            expectTensor(files, blk + "attn_q.bias", {q, 1, 1, 1});
            expectTensor(files, blk + "attn_k.bias", {kv, 1, 1, 1});
            expectTensor(files, blk + "attn_v.bias", {kv, 1, 1, 1});
        }
    }
}

bool looksLikeGguf(const std::filesystem::path& path) {
    std::error_code ec;
    if (!std::filesystem::is_regular_file(path, ec)) return false;
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return false;
    char magic[4] = {};
    const ssize_t n = ::read(fd, magic, 4);
    ::close(fd);
    return n == 4 && std::memcmp(magic, "GGUF", 4) == 0;
}

namespace {

ModelFiles openGguf(const std::filesystem::path& path) {
    GgufFile gguf = GgufFile::open(path);
    ModelFiles files;
    files.format = ModelFormat::Gguf;
    files.path = path;
    files.totalBytes = gguf.fileSize();
    files.config = modelConfigFromGguf(gguf);
    if (files.config.name.empty()) files.config.name = path.stem().string();
    files.config.validate();
    files.tokenizer = tokenizerSpecFromGguf(gguf);
    for (const TensorView& t : gguf.tensors())
        files.tensors.emplace(t.name, t);
    files.mappings.push_back(gguf.mapping());
    checkModelTensors(files);
    return files;
}

} // namespace

ModelFiles openModelFiles(const std::filesystem::path& path) {
    std::error_code ec;
    if (std::filesystem::is_directory(path, ec) && std::filesystem::exists(path / "config.json", ec))
        return openHuggingFaceFolder(path);
    if (std::filesystem::is_regular_file(path, ec) && (path.extension() == ".gguf" || looksLikeGguf(path)))
        return openGguf(path);
    if (!std::filesystem::exists(path, ec))
        fail(ErrorCategory::InvalidArgument, "{} does not exist", path.string());
    fail(ErrorCategory::InvalidArgument,
         "{} is not a model: expected a .gguf file or a folder with config.json", path.string());
}

} // namespace lathe
