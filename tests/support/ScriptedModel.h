#pragma once
// A fake LanguageModel for decoding tests. Its logits are a known function of the tokens its sequence
// holds, and it keeps those tokens in the KV cache itself (token id in the first key float of layer 0,
// head 0), reading them back on every call. So a generator that mismanages the cache (reuses the
// wrong prefix, forgets to truncate) gets wrong logits, exactly as it would from a real model.
//
// Every batch is recorded and checked: rows must be causal, positions must continue the sequence's
// cached length, and logitRows must be ascending. A violation throws lathe::Error (Internal).

#include "core/Error.h"
#include "model/LanguageModel.h"

#include <functional>
#include <utility>
#include <vector>

namespace lathe::test {

class ScriptedModel : public LanguageModel {
public:
    // Logits (vocabSize floats) for the token after `context`: the sequence's tokens so far, the
    // current row's token last.
    using NextLogits = std::function<std::vector<float>(const std::vector<int32_t>& context)>;

    // The smallest shape a KvCache accepts: one layer, one KV head of one float.
    static ModelConfig tinyConfig(int vocabSize, int contextLength = 0) {
        ModelConfig c;
        c.architecture = "scripted";
        c.nLayers = 1;
        c.nEmbd = 1;
        c.nHeads = 1;
        c.nHeadsKv = 1;
        c.headDim = 1;
        c.nFf = 1;
        c.vocabSize = vocabSize;
        c.contextLength = contextLength;
        return c;
    }

    // Logits that make `token` the clear favourite (greedy picks it; sampling almost surely does).
    static std::vector<float> oneHot(int vocabSize, int32_t token) {
        std::vector<float> logits(size_t(vocabSize), 0.0f);
        logits[size_t(token)] = 30.0f;
        return logits;
    }

    ScriptedModel(ModelConfig config, NextLogits next) : config_(std::move(config)), next_(std::move(next)) {}

    const ModelConfig& config() const override { return config_; }

    void forward(const Batch& batch, KvCache& cache, std::vector<float>& logits) override {
        batches_.push_back(batch);
        const size_t n = batch.tokens.size();
        if (batch.positions.size() != n || batch.seqIds.size() != n || !batch.treeParents.empty())
            fail(ErrorCategory::Internal, "scripted model: malformed or tree batch of {} rows", n);
        for (size_t i = 1; i < batch.logitRows.size(); ++i)
            if (batch.logitRows[i] <= batch.logitRows[i - 1])
                fail(ErrorCategory::Internal, "scripted model: logitRows not ascending");
        logits.clear();
        size_t nextLogitRow = 0;
        for (size_t row = 0; row < n; ++row) {
            const int32_t seq = batch.seqIds[row];
            if (batch.positions[row] != cache.length(seq))
                fail(ErrorCategory::Internal,
                     "scripted model: row {} has position {} but sequence {} holds {} tokens", row,
                     batch.positions[row], seq, cache.length(seq));
            const int slot = cache.append(seq, 1);
            *cache.key(0, seq, slot, 0) = float(batch.tokens[row]);
            if (nextLogitRow < batch.logitRows.size() && batch.logitRows[nextLogitRow] == int32_t(row)) {
                const std::vector<float> rowLogits = next_(cachedTokens(cache, seq));
                if (rowLogits.size() != size_t(config_.vocabSize))
                    fail(ErrorCategory::Internal, "scripted model: script gave {} logits", rowLogits.size());
                logits.insert(logits.end(), rowLogits.begin(), rowLogits.end());
                ++nextLogitRow;
            }
        }
        if (nextLogitRow != batch.logitRows.size())
            fail(ErrorCategory::Internal, "scripted model: logitRows name rows outside the batch");
    }

    // The tokens a sequence holds, read back from the cache.
    static std::vector<int32_t> cachedTokens(const KvCache& cache, int32_t seq) {
        std::vector<int32_t> tokens(size_t(cache.length(seq)));
        for (size_t i = 0; i < tokens.size(); ++i)
            tokens[i] = int32_t(*cache.key(0, seq, int(i), 0));
        return tokens;
    }

    const std::vector<Batch>& batches() const { return batches_; }
    void clearBatches() { batches_.clear(); }

private:
    ModelConfig config_;
    NextLogits next_;
    std::vector<Batch> batches_;
};

} // namespace lathe::test
