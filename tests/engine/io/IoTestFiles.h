#pragma once
// Builders for the io tests: tiny synthetic Llama-family GGUF models (through Lathe's own writer),
// safetensors files (through a minimal independent writer) and raw little-endian byte strings for
// crafting hostile files field by field.

#include "core/Half.h"
#include "io/GgufWriter.h"
#include "io/Quants.h"

#include <cstdint>
#include <cstring>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <vector>

namespace lathe::test {

// Little-endian byte string, written field by field with no validation (to build bad files).
struct Bytes {
    std::vector<uint8_t> data;
    template <typename T> Bytes& put(T v) {
        const auto* p = reinterpret_cast<const uint8_t*>(&v);
        data.insert(data.end(), p, p + sizeof v);
        return *this;
    }
    Bytes& u32(uint32_t v) { return put(v); }
    Bytes& u64(uint64_t v) { return put(v); }
    Bytes& str(const std::string& s) {
        u64(s.size());
        data.insert(data.end(), s.begin(), s.end());
        return *this;
    }
    Bytes& raw(const std::string& s) {
        data.insert(data.end(), s.begin(), s.end());
        return *this;
    }
    Bytes& zeros(size_t n) {
        data.insert(data.end(), n, 0);
        return *this;
    }
    Bytes& padTo(size_t alignment) { return zeros((alignment - data.size() % alignment) % alignment); }
};

inline std::vector<float> randomFloats(size_t n, uint32_t seed, float scale = 1.0f) {
    std::mt19937 rng(seed);
    std::normal_distribution<float> dist(0.0f, scale);
    std::vector<float> out(n);
    for (float& v : out)
        v = dist(rng);
    return out;
}

inline std::vector<uint8_t> quantized(DType type, const std::vector<float>& values) {
    std::vector<uint8_t> out(rowBytes(type, values.size()));
    quantizeRow(type, values.data(), out.data(), int64_t(values.size()));
    return out;
}

struct TinyModelShape {
    std::string arch = "llama";
    int nLayers = 2, nEmbd = 64, nHeads = 4, nHeadsKv = 2, nFf = 96, vocab = 40, context = 256;
    bool tied = true;
    bool qkvBias = false;
    DType matrixType = DType::Q8_0;
};

// A tiny model with random weights and a small gpt2-style vocabulary.
inline GgufWriter tinyModelWriter(const TinyModelShape& s = {}) {
    GgufWriter w;
    const std::string& a = s.arch;
    w.setString("general.architecture", a);
    w.setString("general.name", "tiny-" + a);
    w.setU32(a + ".block_count", uint32_t(s.nLayers));
    w.setU32(a + ".embedding_length", uint32_t(s.nEmbd));
    w.setU32(a + ".feed_forward_length", uint32_t(s.nFf));
    w.setU32(a + ".attention.head_count", uint32_t(s.nHeads));
    w.setU32(a + ".attention.head_count_kv", uint32_t(s.nHeadsKv));
    w.setU32(a + ".context_length", uint32_t(s.context));
    w.setU32(a + ".rope.dimension_count", uint32_t(s.nEmbd / s.nHeads));
    w.setF32(a + ".rope.freq_base", 100000.0f);
    w.setF32(a + ".attention.layer_norm_rms_epsilon", 1e-5f);
    w.setString("tokenizer.ggml.model", "gpt2");
    w.setString("tokenizer.ggml.pre", "smollm");
    std::vector<std::string> tokens;
    std::vector<int32_t> types;
    for (int i = 0; i < s.vocab; ++i) {
        tokens.push_back(i < 2 ? (i == 0 ? "<|im_start|>" : "<|im_end|>")
                               : std::string(1, char('a' + i % 26)) + std::to_string(i));
        types.push_back(i < 2 ? 3 : 1);
    }
    w.setStringArray("tokenizer.ggml.tokens", tokens);
    w.setI32Array("tokenizer.ggml.token_type", types);
    w.setStringArray("tokenizer.ggml.merges", {"a b", "ab c"});
    w.setU32("tokenizer.ggml.bos_token_id", 0);
    w.setU32("tokenizer.ggml.eos_token_id", 1);
    w.setU32("tokenizer.ggml.eot_token_id", 1);
    w.setBool("tokenizer.ggml.add_bos_token", false);
    w.setString("tokenizer.chat_template", "{% for message in messages %}<|im_start|>{% endfor %}");

    uint32_t seed = 1;
    auto add = [&](const std::string& name, DType type, std::vector<int64_t> shape) {
        int64_t n = 1;
        for (int64_t d : shape)
            n *= d;
        w.addTensor(name, type, shape, quantized(type, randomFloats(size_t(n), seed++, 0.1f)));
    };
    const int64_t e = s.nEmbd, hd = s.nEmbd / s.nHeads, q = s.nHeads * hd, kv = s.nHeadsKv * hd;
    add("token_embd.weight", s.matrixType, {e, s.vocab});
    add("output_norm.weight", DType::F32, {e});
    if (!s.tied) add("output.weight", s.matrixType, {e, s.vocab});
    for (int l = 0; l < s.nLayers; ++l) {
        const std::string b = "blk." + std::to_string(l) + ".";
        add(b + "attn_norm.weight", DType::F32, {e});
        add(b + "attn_q.weight", s.matrixType, {e, q});
        add(b + "attn_k.weight", s.matrixType, {e, kv});
        add(b + "attn_v.weight", s.matrixType, {e, kv});
        add(b + "attn_output.weight", s.matrixType, {q, e});
        add(b + "ffn_norm.weight", DType::F32, {e});
        add(b + "ffn_gate.weight", s.matrixType, {e, s.nFf});
        add(b + "ffn_up.weight", s.matrixType, {e, s.nFf});
        add(b + "ffn_down.weight", s.matrixType, {s.nFf, e});
        if (s.qkvBias) {
            add(b + "attn_q.bias", DType::F32, {q});
            add(b + "attn_k.bias", DType::F32, {kv});
            add(b + "attn_v.bias", DType::F32, {kv});
        }
    }
    return w;
}

// A minimal safetensors writer, independent of the reader under test. Shapes in row-major
// (safetensors) order; data concatenated in insertion order.
struct SafetensorsBuilder {
    nlohmann::json header = nlohmann::json::object();
    std::vector<uint8_t> data;

    void add(const std::string& name, const std::string& dtype, std::vector<int64_t> shape,
             const std::vector<uint8_t>& bytes) {
        header[name] = {
            {"dtype", dtype}, {"shape", shape}, {"data_offsets", {data.size(), data.size() + bytes.size()}}};
        data.insert(data.end(), bytes.begin(), bytes.end());
    }
    void addF32(const std::string& name, std::vector<int64_t> shape, const std::vector<float>& values) {
        std::vector<uint8_t> bytes(values.size() * 4);
        std::memcpy(bytes.data(), values.data(), bytes.size());
        add(name, "F32", std::move(shape), bytes);
    }
    std::vector<uint8_t> build(const std::string& headerText) const {
        Bytes out;
        out.u64(headerText.size()).raw(headerText);
        out.data.insert(out.data.end(), data.begin(), data.end());
        return out.data;
    }
    std::vector<uint8_t> build() const { return build(header.dump()); }
};

} // namespace lathe::test
