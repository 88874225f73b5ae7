#include "model/Transformer.h"

#include "core/Error.h"
#include "io/ModelFiles.h"
#include "io/Quants.h"
#include "model/RopeFreqFactors.h"

#include <cmath>
#include <fmt/ranges.h>
#include <unordered_map>

namespace lathe {
namespace {

std::string shapeText(const TensorView& t) {
    return fmt::format("[{}]", fmt::join(t.shape.begin(), t.shape.begin() + std::max(t.nDims, 1), ", "));
}

// A tensor of `rows` rows of `cols` elements (a vector when rows == 1), checked against the config.
std::unique_ptr<BackendWeight> loadWeight(const ModelFiles& files, Backend& backend, const std::string& name,
                                          int64_t cols, int64_t rows) {
    const TensorView* t = files.findTensor(name);
    if (!t) fail(ErrorCategory::InvalidFile, "{}: tensor {} is missing", files.path.string(), name);
    if (t->shape[0] != cols || t->rowCount() != rows || t->shape[2] != 1 || t->shape[3] != 1)
        fail(ErrorCategory::InvalidFile, "{}: tensor {} has shape {} but the model config implies [{}, {}]",
             files.path.string(), name, shapeText(*t), cols, rows);
    if (!canDequantize(t->dtype))
        fail(ErrorCategory::Unsupported, "{}: tensor {} is stored as {}, which Lathe cannot compute with",
             files.path.string(), name, dtypeName(t->dtype));
    if (cols % dtypeInfo(t->dtype).blockSize != 0 || t->nbytes < t->rowStride() * uint64_t(rows))
        fail(ErrorCategory::InvalidFile, "{}: tensor {} ({}, shape {}) has {} bytes, too few for its shape",
             files.path.string(), name, dtypeName(t->dtype), shapeText(*t), t->nbytes);
    return backend.prepareWeight(*t);
}

} // namespace

Transformer::Transformer(const ModelFiles& files, Backend& backend)
    : config_(files.config), backend_(backend) {
    config_.validate();
    const ModelConfig& c = config_;
    if (c.nHeadsKv <= 0 || c.nHeads % c.nHeadsKv != 0)
        fail(ErrorCategory::InvalidFile, "{}: {} attention heads are not a multiple of {} KV heads",
             files.path.string(), c.nHeads, c.nHeadsKv);
    const int ropeDims = c.ropeDims > 0 ? c.ropeDims : c.headDim;
    if (ropeDims % 2 != 0 || ropeDims > c.headDim)
        fail(ErrorCategory::InvalidFile,
             "{}: rope dimension count {} must be even and at most the head size {}", files.path.string(),
             ropeDims, c.headDim);
    const int64_t qDim = int64_t(c.nHeads) * c.headDim;
    const int64_t kvDim = int64_t(c.nHeadsKv) * c.headDim;

    tokenEmbd_ = loadWeight(files, backend, "token_embd.weight", c.nEmbd, c.vocabSize);
    outputNorm_ = loadWeight(files, backend, "output_norm.weight", c.nEmbd, 1);
    // Tied models (SmolLM) store no output.weight; like llama.cpp, fall back to token_embd then.
    if (files.findTensor("output.weight"))
        output_ = loadWeight(files, backend, "output.weight", c.nEmbd, c.vocabSize);

    layers_.resize(size_t(c.nLayers));
    for (int i = 0; i < c.nLayers; ++i) {
        Layer& l = layers_[size_t(i)];
        auto name = [i](const char* what) { return fmt::format("blk.{}.{}", i, what); };
        l.attnNorm = loadWeight(files, backend, name("attn_norm.weight"), c.nEmbd, 1);
        l.wq = loadWeight(files, backend, name("attn_q.weight"), c.nEmbd, qDim);
        l.wk = loadWeight(files, backend, name("attn_k.weight"), c.nEmbd, kvDim);
        l.wv = loadWeight(files, backend, name("attn_v.weight"), c.nEmbd, kvDim);
        if (c.qkvBias) {
            l.bq = loadWeight(files, backend, name("attn_q.bias"), qDim, 1);
            l.bk = loadWeight(files, backend, name("attn_k.bias"), kvDim, 1);
            l.bv = loadWeight(files, backend, name("attn_v.bias"), kvDim, 1);
        }
        l.wo = loadWeight(files, backend, name("attn_output.weight"), qDim, c.nEmbd);
        l.ffnNorm = loadWeight(files, backend, name("ffn_norm.weight"), c.nEmbd, 1);
        // Each layer's own feed-forward width (pruned models differ by layer); the gate/up buffers
        // take each call's size, so nothing else depends on it.
        const int64_t ff = c.ffOf(i);
        l.gate = loadWeight(files, backend, name("ffn_gate.weight"), c.nEmbd, ff);
        l.up = loadWeight(files, backend, name("ffn_up.weight"), c.nEmbd, ff);
        l.down = loadWeight(files, backend, name("ffn_down.weight"), ff, c.nEmbd);
    }

    // llama.cpp's converter stores Llama-3 scaling as rope_freqs.weight; prefer it when present.
    if (const TensorView* freqs = files.findTensor("rope_freqs.weight")) {
        if (freqs->elementCount() != ropeDims / 2 || !canDequantize(freqs->dtype) ||
            freqs->nbytes < freqs->rowStride())
            fail(ErrorCategory::InvalidFile,
                 "{}: tensor rope_freqs.weight has shape {} but {} values are needed", files.path.string(),
                 shapeText(*freqs), ropeDims / 2);
        ropeFreqFactors_.resize(size_t(ropeDims / 2));
        dequantizeRow(freqs->dtype, freqs->data, ropeFreqFactors_.data(), ropeDims / 2);
    } else if (c.ropeLlama3.factor != 0.0f) {
        ropeFreqFactors_ = ropeLlama3FreqFactors(c.ropeLlama3, ropeDims, c.ropeFreqBase);
    }
    rope_ = RopeParams{ropeDims, c.ropeFreqBase, c.ropeStyle, ropeFreqFactors_};
    // The model's activation quantization (per token for SmoothQuant W8A8 files): before any forward,
    // and for every model, so a backend reused after another model does not keep that model's mode.
    backend.setActivationQuantization(c.activationQuantization);
    attentionShape_ = AttentionShape{c.nHeads, c.nHeadsKv, c.headDim, 1.0f / std::sqrt(float(c.headDim))};
}

KvCache Transformer::makeCache(int capacityTokens, int blockTokens) const {
    return KvCache(config_, capacityTokens, blockTokens);
}

void Transformer::validateBatch(const Batch& batch, const KvCache& cache) const {
    const int n = batch.size();
    if (int(batch.positions.size()) != n || int(batch.seqIds.size()) != n)
        fail(ErrorCategory::InvalidArgument, "batch: {} tokens but {} positions and {} sequence ids", n,
             batch.positions.size(), batch.seqIds.size());
    if (!batch.treeParents.empty() && int(batch.treeParents.size()) != n)
        fail(ErrorCategory::InvalidArgument, "batch: {} tokens but {} tree parents", n,
             batch.treeParents.size());
    if (cache.nLayers() != config_.nLayers || cache.nHeadsKv() != config_.nHeadsKv ||
        cache.headDim() != config_.headDim)
        fail(ErrorCategory::InvalidArgument,
             "KV cache shape (layers {}, kv heads {}, head dim {}) is not the model's", cache.nLayers(),
             cache.nHeadsKv(), cache.headDim());
    for (int i = 0; i < n; ++i) {
        if (batch.tokens[size_t(i)] < 0 || batch.tokens[size_t(i)] >= config_.vocabSize)
            fail(ErrorCategory::InvalidArgument, "batch row {}: token id {} is outside the vocabulary of {}",
                 i, batch.tokens[size_t(i)], config_.vocabSize);
        if (batch.positions[size_t(i)] < 0)
            fail(ErrorCategory::InvalidArgument, "batch row {}: negative position {}", i,
                 batch.positions[size_t(i)]);
        if (!batch.treeParents.empty()) {
            const int parent = batch.treeParents[size_t(i)];
            if (parent < -1 || parent >= i)
                fail(ErrorCategory::InvalidArgument, "batch row {}: tree parent {} does not precede it", i,
                     parent);
            if (parent >= 0 && batch.seqIds[size_t(parent)] != batch.seqIds[size_t(i)])
                fail(ErrorCategory::InvalidArgument,
                     "batch row {}: tree parent {} belongs to another sequence", i, parent);
        }
    }
    for (size_t j = 0; j < batch.logitRows.size(); ++j) {
        const int row = batch.logitRows[j];
        if (row < 0 || row >= n || (j > 0 && row <= batch.logitRows[j - 1]))
            fail(ErrorCategory::InvalidArgument, "batch: logit rows must ascend within [0, {}), got {} at {}",
                 n, row, j);
    }
}

void Transformer::placeRows(const Batch& batch, KvCache& cache) {
    const int n = batch.size();
    std::vector<int32_t> order; // sequences in order of first appearance
    std::unordered_map<int32_t, int> counts;
    for (int32_t seq : batch.seqIds)
        if (counts[seq]++ == 0) order.push_back(seq);
    int64_t needed = 0;
    for (int32_t seq : order)
        needed += cache.blocksNeeded(seq, counts[seq]);
    if (needed > cache.freeBlocks())
        fail(ErrorCategory::InvalidArgument,
             "KV cache full: the batch of {} tokens needs {} more blocks of {} tokens but {} of {} are free",
             n, needed, cache.blockTokens(), cache.freeBlocks(), cache.capacityBlocks());
    std::unordered_map<int32_t, int> next; // next slot per sequence
    for (int32_t seq : order)
        next[seq] = cache.append(seq, counts[seq]);
    std::unordered_map<int32_t, int> cachedBefore = next;

    slots_.resize(size_t(n));
    mask_.clear();
    std::vector<int32_t> chain;
    for (int i = 0; i < n; ++i) {
        const int32_t seq = batch.seqIds[size_t(i)];
        slots_[size_t(i)] = next[seq]++;
        mask_.seqIds.push_back(seq);
        if (batch.treeParents.empty()) {
            mask_.prefix.push_back(slots_[size_t(i)] + 1);
        } else {
            mask_.prefix.push_back(cachedBefore[seq]);
            chain.clear();
            for (int row = i; row >= 0; row = batch.treeParents[size_t(row)])
                chain.push_back(slots_[size_t(row)]);
            mask_.extras.insert(mask_.extras.end(), chain.rbegin(), chain.rend());
        }
        mask_.extraBegin.push_back(int32_t(mask_.extras.size()));
    }
}

void Transformer::forward(const Batch& batch, KvCache& cache, std::vector<float>& logits) {
    validateBatch(batch, cache);
    const int n = batch.size();
    logits.clear();
    if (n == 0) return;
    placeRows(batch, cache);
    Buffers& b = buffers();

    // Debug dumps read buffers in the middle of the step, so a dumped step is not recorded.
    if (!debug_) backend_.beginStep(n);
    try {
        backend_.embed(*tokenEmbd_, batch.tokens, *b.x);
        dump("inp_embd", -1, *b.x);
        if (config_.nLayers > 0) backend_.rmsNorm(*b.x, *layers_[0].attnNorm, n, config_.rmsEps, *b.norm);
        // Rows are independent after the last attention, so a step that wants some rows' logits (a
        // prompt's last) takes only those through the last feed-forward, as llama.cpp does (its
        // inp_out_ids): the same numbers for them, a thirtieth less work in a SmolLM2 prefill. Not
        // under a debug callback, which promises every row of every intermediate.
        const bool someRows =
            !debug_ && config_.nLayers > 0 && !batch.logitRows.empty() && int(batch.logitRows.size()) < n;
        for (int l = 0; l < config_.nLayers; ++l)
            runLayer(l, n, batch.positions, cache,
                     someRows && l + 1 == config_.nLayers ? std::span<const int32_t>(batch.logitRows)
                                                          : std::span<const int32_t>());

        const Activations* outputX = b.x.get(); // the rows that want logits, in order
        if (!someRows) {
            backend_.gatherRows(*b.x, batch.logitRows, config_.nEmbd, *b.proj);
            outputX = b.proj.get();
        }
        backend_.rmsNorm(*outputX, *outputNorm_, int(batch.logitRows.size()), config_.rmsEps, *b.norm);
        dump("result_norm", -1, *b.norm);
        backend_.matmul(output_ ? *output_ : *tokenEmbd_, *b.norm, int(batch.logitRows.size()), *b.logits);
    } catch (...) {
        if (!debug_) backend_.abortStep();
        throw;
    }
    if (!debug_) backend_.endStep();

    const int nOut = int(batch.logitRows.size());
    logits.resize(size_t(nOut) * size_t(config_.vocabSize));
    backend_.download(*b.logits, logits);
    if (debug_) debug_("result_output", -1, logits);
}

void Transformer::runLayer(int index, int n, std::span<const int32_t> positions, KvCache& cache,
                           std::span<const int32_t> outputRows) {
    const Layer& l = layers_[size_t(index)];
    Buffers& b = buffers();

    dump("attn_norm", index, *b.norm); // the previous layer (or forward, for layer 0) normed x

    const MatmulProduct qkv[] = {{l.wq.get(), l.bq.get(), b.q.get()},
                                 {l.wk.get(), l.bk.get(), b.k.get()},
                                 {l.wv.get(), l.bv.get(), b.v.get()}};
    backend_.matmuls(qkv, *b.norm, n);
    backend_.ropeAndStoreKv(*b.q, *b.k, *b.v, n, config_.nHeads, config_.nHeadsKv, config_.headDim, positions,
                            rope_, mask_.seqIds, slots_, index, cache);
    dump("Qcur", index, *b.q);
    dump("Kcur", index, *b.k);
    dump("Vcur", index, *b.v);
    backend_.attention(*b.q, attentionShape_, mask_, cache, index, *b.attn);
    dump("kqv_out", index, *b.attn);
    backend_.matmul(*l.wo, *b.attn, n, *b.proj);
    dump("attn_out", index, *b.proj);
    if (!outputRows.empty()) { // the kept rows of the attention output and the residual, rows 0..k-1
        backend_.gatherRows(*b.proj, outputRows, config_.nEmbd, *b.attn);
        backend_.gatherRows(*b.x, outputRows, config_.nEmbd, *b.norm);
        std::swap(b.proj, b.attn);
        std::swap(b.x, b.norm);
        n = int(outputRows.size());
    }
    backend_.addRmsNorm(*b.proj, *b.x, *l.ffnNorm, n, config_.rmsEps, *b.norm);
    dump("ffn_inp", index, *b.x);
    dump("ffn_norm", index, *b.norm);
    const MatmulProduct gateUp[] = {{l.gate.get(), nullptr, b.gate.get()}, {l.up.get(), nullptr, b.up.get()}};
    backend_.matmuls(gateUp, *b.norm, n);
    dump("ffn_gate", index, *b.gate);
    dump("ffn_up", index, *b.up);
    backend_.swiglu(*b.gate, *b.up, *b.gate);
    dump("ffn_swiglu", index, *b.gate);
    backend_.matmul(*l.down, *b.gate, n, *b.proj);
    dump("ffn_out", index, *b.proj);
    if (index + 1 < config_.nLayers) // the residual add and the next layer's attention norm together
        backend_.addRmsNorm(*b.proj, *b.x, *layers_[size_t(index) + 1].attnNorm, n, config_.rmsEps, *b.norm);
    else
        backend_.add(*b.proj, *b.x, *b.x);
    dump("l_out", index, *b.x);
}

Transformer::Buffers& Transformer::buffers() {
    if (!buffers_.x)
        for (std::unique_ptr<Activations>* buffer :
             {&buffers_.x, &buffers_.norm, &buffers_.q, &buffers_.k, &buffers_.v, &buffers_.attn,
              &buffers_.proj, &buffers_.gate, &buffers_.up, &buffers_.logits})
            *buffer = backend_.makeActivations();
    return buffers_;
}

void Transformer::dump(std::string_view name, int layer, const Activations& values) {
    if (!debug_) return;
    dumpScratch_.resize(values.size());
    backend_.download(values, dumpScratch_);
    debug_(name, layer, dumpScratch_);
}

} // namespace lathe
