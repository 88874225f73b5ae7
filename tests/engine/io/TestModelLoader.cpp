// openModelFiles: synthetic tiny GGUF models (config, tokenizer, tensor checks), Hugging Face
// folders (config.json + safetensors, single and sharded), and the real default model.

#include "IoTestFiles.h"
#include "TestSupport.h"
#include "core/Error.h"
#include "io/GgufReader.h"
#include "io/ModelFiles.h"
#include "io/ModelLoader.h"

#include <QtTest>
#include <fstream>

using namespace lathe;

namespace {

std::string errorOf(const std::filesystem::path& path) {
    try {
        (void)openModelFiles(path);
    } catch (const Error& e) {
        return e.what();
    }
    return "NO ERROR";
}

void writeText(const std::filesystem::path& path, const std::string& text) {
    std::ofstream(path, std::ios::binary) << text;
}

std::vector<uint8_t> bytesOf(const std::vector<float>& v) {
    std::vector<uint8_t> out(v.size() * 4);
    std::memcpy(out.data(), v.data(), out.size());
    return out;
}

// A tiny Qwen2-like HF folder: hidden 32, 2 layers, 4 heads / 2 kv heads, ffn 48, vocab 16.
nlohmann::json hfConfig() {
    return {{"architectures", {"Qwen2ForCausalLM"}},
            {"model_type", "qwen2"},
            {"hidden_size", 32},
            {"intermediate_size", 48},
            {"num_hidden_layers", 2},
            {"num_attention_heads", 4},
            {"num_key_value_heads", 2},
            {"rms_norm_eps", 1e-6},
            {"rope_theta", 1000000.0},
            {"max_position_embeddings", 512},
            {"vocab_size", 16},
            {"tie_word_embeddings", false},
            {"rope_scaling",
             {{"rope_type", "llama3"},
              {"factor", 8.0},
              {"low_freq_factor", 1.0},
              {"high_freq_factor", 4.0},
              {"original_max_position_embeddings", 8192}}}};
}

// Adds every HF tensor of hfConfig() to one or two builders (by layer) in row-major shapes.
void addHfTensors(test::SafetensorsBuilder& first, test::SafetensorsBuilder& second, bool withHead) {
    uint32_t seed = 10;
    auto add = [&](test::SafetensorsBuilder& st, const std::string& name, std::vector<int64_t> shape) {
        int64_t n = 1;
        for (int64_t d : shape)
            n *= d;
        st.addF32(name, shape, test::randomFloats(size_t(n), seed++));
    };
    add(first, "model.embed_tokens.weight", {16, 32});
    for (int l = 0; l < 2; ++l) {
        auto& st = l == 0 ? first : second;
        const std::string p = "model.layers." + std::to_string(l) + ".";
        add(st, p + "input_layernorm.weight", {32});
        add(st, p + "self_attn.q_proj.weight", {32, 32});
        add(st, p + "self_attn.q_proj.bias", {32});
        add(st, p + "self_attn.k_proj.weight", {16, 32});
        add(st, p + "self_attn.k_proj.bias", {16});
        add(st, p + "self_attn.v_proj.weight", {16, 32});
        add(st, p + "self_attn.v_proj.bias", {16});
        add(st, p + "self_attn.o_proj.weight", {32, 32});
        add(st, p + "post_attention_layernorm.weight", {32});
        add(st, p + "mlp.gate_proj.weight", {48, 32});
        add(st, p + "mlp.up_proj.weight", {48, 32});
        add(st, p + "mlp.down_proj.weight", {32, 48});
        add(st, p + "self_attn.rotary_emb.inv_freq", {4}); // ignored
    }
    add(second, "model.norm.weight", {32});
    if (withHead) add(second, "lm_head.weight", {16, 32});
}

void writeBytes(const std::filesystem::path& path, const std::vector<uint8_t>& bytes) {
    test::writeFileBytes(path, std::string(bytes.begin(), bytes.end()));
}

void writeTokenizerFiles(const std::filesystem::path& dir) {
    writeText(dir / "tokenizer.json", R"({"model": {"type": "BPE", "vocab": {"a": 0, "b": 1}, "merges": []},
        "added_tokens": [], "pre_tokenizer": null, "decoder": null, "normalizer": null})");
    writeText(dir / "tokenizer_config.json", R"({"add_bos_token": false})");
}

} // namespace

class TestModelLoader : public QObject {
    Q_OBJECT
private slots:
    void tinyLlamaGguf() {
        test::TempDir dir;
        const auto path = dir.file("tiny.gguf");
        test::tinyModelWriter().writeFile(path);
        QVERIFY(looksLikeGguf(path));
        const ModelFiles m = openModelFiles(path);
        QCOMPARE(m.format, ModelFormat::Gguf);
        const ModelConfig& c = m.config;
        QCOMPARE(c.architecture, std::string("llama"));
        QCOMPARE(c.name, std::string("tiny-llama"));
        QCOMPARE(c.nLayers, 2);
        QCOMPARE(c.nEmbd, 64);
        QCOMPARE(c.nHeads, 4);
        QCOMPARE(c.nHeadsKv, 2);
        QCOMPARE(c.headDim, 16);
        QCOMPARE(c.ropeDims, 16);
        QCOMPARE(c.nFf, 96);
        QCOMPARE(c.vocabSize, 40);
        QCOMPARE(c.contextLength, 256);
        QCOMPARE(c.ropeFreqBase, 100000.0f);
        QCOMPARE(c.rmsEps, 1e-5f);
        QCOMPARE(c.ropeStyle, RopeStyle::Interleaved);
        QVERIFY(c.tiedEmbeddings);
        QVERIFY(!c.qkvBias);
        QCOMPARE(c.ropeLlama3.factor, 0.0f);

        const TokenizerSpec& t = m.tokenizer;
        QCOMPARE(t.kind, TokenizerKind::BytePairGpt2);
        QCOMPARE(t.preTokenizer, std::string("smollm"));
        QCOMPARE(t.tokens.size(), size_t(40));
        QCOMPARE(t.tokens[1], std::string("<|im_end|>"));
        QCOMPARE(t.types[0], TokenType::Control);
        QCOMPARE(t.types[5], TokenType::Normal);
        QCOMPARE(t.merges, (std::vector<std::string>{"a b", "ab c"}));
        QCOMPARE(t.bosId, 0);
        QCOMPARE(t.eosId, 1);
        QCOMPARE(t.eotId, 1);
        QCOMPARE(t.unknownId, -1);
        QVERIFY(!t.addBos && !t.addEos && !t.addSpacePrefix);
        QVERIFY(t.chatTemplate.find("<|im_start|>") != std::string::npos);

        QCOMPARE(m.tensors.size(), size_t(2 + 2 * 9));
        QCOMPARE(m.tensor("blk.1.attn_k.weight").shape, (std::array<int64_t, 4>{64, 32, 1, 1}));
        QCOMPARE(m.tensor("blk.1.attn_k.weight").dtype, DType::Q8_0);
        QVERIFY(m.findTensor("output.weight") == nullptr);
        QVERIFY_THROWS_EXCEPTION(Error, m.tensor("output.weight"));
        QCOMPARE(m.totalBytes, uint64_t(std::filesystem::file_size(path)));
        QCOMPARE(m.mappings.size(), size_t(1));
    }

    void qwen2GgufWithBiasAndUntiedOutput() {
        test::TempDir dir;
        test::TinyModelShape s;
        s.arch = "qwen2";
        s.qkvBias = true;
        s.tied = false;
        s.matrixType = DType::Q4_0;
        test::tinyModelWriter(s).writeFile(dir.file("q.gguf"));
        const ModelFiles m = openModelFiles(dir.file("q.gguf"));
        QCOMPARE(m.config.ropeStyle, RopeStyle::HalfSplit);
        QVERIFY(m.config.qkvBias);
        QVERIFY(!m.config.tiedEmbeddings);
        QCOMPARE(m.tensor("blk.0.attn_v.bias").shape[0], int64_t(32));
    }

    void llama3RopeScalingAndSentencePiece() {
        test::TempDir dir;
        GgufWriter w = test::tinyModelWriter();
        w.setString("llama.rope.scaling.type", "llama3");
        w.setF32("llama.rope.scaling.factor", 8.0f);
        w.setF32("llama.rope.scaling.low_freq_factor", 1.0f);
        w.setF32("llama.rope.scaling.high_freq_factor", 4.0f);
        w.setU32("llama.rope.scaling.original_context_length", 8192);
        w.setString("tokenizer.ggml.model", "llama");
        w.setF32Array("tokenizer.ggml.scores", std::vector<float>(40, -1.0f));
        w.set("tokenizer.ggml.add_bos_token", {true});
        w.writeFile(dir.file("l3.gguf"));
        const ModelFiles m = openModelFiles(dir.file("l3.gguf"));
        QCOMPARE(m.config.ropeLlama3.factor, 8.0f);
        QCOMPARE(m.config.ropeLlama3.highFreqFactor, 4.0f);
        QCOMPARE(m.config.ropeLlama3.originalContext, 8192);
        QCOMPARE(m.tokenizer.kind, TokenizerKind::SentencePieceBpe);
        QVERIFY(m.tokenizer.addBos);
        QVERIFY(m.tokenizer.addSpacePrefix); // SentencePiece default
        QCOMPARE(m.tokenizer.scores.size(), size_t(40));
    }

    void missingOrMisshapenTensorsAreNamed() {
        test::TempDir dir;
        // Drop blk.1.ffn_up.weight by building a model with one fewer tensor.
        GgufWriter full = test::tinyModelWriter();
        const auto bytes = full.writeToBytes();
        const GgufFile source = GgufFile::fromBytes(bytes);
        GgufWriter missing;
        for (const auto& [k, v] : source.metadata())
            missing.set(k, v);
        for (const TensorView& t : source.tensors()) {
            if (t.name == "blk.1.ffn_up.weight") continue;
            std::vector<int64_t> shape(t.shape.begin(), t.shape.begin() + t.nDims);
            if (t.name == "blk.0.attn_q.weight") shape = {64, 32}; // wrong: expected {64, 64}
            missing.addTensor(t.name, t.dtype, shape,
                              {t.data, t.name == "blk.0.attn_q.weight" ? t.nbytes / 2 : t.nbytes});
        }
        missing.writeFile(dir.file("bad.gguf"));
        const std::string message = errorOf(dir.file("bad.gguf"));
        QVERIFY2(message.find("tensor 'blk.0.attn_q.weight' has shape [64, 32], expected [64, 64]") !=
                     std::string::npos,
                 message.c_str());

        GgufWriter noUp;
        for (const auto& [k, v] : source.metadata())
            noUp.set(k, v);
        for (const TensorView& t : source.tensors())
            if (t.name != "blk.1.ffn_up.weight")
                noUp.addTensor(t.name, t.dtype,
                               std::vector<int64_t>(t.shape.begin(), t.shape.begin() + t.nDims),
                               {t.data, t.nbytes});
        noUp.writeFile(dir.file("noup.gguf"));
        QVERIFY(errorOf(dir.file("noup.gguf")).find("tensor 'blk.1.ffn_up.weight' is missing") !=
                std::string::npos);
    }

    void badConfigsAreRefused() {
        test::TempDir dir;
        GgufWriter w = test::tinyModelWriter();
        w.setU32("llama.attention.head_count_kv", 3); // 4 heads are not a multiple of 3
        w.writeFile(dir.file("kv.gguf"));
        QVERIFY(errorOf(dir.file("kv.gguf")).find("nHeadsKv") != std::string::npos);

        GgufWriter arch = test::tinyModelWriter();
        arch.setString("general.architecture", "gpt-neox");
        arch.writeFile(dir.file("arch.gguf"));
        QVERIFY(errorOf(dir.file("arch.gguf")).find("architecture 'gpt-neox' is not supported") !=
                std::string::npos);
    }

    // lathe.activation_quantization: absent or per_block -> PerBlock; per_token_int8 -> PerTokenInt8;
    // anything else (or another type) names the key.
    void activationQuantizationKey() {
        test::TempDir dir;
        test::tinyModelWriter().writeFile(dir.file("plain.gguf"));
        QCOMPARE(openModelFiles(dir.file("plain.gguf")).config.activationQuantization,
                 ActivationQuantization::PerBlock);
        for (const char* value : {"per_block", "per_token_int8"}) {
            GgufWriter w = test::tinyModelWriter();
            w.setString("lathe.activation_quantization", value);
            w.writeFile(dir.file("mode.gguf"));
            QCOMPARE(activationQuantizationName(
                         openModelFiles(dir.file("mode.gguf")).config.activationQuantization),
                     std::string_view(value));
        }
        GgufWriter unknown = test::tinyModelWriter();
        unknown.setString("lathe.activation_quantization", "per_channel_fp8");
        unknown.writeFile(dir.file("unknown.gguf"));
        std::string message = errorOf(dir.file("unknown.gguf"));
        QVERIFY2(message.find("lathe.activation_quantization") != std::string::npos &&
                     message.find("per_channel_fp8") != std::string::npos,
                 message.c_str());
        try {
            (void)openModelFiles(dir.file("unknown.gguf"));
        } catch (const Error& e) {
            QCOMPARE(e.category(), ErrorCategory::InvalidFile);
        }
        GgufWriter number = test::tinyModelWriter();
        number.setU32("lathe.activation_quantization", 1);
        number.writeFile(dir.file("number.gguf"));
        message = errorOf(dir.file("number.gguf"));
        QVERIFY2(message.find("lathe.activation_quantization") != std::string::npos, message.c_str());
    }

    // {arch}.feed_forward_length as an array of u32 or i32, one per layer (the tensors here all have
    // 96 channels, so only equal widths load; tests/engine/model/TestTransformerFfnWidths has the rest).
    void feedForwardWidthArrays() {
        test::TempDir dir;
        GgufWriter u32 = test::tinyModelWriter();
        u32.set("llama.feed_forward_length", {GgufArray(std::vector<uint32_t>{96, 96})});
        u32.writeFile(dir.file("u32.gguf"));
        const ModelFiles files = openModelFiles(dir.file("u32.gguf"));
        QCOMPARE(files.config.nFf, 96);
        QVERIFY(files.config.layerFf.empty());

        GgufWriter i32 = test::tinyModelWriter();
        i32.setI32Array("llama.feed_forward_length", {96, 64});
        i32.writeFile(dir.file("i32.gguf"));
        std::string message = errorOf(dir.file("i32.gguf"));
        QVERIFY2(message.find("tensor 'blk.1.ffn_gate.weight' has shape [64, 96], expected [64, 64]") !=
                     std::string::npos,
                 message.c_str());

        GgufWriter three = test::tinyModelWriter();
        three.setI32Array("llama.feed_forward_length", {96, 96, 96});
        three.writeFile(dir.file("three.gguf"));
        message = errorOf(dir.file("three.gguf"));
        QVERIFY2(message.find("key 'llama.feed_forward_length' holds 3 widths but the model has 2 layers") !=
                     std::string::npos,
                 message.c_str());

        GgufWriter huge = test::tinyModelWriter();
        huge.set("llama.feed_forward_length", {GgufArray(std::vector<uint32_t>{96, 0x80000000u})});
        huge.writeFile(dir.file("huge.gguf"));
        message = errorOf(dir.file("huge.gguf"));
        QVERIFY2(message.find("llama.feed_forward_length") != std::string::npos, message.c_str());

        GgufWriter strings = test::tinyModelWriter();
        strings.setStringArray("llama.feed_forward_length", {"96", "96"});
        strings.writeFile(dir.file("strings.gguf"));
        message = errorOf(dir.file("strings.gguf"));
        QVERIFY2(message.find("llama.feed_forward_length") != std::string::npos, message.c_str());
    }

    void notAModel() {
        test::TempDir dir;
        writeText(dir.file("notes.txt"), "hello");
        try {
            (void)openModelFiles(dir.file("notes.txt"));
            QFAIL("expected an error");
        } catch (const Error& e) {
            QCOMPARE(e.category(), ErrorCategory::InvalidArgument);
            QVERIFY(std::string(e.what()).find(
                        "is not a model: expected a .gguf file or a folder with config.json") !=
                    std::string::npos);
        }
        QVERIFY(!looksLikeGguf(dir.file("notes.txt")));
        QVERIFY(!looksLikeGguf(dir.path()));
        QVERIFY(!looksLikeGguf(dir.file("absent.gguf")));
        QVERIFY_THROWS_EXCEPTION(Error, openModelFiles(dir.path())); // a folder without config.json
        QVERIFY_THROWS_EXCEPTION(Error, openModelFiles(dir.file("absent.gguf")));
    }

    void huggingFaceNames() {
        QCOMPARE(ggufNameForHfTensor("model.embed_tokens.weight"), std::string("token_embd.weight"));
        QCOMPARE(ggufNameForHfTensor("model.layers.12.self_attn.q_proj.weight"),
                 std::string("blk.12.attn_q.weight"));
        QCOMPARE(ggufNameForHfTensor("model.layers.0.self_attn.k_proj.bias"),
                 std::string("blk.0.attn_k.bias"));
        QCOMPARE(ggufNameForHfTensor("model.layers.3.self_attn.o_proj.weight"),
                 std::string("blk.3.attn_output.weight"));
        QCOMPARE(ggufNameForHfTensor("model.layers.3.input_layernorm.weight"),
                 std::string("blk.3.attn_norm.weight"));
        QCOMPARE(ggufNameForHfTensor("model.layers.3.post_attention_layernorm.weight"),
                 std::string("blk.3.ffn_norm.weight"));
        QCOMPARE(ggufNameForHfTensor("model.layers.7.mlp.down_proj.weight"),
                 std::string("blk.7.ffn_down.weight"));
        QCOMPARE(ggufNameForHfTensor("model.norm.weight"), std::string("output_norm.weight"));
        QCOMPARE(ggufNameForHfTensor("lm_head.weight"), std::string("output.weight"));
        QCOMPARE(ggufNameForHfTensor("model.layers.0.self_attn.rotary_emb.inv_freq"), std::string());
    }

    void huggingFaceFolderSingleFile() {
        test::TempDir dir;
        writeText(dir.file("config.json"), hfConfig().dump());
        test::SafetensorsBuilder st;
        addHfTensors(st, st, true);
        writeBytes(dir.file("model.safetensors"), st.build());
        writeTokenizerFiles(dir.path());
        const ModelFiles m = openModelFiles(dir.path());
        QCOMPARE(m.format, ModelFormat::HuggingFaceFolder);
        const ModelConfig& c = m.config;
        QCOMPARE(c.architecture, std::string("qwen2"));
        QCOMPARE(c.nEmbd, 32);
        QCOMPARE(c.nFf, 48);
        QCOMPARE(c.nLayers, 2);
        QCOMPARE(c.nHeads, 4);
        QCOMPARE(c.nHeadsKv, 2);
        QCOMPARE(c.headDim, 8);
        QCOMPARE(c.vocabSize, 16);
        QCOMPARE(c.contextLength, 512);
        QCOMPARE(c.rmsEps, 1e-6f);
        QCOMPARE(c.ropeFreqBase, 1000000.0f);
        QCOMPARE(c.ropeStyle, RopeStyle::HalfSplit);
        QVERIFY(c.qkvBias);
        QVERIFY(!c.tiedEmbeddings);
        QCOMPARE(c.ropeLlama3.factor, 8.0f);
        QCOMPARE(c.ropeLlama3.originalContext, 8192);
        QCOMPARE(m.tensors.size(), size_t(3 + 2 * 12));
        QCOMPARE(m.tensor("blk.1.ffn_down.weight").shape, (std::array<int64_t, 4>{48, 32, 1, 1}));
        QCOMPARE(m.tensor("blk.0.attn_k.weight").shape, (std::array<int64_t, 4>{32, 16, 1, 1}));
        QCOMPARE(m.tensor("output.weight").dtype, DType::F32);
        QVERIFY(m.findTensor("blk.0.rotary_emb.inv_freq") == nullptr);
        for (const auto& [name, t] : m.tensors) // safetensors data may be misaligned; views never are
            QCOMPARE(reinterpret_cast<uintptr_t>(t.data) % alignof(float), uintptr_t(0));
#if __has_include("tokenizer/HfTokenizerJson.h")
        QCOMPARE(m.tokenizer.tokens, (std::vector<std::string>{"a", "b"}));
#endif
    }

    void huggingFaceFolderSharded() {
        test::TempDir dir;
        auto config = hfConfig();
        config["tie_word_embeddings"] = true;
        config.erase("rope_scaling");
        writeText(dir.file("config.json"), config.dump());
        test::SafetensorsBuilder a, b;
        addHfTensors(a, b, false);
        writeBytes(dir.file("model-00001-of-00002.safetensors"), a.build());
        writeBytes(dir.file("model-00002-of-00002.safetensors"), b.build());
        nlohmann::json index = {{"weight_map", nlohmann::json::object()}};
        for (const auto& [name, _] : a.header.items())
            index["weight_map"][name] = "model-00001-of-00002.safetensors";
        for (const auto& [name, _] : b.header.items())
            index["weight_map"][name] = "model-00002-of-00002.safetensors";
        writeText(dir.file("model.safetensors.index.json"), index.dump());
        writeTokenizerFiles(dir.path());
        const ModelFiles m = openModelFiles(dir.path());
        QVERIFY(m.config.tiedEmbeddings);
        QCOMPARE(m.mappings.size(), size_t(2));
        QCOMPARE(m.tensors.size(), size_t(2 + 2 * 12));
        QVERIFY(m.findTensor("blk.1.attn_q.bias"));
        QVERIFY(m.findTensor("output_norm.weight"));
    }

    void huggingFaceConfigErrors() {
        QVERIFY_THROWS_EXCEPTION(Error, modelConfigFromHfConfig("{", "c.json"));
        auto config = hfConfig();
        config.erase("hidden_size");
        try {
            (void)modelConfigFromHfConfig(config.dump(), "c.json");
            QFAIL("expected an error");
        } catch (const Error& e) {
            QVERIFY(std::string(e.what()).find("'hidden_size'") != std::string::npos);
        }
        config = hfConfig();
        config["model_type"] = "bert";
        QVERIFY_THROWS_EXCEPTION(Error, modelConfigFromHfConfig(config.dump(), "c.json"));
        config = hfConfig();
        config["num_attention_heads"] = -4;
        QVERIFY_THROWS_EXCEPTION(Error, modelConfigFromHfConfig(config.dump(), "c.json"));
    }

    void realDefaultModel() {
        const auto path = test::defaultModelPath();
        if (!path) QSKIP(test::kNoDefaultModel);
        const ModelFiles m = openModelFiles(*path);
        QCOMPARE(m.config.nLayers, 30);
        QCOMPARE(m.config.nEmbd, 576);
        QCOMPARE(m.config.nHeadsKv, 3);
        QCOMPARE(m.config.vocabSize, 49152);
        QVERIFY(m.config.tiedEmbeddings);
        QCOMPARE(m.tokenizer.kind, TokenizerKind::BytePairGpt2);
        QCOMPARE(m.tokenizer.tokens.size(), size_t(49152));
        QVERIFY(!m.tokenizer.merges.empty());
        QVERIFY(m.tokenizer.eosId >= 0);
        QVERIFY(!m.tokenizer.chatTemplate.empty());
        QCOMPARE(m.tensor("blk.29.ffn_down.weight").dtype, DType::Q4_1);
    }
};

QTEST_APPLESS_MAIN(TestModelLoader)
#include "TestModelLoader.moc"
