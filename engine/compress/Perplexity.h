#pragma once
// Perplexity of a model over a text, computed as llama.cpp's llama-perplexity does so that the figures
// compare: the whole text is tokenized once (with the model's BOS first when it adds one), cut into
// chunks of contextTokens tokens (the tail that does not fill a chunk is dropped), each chunk evaluated
// from an empty cache with its first token replaced by BOS (when the model adds one), and only the
// second half of each chunk scored: position j (first <= j < n - 1, first = n / 2) predicts token j + 1.
// The negative log-likelihood is summed in double from a float log-softmax (max in float, sum of
// expf in double), and the error is llama-perplexity's: ppl * sqrt((E[nll²] - E[nll]²) / (count - 1)).

#include "core/Cancel.h"
#include "core/Progress.h"

#include <cstdint>
#include <functional>
#include <span>
#include <vector>

namespace lathe {

class KvCache;
class LanguageModel;

struct PerplexitySettings {
    int contextTokens = 512; // llama-perplexity's -c
    int maxChunks = 0;       // 0: every whole chunk of the text (llama-perplexity's --chunks)
};

struct PerplexityResult {
    double perplexity = 0.0;
    double perplexityError = 0.0; // llama-perplexity's "+/-"
    double meanNll = 0.0;         // nats per scored token
    int chunks = 0;
    int64_t scoredTokens = 0;
    std::vector<double> runningPerplexity; // after each chunk, as llama-perplexity prints them
};

// tokens: the text's ids (BOS first when the model adds one); bos: the id that replaces each chunk's
// first token, or -1 for a model without BOS. `cache` must hold contextTokens; it is cleared.
// Throws lathe::Error (InvalidArgument) when the text has fewer than 2 x contextTokens tokens, as
// llama-perplexity refuses it, and Cancelled when `cancel` fires (between chunks).
PerplexityResult evaluatePerplexity(LanguageModel& model, KvCache& cache, std::span<const int32_t> tokens,
                                    int32_t bos, const PerplexitySettings& settings,
                                    const ProgressFn& progress = {}, const CancelToken& cancel = {});

// -log softmax(logits)[token] as llama-perplexity computes it.
double negativeLogLikelihood(std::span<const float> logits, int32_t token);

// A model against its base (the model it was compressed from) on the same scored positions.
struct BaseComparison {
    PerplexityResult model, base;
    double meanKl = 0.0;      // mean over scored positions of KL(base || model), in nats
    double klError = 0.0;     // standard error of that mean
    double top1Agreement = 0; // share of scored positions where both models' most likely token agree
};

// Runs both models over the chunks of evaluatePerplexity (same chunking, BOS and scored positions);
// the two must share a vocabulary. Each model uses its own cache.
BaseComparison compareWithBase(LanguageModel& model, KvCache& cache, LanguageModel& base, KvCache& baseCache,
                               std::span<const int32_t> tokens, int32_t bos,
                               const PerplexitySettings& settings, const ProgressFn& progress = {},
                               const CancelToken& cancel = {});

// KL(p || q) for p = softmax(baseLogits), q = softmax(logits), in double.
double klDivergence(std::span<const float> baseLogits, std::span<const float> logits);

} // namespace lathe
