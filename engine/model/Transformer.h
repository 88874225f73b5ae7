#pragma once
// The Llama-family decoder (Llama 2/3, Mistral, Qwen2, SmolLM) as a sequence of Backend ops:
//   x = embed(tokens)
//   per layer: h = x + Wo . attention(rope(Wq . norm(x)), rope(Wk . norm(x)), Wv . norm(x))
//              x = h + Wdown . (silu(Wgate . norm(h)) * (Wup . norm(h)))
//   logits = Woutput . norm(x)            (Woutput = token_embd when the embeddings are tied)
// with grouped-query attention over the paged KvCache, RoPE (both pairings, Llama-3 scaling) and an
// optional Q/K/V bias. Every intermediate is named (llama.cpp's names where it has one) and handed to
// the debug callback, so a run can be dumped and compared tensor by tensor.

#include "backend/Backend.h"
#include "model/LanguageModel.h"

#include <functional>
#include <memory>
#include <span>
#include <string_view>
#include <vector>

namespace lathe {

struct ModelFiles;

class Transformer : public LanguageModel {
public:
    // name: "inp_embd", "attn_norm", "Qcur", "Kcur", "Vcur" (Q/K after RoPE), "kqv_out", "attn_out",
    // "ffn_inp", "ffn_norm", "ffn_gate", "ffn_up", "ffn_swiglu", "ffn_out", "l_out", "result_norm",
    // "result_output"; layer is -1 outside the blocks. values: row-major [rows][width] of that call.
    using DebugCallback =
        std::function<void(std::string_view name, int layer, std::span<const float> values)>;

    // Checks that every tensor the config implies exists with the right shape (lathe::Error InvalidFile
    // naming the tensor), each layer's feed-forward with its own width (ModelConfig::ffOf). Sets the
    // backend's activation quantization to the model's (Unsupported where the backend has no such mode).
    // `files` and `backend` must outlive the Transformer: weights stay in the files.
    Transformer(const ModelFiles& files, Backend& backend);

    const ModelConfig& config() const override { return config_; }
    KvCache makeCache(int capacityTokens, int blockTokens = 16) const;

    // Validates the batch (InvalidArgument) and reserves its cache slots before computing anything,
    // so a full cache leaves `cache` as it was.
    void forward(const Batch& batch, KvCache& cache, std::vector<float>& logits) override;

    void setDebugCallback(DebugCallback callback) { debug_ = std::move(callback); }
    Backend& backend() { return backend_; }

private:
    struct Layer {
        std::unique_ptr<BackendWeight> attnNorm;   // {nEmbd}
        std::unique_ptr<BackendWeight> wq;         // {nEmbd, nHeads * headDim}
        std::unique_ptr<BackendWeight> wk;         // {nEmbd, nHeadsKv * headDim}
        std::unique_ptr<BackendWeight> wv;         // {nEmbd, nHeadsKv * headDim}
        std::unique_ptr<BackendWeight> bq, bk, bv; // {rows of wq/wk/wv}, only with qkvBias
        std::unique_ptr<BackendWeight> wo;         // {nHeads * headDim, nEmbd}
        std::unique_ptr<BackendWeight> ffnNorm;    // {nEmbd}
        std::unique_ptr<BackendWeight> gate;       // {nEmbd, ffOf(layer)}
        std::unique_ptr<BackendWeight> up;         // {nEmbd, ffOf(layer)}
        std::unique_ptr<BackendWeight> down;       // {ffOf(layer), nEmbd}
    };

    void validateBatch(const Batch& batch, const KvCache& cache) const;
    // Reserves cache slots for every row and fills slots_ and mask_.
    void placeRows(const Batch& batch, KvCache& cache);
    // outputRows: for the last layer of a step that wants logits from only some rows, those rows
    // (ascending): after the attention output only they go on (ending in buffers().x rows 0..k-1).
    // Empty: every row goes on.
    void runLayer(int index, int nTokens, std::span<const int32_t> positions, KvCache& cache,
                  std::span<const int32_t> outputRows);
    // Hands a buffer to the debug callback (through a host copy); nothing without a callback.
    void dump(std::string_view name, int layer, const Activations& values);

    // Per-forward buffers of the backend, [nTokens][width], kept between decode steps.
    struct Buffers {
        std::unique_ptr<Activations> x, norm, q, k, v, attn, proj, gate, up, logits;
    };
    Buffers& buffers(); // made on first use

    ModelConfig config_;
    Backend& backend_;
    std::unique_ptr<BackendWeight> tokenEmbd_;  // {nEmbd, vocabSize}
    std::unique_ptr<BackendWeight> outputNorm_; // {nEmbd}
    std::unique_ptr<BackendWeight> output_;     // {nEmbd, vocabSize}; null: use tokenEmbd_
    std::vector<Layer> layers_;
    std::vector<float> ropeFreqFactors_; // empty or ropeDims / 2
    RopeParams rope_;
    AttentionShape attentionShape_;
    DebugCallback debug_;

    std::vector<int32_t> slots_;
    AttentionMask mask_;
    Buffers buffers_;
    std::vector<float> dumpScratch_;
};

} // namespace lathe
