#pragma once
// The plain decoding strategy: prefill the prompt, then run the model one token at a time, sampling
// each next token from the last row's logits.
//
// The generator keeps one sequence (seqId) of the KV cache and remembers which tokens it holds.
// A new request truncates the cache to the longest common prefix of those tokens and the new prompt
// and prefills only the rest, so a multi-turn chat does not re-run its history. At least one prompt
// token is always run again, because the logits of the last prompt token are needed to sample.

#include "decode/Generator.h"
#include "model/KvCache.h"
#include "model/LanguageModel.h"

#include <cstdint>
#include <vector>

namespace lathe {

class Tokenizer;

class AutoregressiveGenerator : public Generator {
public:
    static constexpr int kDefaultPrefillChunk = 256; // rows per prefill Batch

    // All three must outlive the generator. The generator owns sequence seqId of the cache: anyone
    // else who changes it makes the generator start that sequence afresh on its next request.
    AutoregressiveGenerator(LanguageModel& model, const Tokenizer& tokenizer, KvCache& cache,
                            int32_t seqId = 0);

    // Throws lathe::Error (InvalidArgument) for a bad request (empty prompt, a token outside the
    // vocabulary, bad sampling parameters, an empty stop string). Running out of context is not an
    // error: it ends with StopReason::ContextFull. Every token event's text, concatenated, equals
    // the result's text, except after a cancel, whose held-back text only the result carries.
    GenerationResult generate(const GenerationRequest& request, const TokenCallback& onToken,
                              const CancelToken& cancel) override;

    // Tokens of seqId currently in the cache (the prompt and all generated tokens but the last).
    const std::vector<int32_t>& cachedTokens() const { return cached_; }
    // Drops the sequence from the cache; the next request prefills its whole prompt.
    void forgetCache();
    void setPrefillChunk(int rows); // >= 1

private:
    void validate(const GenerationRequest& request) const;
    // Forgets what it believed was cached when the cache no longer agrees.
    void syncWithCache();
    // Whether `count` more tokens fit both the cache and the model's context length.
    bool hasRoomFor(size_t count) const;
    // Runs the model and records the rows as cached; on failure drops any rows it half-appended.
    void run(const Batch& batch);

    LanguageModel& model_;
    const Tokenizer& tokenizer_;
    KvCache& cache_;
    int32_t seqId_;
    int prefillChunk_ = kDefaultPrefillChunk;
    std::vector<int32_t> cached_;
    std::vector<float> logits_; // [1][vocabSize]: the last run's logits
};

} // namespace lathe
