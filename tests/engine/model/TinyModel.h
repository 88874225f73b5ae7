#pragma once
// Tiny random Llama-family models for the model tests: written as GGUF through Lathe's own writer
// (q/k rows permuted as llama.cpp's converter does) or as a Hugging Face folder (config.json, F32
// safetensors, a minimal tokenizer.json), plus a naive double-precision forward pass that reads the
// stored tensors through io's reference dequantizer and shares no code with the Transformer.

#include "core/DType.h"
#include "io/GgufWriter.h"
#include "io/ModelFiles.h"
#include "io/Quants.h"

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <vector>

namespace lathe::test {

struct TinyModelSpec {
    std::string architecture = "llama"; // "qwen2": q/k/v biases, half-split RoPE
    int nLayers = 2;
    int nEmbd = 64;
    int nHeads = 4;
    int nHeadsKv = 2;
    int nFf = 96;
    int vocab = 64;
    float ropeBase = 10000.0f;
    float llama3Factor = 0.0f; // Llama-3 RoPE scaling when non-zero
    bool tied = true;
    DType matrixType = DType::F32; // attention and feed-forward matrices
    DType embdType = DType::F32;
    uint32_t seed = 7;
    std::vector<int> layerFf;           // per-layer feed-forward widths (written as an array); empty: nFf
    std::string activationQuantization; // lathe.activation_quantization; empty: the key is absent

    int headDim() const { return nEmbd / nHeads; }
    int ffOf(int layer) const { return layerFf.empty() ? nFf : layerFf[size_t(layer)]; }
    bool bias() const { return architecture == "qwen2"; }
};

// Weights in Hugging Face orientation (rows = outputs, q/k unpermuted), keyed by GGUF name.
struct TinyWeights {
    struct Matrix {
        int64_t rows = 1, cols = 0;
        std::vector<float> values; // [rows][cols]
    };
    std::map<std::string, Matrix> tensors;
};

inline TinyWeights makeTinyWeights(const TinyModelSpec& s) {
    std::mt19937 rng(s.seed);
    std::normal_distribution<float> normal(0.0f, 1.0f);
    TinyWeights w;
    auto add = [&](const std::string& name, int64_t rows, int64_t cols, float scale, float offset = 0.0f) {
        TinyWeights::Matrix m{rows, cols, std::vector<float>(size_t(rows * cols))};
        for (float& v : m.values)
            v = offset + scale * normal(rng);
        w.tensors[name] = std::move(m);
    };
    const int q = s.nHeads * s.headDim(), kv = s.nHeadsKv * s.headDim();
    add("token_embd.weight", s.vocab, s.nEmbd, 1.0f);
    add("output_norm.weight", 1, s.nEmbd, 0.1f, 1.0f);
    if (!s.tied) add("output.weight", s.vocab, s.nEmbd, 1.0f / std::sqrt(float(s.nEmbd)));
    for (int l = 0; l < s.nLayers; ++l) {
        const std::string b = "blk." + std::to_string(l) + ".";
        const float in = 1.0f / std::sqrt(float(s.nEmbd));
        add(b + "attn_norm.weight", 1, s.nEmbd, 0.1f, 1.0f);
        add(b + "attn_q.weight", q, s.nEmbd, 2.0f * in);
        add(b + "attn_k.weight", kv, s.nEmbd, 2.0f * in);
        add(b + "attn_v.weight", kv, s.nEmbd, in);
        if (s.bias()) {
            add(b + "attn_q.bias", 1, q, 0.2f);
            add(b + "attn_k.bias", 1, kv, 0.2f);
            add(b + "attn_v.bias", 1, kv, 0.2f);
        }
        add(b + "attn_output.weight", s.nEmbd, q, 1.0f / std::sqrt(float(q)));
        add(b + "ffn_norm.weight", 1, s.nEmbd, 0.1f, 1.0f);
        add(b + "ffn_gate.weight", s.ffOf(l), s.nEmbd, in);
        add(b + "ffn_up.weight", s.ffOf(l), s.nEmbd, in);
        add(b + "ffn_down.weight", s.nEmbd, s.ffOf(l), 1.0f / std::sqrt(float(s.ffOf(l))));
    }
    return w;
}

// llama.cpp's convert_hf_to_gguf permute for llama q/k: reshape(nHead, 2, headDim/2, cols).swapaxes(1, 2).
inline std::vector<float> permuteForGguf(const TinyWeights::Matrix& m, int nHead) {
    const int64_t headDim = m.rows / nHead;
    std::vector<float> out(m.values.size());
    for (int64_t h = 0; h < nHead; ++h)
        for (int64_t half = 0; half < 2; ++half)
            for (int64_t i = 0; i < headDim / 2; ++i) {
                const int64_t from = h * headDim + half * (headDim / 2) + i;
                const int64_t to = h * headDim + 2 * i + half;
                std::copy_n(m.values.begin() + from * m.cols, m.cols, out.begin() + to * m.cols);
            }
    return out;
}

inline std::vector<std::string> tinyVocab(int n) {
    std::vector<std::string> tokens;
    for (int i = 0; i < n; ++i)
        tokens.push_back(std::string(1, char(33 + i % 90)) + (i >= 90 ? std::to_string(i) : ""));
    return tokens;
}

inline void writeTinyGguf(const std::filesystem::path& path, const TinyModelSpec& s, const TinyWeights& w) {
    GgufWriter g;
    const std::string a = s.architecture;
    g.setString("general.architecture", a);
    g.setString("general.name", "tiny");
    g.setU32(a + ".block_count", uint32_t(s.nLayers));
    g.setU32(a + ".embedding_length", uint32_t(s.nEmbd));
    if (s.layerFf.empty())
        g.setU32(a + ".feed_forward_length", uint32_t(s.nFf));
    else
        g.setI32Array(a + ".feed_forward_length", std::vector<int32_t>(s.layerFf.begin(), s.layerFf.end()));
    if (!s.activationQuantization.empty())
        g.setString("lathe.activation_quantization", s.activationQuantization);
    g.setU32(a + ".attention.head_count", uint32_t(s.nHeads));
    g.setU32(a + ".attention.head_count_kv", uint32_t(s.nHeadsKv));
    g.setU32(a + ".context_length", 256);
    g.setU32(a + ".rope.dimension_count", uint32_t(s.headDim()));
    g.setF32(a + ".rope.freq_base", s.ropeBase);
    g.setF32(a + ".attention.layer_norm_rms_epsilon", 1e-5f);
    if (s.llama3Factor != 0.0f) {
        g.setString(a + ".rope.scaling.type", "llama3");
        g.setF32(a + ".rope.scaling.factor", s.llama3Factor);
        g.setF32(a + ".rope.scaling.low_freq_factor", 1.0f);
        g.setF32(a + ".rope.scaling.high_freq_factor", 4.0f);
        g.setU32(a + ".rope.scaling.original_context_length", 64);
    }
    g.setString("tokenizer.ggml.model", "gpt2");
    g.setString("tokenizer.ggml.pre", "default");
    g.setStringArray("tokenizer.ggml.tokens", tinyVocab(s.vocab));
    g.setStringArray("tokenizer.ggml.merges", {});
    for (const auto& [name, m] : w.tensors) {
        DType type = m.rows == 1 ? DType::F32 : s.matrixType;
        if (name == "token_embd.weight" || name == "output.weight") type = s.embdType;
        std::vector<float> values = m.values;
        const bool isQk =
            name.find("attn_q.") != std::string::npos || name.find("attn_k.") != std::string::npos;
        if (isQk && s.architecture == "llama") {
            values = permuteForGguf(m, name.find("attn_q.") != std::string::npos ? s.nHeads : s.nHeadsKv);
        }
        const uint64_t rowSize = rowBytes(type, uint64_t(m.cols));
        std::vector<uint8_t> bytes(size_t(rowSize * uint64_t(m.rows)));
        for (int64_t r = 0; r < m.rows; ++r)
            quantizeRow(type, values.data() + r * m.cols, bytes.data() + uint64_t(r) * rowSize, m.cols);
        std::vector<int64_t> shape{m.cols};
        if (m.rows > 1) shape.push_back(m.rows);
        g.addTensor(name, type, shape, bytes);
    }
    g.writeFile(path);
}

// The same weights as a Hugging Face folder (F32 safetensors, unpermuted q/k).
inline void writeTinyHfFolder(const std::filesystem::path& folder, const TinyModelSpec& s,
                              const TinyWeights& w) {
    std::filesystem::create_directories(folder);
    nlohmann::json config = {
        {"architectures", {s.architecture == "qwen2" ? "Qwen2ForCausalLM" : "LlamaForCausalLM"}},
        {"model_type", s.architecture},
        {"hidden_size", s.nEmbd},
        {"intermediate_size", s.nFf},
        {"num_hidden_layers", s.nLayers},
        {"num_attention_heads", s.nHeads},
        {"num_key_value_heads", s.nHeadsKv},
        {"vocab_size", s.vocab},
        {"max_position_embeddings", 256},
        {"rms_norm_eps", 1e-5},
        {"rope_theta", s.ropeBase},
        {"tie_word_embeddings", s.tied},
    };
    if (s.llama3Factor != 0.0f)
        config["rope_scaling"] = {{"rope_type", "llama3"},
                                  {"factor", s.llama3Factor},
                                  {"low_freq_factor", 1.0},
                                  {"high_freq_factor", 4.0},
                                  {"original_max_position_embeddings", 64}};
    std::ofstream(folder / "config.json") << config.dump(1);

    auto hfName = [](const std::string& gguf) -> std::string {
        if (gguf == "token_embd.weight") return "model.embed_tokens.weight";
        if (gguf == "output_norm.weight") return "model.norm.weight";
        if (gguf == "output.weight") return "lm_head.weight";
        static const std::map<std::string, std::string> parts = {
            {"attn_norm", "input_layernorm"},    {"attn_q", "self_attn.q_proj"},
            {"attn_k", "self_attn.k_proj"},      {"attn_v", "self_attn.v_proj"},
            {"attn_output", "self_attn.o_proj"}, {"ffn_norm", "post_attention_layernorm"},
            {"ffn_gate", "mlp.gate_proj"},       {"ffn_up", "mlp.up_proj"},
            {"ffn_down", "mlp.down_proj"}};
        const size_t dot1 = gguf.find('.', 4), dot2 = gguf.rfind('.');
        return "model.layers." + gguf.substr(4, dot1 - 4) + "." +
               parts.at(gguf.substr(dot1 + 1, dot2 - dot1 - 1)) + gguf.substr(dot2);
    };
    nlohmann::json header = nlohmann::json::object();
    std::string data;
    for (const auto& [name, m] : w.tensors) {
        const size_t begin = data.size();
        data.append(reinterpret_cast<const char*>(m.values.data()), m.values.size() * sizeof(float));
        header[hfName(name)] = {
            {"dtype", "F32"},
            {"shape", m.rows == 1 ? nlohmann::json{m.cols} : nlohmann::json{m.rows, m.cols}},
            {"data_offsets", {begin, data.size()}}};
    }
    std::string headerText = header.dump();
    while (headerText.size() % 8 != 0)
        headerText += ' ';
    const uint64_t headerSize = headerText.size();
    std::ofstream out(folder / "model.safetensors", std::ios::binary);
    out.write(reinterpret_cast<const char*>(&headerSize), 8);
    out << headerText << data;
    out.close();

    nlohmann::json vocab = nlohmann::json::object();
    const std::vector<std::string> tokens = tinyVocab(s.vocab);
    for (int i = 0; i < s.vocab; ++i)
        vocab[tokens[size_t(i)]] = i;
    nlohmann::json tokenizer = {
        {"version", "1.0"},
        {"added_tokens", nlohmann::json::array()},
        {"pre_tokenizer", {{"type", "ByteLevel"}, {"add_prefix_space", false}}},
        {"decoder", {{"type", "ByteLevel"}}},
        {"model", {{"type", "BPE"}, {"vocab", vocab}, {"merges", nlohmann::json::array()}}}};
    std::ofstream(folder / "tokenizer.json") << tokenizer.dump(1);
}

// Naive forward pass in double over all rows of one sequence: row i attends to the rows j for which
// sees(i, j) holds. Returns logits [rows][vocab].
class NaiveLlama {
public:
    explicit NaiveLlama(const ModelFiles& files) : files_(files), c_(files.config) {}

    std::vector<double> forward(const std::vector<int32_t>& tokens, const std::vector<int32_t>& positions,
                                const std::function<bool(int, int)>& sees) const {
        const int n = int(tokens.size()), e = c_.nEmbd, hd = c_.headDim;
        const int qDim = c_.nHeads * hd, kvDim = c_.nHeadsKv * hd;
        std::vector<double> x(size_t(n * e));
        for (int t = 0; t < n; ++t) {
            const std::vector<double> row = rowOf("token_embd.weight", tokens[size_t(t)]);
            std::copy(row.begin(), row.end(), x.begin() + t * e);
        }
        for (int l = 0; l < c_.nLayers; ++l) {
            const std::string b = "blk." + std::to_string(l) + ".";
            std::vector<double> h = norm(x, n, b + "attn_norm.weight");
            std::vector<double> q = matmul(b + "attn_q.weight", h, n), k = matmul(b + "attn_k.weight", h, n),
                                v = matmul(b + "attn_v.weight", h, n);
            if (c_.qkvBias) {
                addBias(q, b + "attn_q.bias", n);
                addBias(k, b + "attn_k.bias", n);
                addBias(v, b + "attn_v.bias", n);
            }
            rope(q, n, c_.nHeads, positions);
            rope(k, n, c_.nHeadsKv, positions);
            std::vector<double> attn(size_t(n * qDim), 0.0);
            const int group = c_.nHeads / c_.nHeadsKv;
            for (int i = 0; i < n; ++i)
                for (int hq = 0; hq < c_.nHeads; ++hq) {
                    const int hk = hq / group;
                    std::vector<double> w(size_t(n), 0.0);
                    double maxScore = -1e300;
                    for (int j = 0; j < n; ++j) {
                        if (!sees(i, j)) continue;
                        double s = 0;
                        for (int d = 0; d < hd; ++d)
                            s += q[size_t(i * qDim + hq * hd + d)] * k[size_t(j * kvDim + hk * hd + d)];
                        w[size_t(j)] = s / std::sqrt(double(hd));
                        maxScore = std::max(maxScore, w[size_t(j)]);
                    }
                    double sum = 0;
                    for (int j = 0; j < n; ++j) {
                        w[size_t(j)] = sees(i, j) ? std::exp(w[size_t(j)] - maxScore) : 0.0;
                        sum += w[size_t(j)];
                    }
                    for (int j = 0; j < n; ++j)
                        for (int d = 0; d < hd; ++d)
                            attn[size_t(i * qDim + hq * hd + d)] +=
                                w[size_t(j)] / sum * v[size_t(j * kvDim + hk * hd + d)];
                }
            const std::vector<double> o = matmul(b + "attn_output.weight", attn, n);
            for (size_t i = 0; i < x.size(); ++i)
                x[i] += o[i];
            h = norm(x, n, b + "ffn_norm.weight");
            std::vector<double> g = matmul(b + "ffn_gate.weight", h, n);
            const std::vector<double> u = matmul(b + "ffn_up.weight", h, n);
            for (size_t i = 0; i < g.size(); ++i)
                g[i] = g[i] / (1.0 + std::exp(-g[i])) * u[i];
            const std::vector<double> down = matmul(b + "ffn_down.weight", g, n);
            for (size_t i = 0; i < x.size(); ++i)
                x[i] += down[i];
        }
        const std::vector<double> h = norm(x, n, "output_norm.weight");
        return matmul(files_.findTensor("output.weight") ? "output.weight" : "token_embd.weight", h, n);
    }

private:
    std::vector<double> rowOf(const std::string& name, int64_t r) const {
        const TensorView& t = files_.tensor(name);
        std::vector<float> f(size_t(t.rowLength()));
        dequantizeRow(t.dtype, t.row(r), f.data(), t.rowLength());
        return {f.begin(), f.end()};
    }
    std::vector<double> matmul(const std::string& name, const std::vector<double>& x, int n) const {
        const TensorView& t = files_.tensor(name);
        const int64_t cols = t.rowLength(), rows = t.rowCount();
        std::vector<double> out(size_t(n * rows));
        for (int64_t r = 0; r < rows; ++r) {
            const std::vector<double> w = rowOf(name, r);
            for (int i = 0; i < n; ++i) {
                double s = 0;
                for (int64_t c = 0; c < cols; ++c)
                    s += w[size_t(c)] * x[size_t(i * cols + c)];
                out[size_t(i * rows + r)] = s;
            }
        }
        return out;
    }
    void addBias(std::vector<double>& x, const std::string& name, int n) const {
        const std::vector<double> b = rowOf(name, 0);
        for (int i = 0; i < n; ++i)
            for (size_t j = 0; j < b.size(); ++j)
                x[i * b.size() + j] += b[j];
    }
    std::vector<double> norm(const std::vector<double>& x, int n, const std::string& name) const {
        const std::vector<double> w = rowOf(name, 0);
        const size_t e = w.size();
        std::vector<double> out(x.size());
        for (int i = 0; i < n; ++i) {
            double ss = 0;
            for (size_t j = 0; j < e; ++j)
                ss += x[i * e + j] * x[i * e + j];
            const double inv = 1.0 / std::sqrt(ss / double(e) + double(c_.rmsEps));
            for (size_t j = 0; j < e; ++j)
                out[i * e + j] = x[i * e + j] * inv * w[j];
        }
        return out;
    }
    // theta_i = p * base^(-2i/d) / factor_i, factor from the Llama-3 formula (transformers' version).
    double ropeFactor(int i, int d) const {
        const RopeLlama3Scaling& s = c_.ropeLlama3;
        if (s.factor == 0.0f) return 1.0;
        const double freq = std::pow(double(c_.ropeFreqBase), -2.0 * i / d);
        const double wavelen = 2 * M_PI / freq;
        const double low = s.originalContext / double(s.lowFreqFactor),
                     high = s.originalContext / double(s.highFreqFactor);
        if (wavelen < high) return 1.0;
        if (wavelen > low) return s.factor;
        const double smooth =
            (s.originalContext / wavelen - s.lowFreqFactor) / (s.highFreqFactor - s.lowFreqFactor);
        return freq / ((1 - smooth) * freq / s.factor + smooth * freq);
    }
    void rope(std::vector<double>& x, int n, int nHeads, const std::vector<int32_t>& positions) const {
        const int hd = c_.headDim;
        for (int t = 0; t < n; ++t)
            for (int h = 0; h < nHeads; ++h)
                for (int i = 0; i < hd / 2; ++i) {
                    const double theta = positions[size_t(t)] *
                                         std::pow(double(c_.ropeFreqBase), -2.0 * i / hd) / ropeFactor(i, hd);
                    const bool inter = c_.ropeStyle == RopeStyle::Interleaved;
                    double& a = x[size_t((t * nHeads + h) * hd + (inter ? 2 * i : i))];
                    double& b = x[size_t((t * nHeads + h) * hd + (inter ? 2 * i + 1 : i + hd / 2))];
                    const double a0 = a, b0 = b;
                    a = a0 * std::cos(theta) - b0 * std::sin(theta);
                    b = a0 * std::sin(theta) + b0 * std::cos(theta);
                }
    }

    const ModelFiles& files_;
    ModelConfig c_;
};

} // namespace lathe::test
