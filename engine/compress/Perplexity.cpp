#include "compress/Perplexity.h"

#include "core/Error.h"
#include "model/Batch.h"
#include "model/KvCache.h"
#include "model/LanguageModel.h"

#include <algorithm>
#include <cmath>

namespace lathe {

double negativeLogLikelihood(std::span<const float> logits, int32_t token) {
    float maxLogit = logits[0];
    for (float v : logits)
        maxLogit = std::max(maxLogit, v);
    double sumExp = 0.0;
    for (float v : logits)
        sumExp += std::exp(v - maxLogit); // float exp, summed in double
    return -(double(logits[size_t(token)] - maxLogit) - std::log(sumExp));
}

PerplexityResult evaluatePerplexity(LanguageModel& model, KvCache& cache, std::span<const int32_t> tokens,
                                    int32_t bos, const PerplexitySettings& settings,
                                    const ProgressFn& progress, const CancelToken& cancel) {
    const int n = settings.contextTokens;
    if (n < 4) fail(ErrorCategory::InvalidArgument, "perplexity: a context of {} tokens is too short", n);
    if (int64_t(tokens.size()) < 2 * int64_t(n))
        fail(ErrorCategory::InvalidArgument,
             "perplexity: the text has {} tokens, but a context of {} needs at least {} (two chunks)",
             tokens.size(), n, 2 * int64_t(n));
    const int vocab = model.config().vocabSize;
    int chunks = int(int64_t(tokens.size()) / n);
    if (settings.maxChunks > 0) chunks = std::min(chunks, settings.maxChunks);
    const int first = n / 2;

    PerplexityResult result;
    double nll = 0.0, nll2 = 0.0;
    std::vector<float> logits;
    std::vector<int32_t> chunk(static_cast<size_t>(n));
    for (int c = 0; c < chunks; ++c) {
        cancel.throwIfCancelled();
        std::copy_n(tokens.begin() + int64_t(c) * n, n, chunk.begin());
        if (bos >= 0) chunk[0] = bos;
        Batch batch;
        for (int j = 0; j < n; ++j)
            batch.add(chunk[size_t(j)], j, 0, j >= first && j < n - 1);
        cache.clear();
        model.forward(batch, cache, logits);
        for (int j = first; j < n - 1; ++j) {
            const std::span<const float> row(logits.data() + size_t(j - first) * size_t(vocab),
                                             size_t(vocab));
            const double v = negativeLogLikelihood(row, tokens[size_t(int64_t(c) * n + j + 1)]);
            nll += v;
            nll2 += v * v;
        }
        result.scoredTokens += n - 1 - first;
        result.runningPerplexity.push_back(std::exp(nll / double(result.scoredTokens)));
        if (progress) progress(double(c + 1) / chunks, "perplexity");
    }
    cache.clear();
    const double count = double(result.scoredTokens);
    result.chunks = chunks;
    result.meanNll = nll / count;
    result.perplexity = std::exp(result.meanNll);
    const double variance = nll2 / count - result.meanNll * result.meanNll;
    result.perplexityError =
        variance > 0 && count > 1 ? std::sqrt(variance / (count - 1)) * result.perplexity : 0.0;
    return result;
}

} // namespace lathe
