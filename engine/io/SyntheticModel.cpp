#include "io/SyntheticModel.h"

#include "core/Error.h"
#include "io/GgufEncoder.h"
#include "io/GgufValue.h"
#include "io/Quants.h"
#include "model/RopeFreqFactors.h"
#include "tokenizer/ByteLevel.h"

#include <cmath>
#include <cstdio>
#include <fstream>

namespace lathe {
namespace {

constexpr uint32_t kAlignment = 32; // GGUF's default general.alignment
constexpr float kWeightScale = 0.02f;

uint64_t padTo(uint64_t n) {
    return (n + kAlignment - 1) / kAlignment * kAlignment;
}

struct PlannedTensor {
    std::string name;
    DType dtype;
    int64_t cols, rows; // ggml order {cols, rows}; rows = 1 for vectors
    bool isNorm;
    std::vector<float> values = {}; // fixed contents (rope_freqs); empty: random weights
    uint64_t bytes() const { return rowBytes(dtype, uint64_t(cols)) * uint64_t(rows); }
};

std::vector<PlannedTensor> planTensors(const ModelConfig& c, DType dtype) {
    const int64_t e = c.nEmbd, q = int64_t(c.nHeads) * c.headDim, kv = int64_t(c.nHeadsKv) * c.headDim;
    std::vector<PlannedTensor> t;
    t.push_back({"token_embd.weight", dtype, e, c.vocabSize, false});
    t.push_back({"output_norm.weight", DType::F32, e, 1, true});
    // Llama-3 rope scaling as llama.cpp's converter stores it: the frequency divisors as a tensor
    // (llama.cpp has no "llama3" scaling type, and a scaling factor key would mean linear scaling).
    if (c.ropeLlama3.factor > 0.0f) {
        const int dims = c.ropeDims > 0 ? c.ropeDims : c.headDim;
        t.push_back({"rope_freqs.weight", DType::F32, dims / 2, 1, false,
                     ropeLlama3FreqFactors(c.ropeLlama3, dims, c.ropeFreqBase)});
    }
    if (!c.tiedEmbeddings) t.push_back({"output.weight", dtype, e, c.vocabSize, false});
    for (int layer = 0; layer < c.nLayers; ++layer) {
        const std::string blk = "blk." + std::to_string(layer) + ".";
        t.push_back({blk + "attn_norm.weight", DType::F32, e, 1, true});
        t.push_back({blk + "attn_q.weight", dtype, e, q, false});
        t.push_back({blk + "attn_k.weight", dtype, e, kv, false});
        t.push_back({blk + "attn_v.weight", dtype, e, kv, false});
        t.push_back({blk + "attn_output.weight", dtype, q, e, false});
        t.push_back({blk + "ffn_norm.weight", DType::F32, e, 1, true});
        t.push_back({blk + "ffn_gate.weight", dtype, e, c.nFf, false});
        t.push_back({blk + "ffn_up.weight", dtype, e, c.nFf, false});
        t.push_back({blk + "ffn_down.weight", dtype, c.nFf, e, false});
    }
    return t;
}

// 256 byte tokens, then two-byte and three-byte merges in a fixed order, then the specials.
void vocabulary(const SyntheticModelShape& shape, std::vector<std::string>& tokens,
                std::vector<int32_t>& types, std::vector<std::string>& merges) {
    const int64_t normal = int64_t(shape.config.vocabSize) - int64_t(shape.specialTokens.size());
    if (normal < 256)
        fail(ErrorCategory::InvalidArgument,
             "synthetic model: vocabulary of {} leaves no room for 256 byte tokens", shape.config.vocabSize);
    for (int b = 0; b < 256; ++b)
        tokens.push_back(byte_level::byteToText(uint8_t(b)));
    for (int a = 0; a < 256 && int64_t(tokens.size()) < normal; ++a)
        for (int b = 0; b < 256 && int64_t(tokens.size()) < normal; ++b) {
            merges.push_back(tokens[size_t(a)] + " " + tokens[size_t(b)]);
            tokens.push_back(tokens[size_t(a)] + tokens[size_t(b)]);
        }
    for (size_t pair = 256; pair < 256 + 65536 && int64_t(tokens.size()) < normal; ++pair)
        for (int b = 0; b < 256 && int64_t(tokens.size()) < normal; ++b) {
            merges.push_back(tokens[pair] + " " + tokens[size_t(b)]);
            tokens.push_back(tokens[pair] + tokens[size_t(b)]);
        }
    types.assign(tokens.size(), 1); // Normal
    for (const std::string& special : shape.specialTokens) {
        tokens.push_back(special);
        types.push_back(3); // Control
    }
}

std::vector<uint8_t> buildHeader(const SyntheticModelShape& shape, const std::vector<PlannedTensor>& tensors,
                                 DType dtype) {
    const ModelConfig& c = shape.config;
    std::vector<std::pair<std::string, GgufValue>> kv;
    auto u32 = [&](const std::string& k, uint32_t v) { kv.emplace_back(k, GgufValue{v}); };
    auto f32 = [&](const std::string& k, float v) { kv.emplace_back(k, GgufValue{v}); };
    auto str = [&](const std::string& k, std::string v) { kv.emplace_back(k, GgufValue{std::move(v)}); };
    str("general.architecture", "llama");
    str("general.name", c.name + " (synthetic " + std::string(dtypeName(dtype)) + ")");
    u32("general.alignment", kAlignment);
    u32("llama.block_count", uint32_t(c.nLayers));
    u32("llama.context_length", uint32_t(c.contextLength));
    u32("llama.embedding_length", uint32_t(c.nEmbd));
    u32("llama.feed_forward_length", uint32_t(c.nFf));
    u32("llama.attention.head_count", uint32_t(c.nHeads));
    u32("llama.attention.head_count_kv", uint32_t(c.nHeadsKv));
    u32("llama.attention.key_length", uint32_t(c.headDim));
    u32("llama.attention.value_length", uint32_t(c.headDim));
    u32("llama.rope.dimension_count", uint32_t(c.ropeDims));
    u32("llama.vocab_size", uint32_t(c.vocabSize));
    f32("llama.attention.layer_norm_rms_epsilon", c.rmsEps);
    f32("llama.rope.freq_base", c.ropeFreqBase);
    std::vector<std::string> tokens, merges;
    std::vector<int32_t> types;
    vocabulary(shape, tokens, types, merges);
    const uint32_t firstSpecial = uint32_t(tokens.size() - shape.specialTokens.size());
    str("tokenizer.ggml.model", "gpt2");
    str("tokenizer.ggml.pre", shape.preTokenizer);
    kv.emplace_back("tokenizer.ggml.tokens", GgufValue{GgufArray(std::move(tokens))});
    kv.emplace_back("tokenizer.ggml.token_type", GgufValue{GgufArray(std::move(types))});
    kv.emplace_back("tokenizer.ggml.merges", GgufValue{GgufArray(std::move(merges))});
    u32("tokenizer.ggml.bos_token_id", firstSpecial + uint32_t(shape.bosIndex));
    u32("tokenizer.ggml.eos_token_id", firstSpecial + uint32_t(shape.eosIndex));
    u32("tokenizer.ggml.eot_token_id", firstSpecial + uint32_t(shape.eotIndex));

    std::vector<uint8_t> header;
    GgufEncoder enc(header);
    enc.scalar<uint32_t>(0x46554747u); // "GGUF"
    enc.scalar<uint32_t>(3);
    enc.scalar<uint64_t>(tensors.size());
    enc.scalar<uint64_t>(kv.size());
    for (const auto& [key, value] : kv)
        enc.keyValue(key, value);
    uint64_t offset = 0;
    for (const PlannedTensor& t : tensors) {
        enc.string(t.name);
        enc.scalar<uint32_t>(t.rows == 1 ? 1 : 2);
        enc.scalar<uint64_t>(uint64_t(t.cols));
        if (t.rows != 1) enc.scalar<uint64_t>(uint64_t(t.rows));
        enc.scalar<uint32_t>(uint32_t(t.dtype));
        enc.scalar<uint64_t>(offset);
        offset = padTo(offset + t.bytes());
    }
    header.resize(padTo(header.size()), 0);
    return header;
}

// xorshift64*: fast enough to fill 8 billion weights, reproducible from the seed.
class Random {
public:
    explicit Random(uint64_t seed) : state_(seed * 0x9e3779b97f4a7c15ull + 1) {}
    float symmetric() { // uniform in [-1, 1)
        state_ ^= state_ >> 12;
        state_ ^= state_ << 25;
        state_ ^= state_ >> 27;
        return float((state_ * 0x2545f4914f6cdd1dull) >> 40) * 0x1.0p-23f - 1.0f;
    }

private:
    uint64_t state_;
};

} // namespace

std::optional<SyntheticModelShape> syntheticModelShape(std::string_view preset) {
    SyntheticModelShape s;
    ModelConfig& c = s.config;
    c.architecture = "llama";
    c.ropeStyle = RopeStyle::Interleaved;
    if (preset == "llama3-8b" || preset == "llama3.2-1b") {
        const bool big = preset == "llama3-8b";
        c.name = big ? "Llama-3-8B" : "Llama-3.2-1B";
        c.nLayers = big ? 32 : 16;
        c.nEmbd = big ? 4096 : 2048;
        c.nHeads = 32;
        c.nHeadsKv = 8;
        c.headDim = c.nEmbd / c.nHeads;
        c.nFf = big ? 14336 : 8192;
        c.vocabSize = 128256;
        c.contextLength = big ? 8192 : 131072;
        c.ropeFreqBase = 500000.0f;
        c.tiedEmbeddings = !big;
        if (!big) c.ropeLlama3 = RopeLlama3Scaling{32.0f, 1.0f, 4.0f, 8192};
        s.preTokenizer = "llama-bpe";
        s.specialTokens = {"<|begin_of_text|>", "<|end_of_text|>", "<|eot_id|>", "<|start_header_id|>",
                           "<|end_header_id|>"};
        for (int i = int(s.specialTokens.size()); i < 256; ++i)
            s.specialTokens.push_back("<|reserved_special_token_" + std::to_string(i) + "|>");
    } else if (preset == "smollm2-135m") {
        c.name = "SmolLM2-135M";
        c.nLayers = 30;
        c.nEmbd = 576;
        c.nHeads = 9;
        c.nHeadsKv = 3;
        c.headDim = 64;
        c.nFf = 1536;
        c.vocabSize = 49152;
        c.contextLength = 8192;
        c.ropeFreqBase = 100000.0f;
        c.tiedEmbeddings = true;
        s.preTokenizer = "smollm";
        s.specialTokens = {"<|im_start|>", "<|endoftext|>", "<|im_end|>"};
        s.bosIndex = 0;
        s.eosIndex = 2;
        s.eotIndex = 2;
    } else {
        return std::nullopt;
    }
    c.ropeDims = c.headDim;
    c.rmsEps = 1e-5f;
    return s;
}

std::vector<std::string> syntheticModelPresets() {
    return {"llama3-8b", "llama3.2-1b", "smollm2-135m"};
}

uint64_t writeSyntheticModel(const std::filesystem::path& path, const SyntheticModelShape& shape, DType dtype,
                             uint64_t seed) {
    if (dtype != DType::F16 && dtype != DType::Q8_0 && dtype != DType::Q4_0)
        fail(ErrorCategory::InvalidArgument, "synthetic model: dtype {} is not one of f16, q8_0, q4_0",
             dtypeName(dtype));
    shape.config.validate();
    if (shape.config.nEmbd % 32 != 0 || shape.config.nFf % 32 != 0 ||
        (shape.config.nHeads * shape.config.headDim) % 32 != 0)
        fail(ErrorCategory::InvalidArgument, "synthetic model: widths must be multiples of 32 for {}",
             dtypeName(dtype));
    const std::vector<PlannedTensor> tensors = planTensors(shape.config, dtype);
    const std::vector<uint8_t> header = buildHeader(shape, tensors, dtype);

    const std::filesystem::path temp = path.string() + ".partial";
    std::ofstream out(temp, std::ios::binary | std::ios::trunc);
    if (!out) fail(ErrorCategory::Io, "cannot create {}", temp.string());
    auto write = [&](const void* data, size_t n) {
        out.write(static_cast<const char*>(data), std::streamsize(n));
        if (!out) fail(ErrorCategory::Io, "cannot write {} (disk full?)", temp.string());
    };
    write(header.data(), header.size());
    uint64_t total = header.size();
    Random random(seed);
    static const uint8_t zeros[kAlignment] = {};
    std::vector<float> row;
    std::vector<uint8_t> encoded;
    for (const PlannedTensor& t : tensors) {
        row.resize(size_t(t.cols));
        encoded.resize(rowBytes(t.dtype, uint64_t(t.cols)));
        for (int64_t r = 0; r < t.rows; ++r) {
            if (!t.values.empty())
                row = t.values;
            else
                for (float& v : row)
                    v = t.isNorm ? 1.0f + 0.1f * random.symmetric() : kWeightScale * random.symmetric();
            quantizeRow(t.dtype, row.data(), encoded.data(), t.cols);
            write(encoded.data(), encoded.size());
        }
        const uint64_t padding = padTo(t.bytes()) - t.bytes();
        write(zeros, padding);
        total += t.bytes() + padding;
    }
    out.close();
    if (!out) fail(ErrorCategory::Io, "cannot finish {}", temp.string());
    std::error_code ec;
    std::filesystem::rename(temp, path, ec);
    if (ec) fail(ErrorCategory::Io, "cannot rename {} to {}: {}", temp.string(), path.string(), ec.message());
    return total;
}

} // namespace lathe
