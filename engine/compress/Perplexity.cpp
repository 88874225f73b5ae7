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

namespace {

// The chunk walk both evaluations share: for each chunk, every model runs its batch from an empty
// cache, then `score(chunk, logitsPerModel)` sees the logits of the scored positions.
using ChunkScorer = std::function<void(int chunk, const std::vector<std::vector<float>>& logits)>;

int walkChunks(std::span<LanguageModel* const> models, std::span<KvCache* const> caches,
               std::span<const int32_t> tokens, int32_t bos, const PerplexitySettings& settings,
               const ProgressFn& progress, const CancelToken& cancel, const ChunkScorer& score) {
    const int n = settings.contextTokens;
    if (n < 4) fail(ErrorCategory::InvalidArgument, "perplexity: a context of {} tokens is too short", n);
    if (int64_t(tokens.size()) < 2 * int64_t(n))
        fail(ErrorCategory::InvalidArgument,
             "perplexity: the text has {} tokens, but a context of {} needs at least {} (two chunks)",
             tokens.size(), n, 2 * int64_t(n));
    int chunks = int(int64_t(tokens.size()) / n);
    if (settings.maxChunks > 0) chunks = std::min(chunks, settings.maxChunks);
    const int first = n / 2;
    Batch batch;
    for (int j = 0; j < n; ++j)
        batch.add(tokens[size_t(j)], j, 0, j >= first && j < n - 1);
    std::vector<std::vector<float>> logits(models.size());
    for (int c = 0; c < chunks; ++c) {
        cancel.throwIfCancelled();
        std::copy_n(tokens.begin() + int64_t(c) * n, n, batch.tokens.begin());
        if (bos >= 0) batch.tokens[0] = bos;
        for (size_t m = 0; m < models.size(); ++m) {
            caches[m]->clear();
            models[m]->forward(batch, *caches[m], logits[m]);
        }
        score(c, logits);
        if (progress) progress(double(c + 1) / chunks, "evaluation");
    }
    for (KvCache* cache : caches)
        cache->clear();
    return chunks;
}

// Running sums of one model's negative log-likelihood.
struct NllSums {
    double nll = 0.0, nll2 = 0.0;
    PerplexityResult result;
    void add(double v) {
        nll += v;
        nll2 += v * v;
        ++result.scoredTokens;
    }
    void endChunk() { result.runningPerplexity.push_back(std::exp(nll / double(result.scoredTokens))); }
    PerplexityResult finish(int chunks) {
        const double count = double(result.scoredTokens);
        result.chunks = chunks;
        result.meanNll = nll / count;
        result.perplexity = std::exp(result.meanNll);
        const double variance = nll2 / count - result.meanNll * result.meanNll;
        result.perplexityError =
            variance > 0 && count > 1 ? std::sqrt(variance / (count - 1)) * result.perplexity : 0.0;
        return result;
    }
};

} // namespace

PerplexityResult evaluatePerplexity(LanguageModel& model, KvCache& cache, std::span<const int32_t> tokens,
                                    int32_t bos, const PerplexitySettings& settings,
                                    const ProgressFn& progress, const CancelToken& cancel) {
    const int n = settings.contextTokens, first = n / 2;
    const size_t vocab = size_t(model.config().vocabSize);
    NllSums sums;
    LanguageModel* models[] = {&model};
    KvCache* caches[] = {&cache};
    const int chunks = walkChunks(
        models, caches, tokens, bos, settings, progress, cancel,
        [&](int c, const std::vector<std::vector<float>>& logits) {
            for (int j = first; j < n - 1; ++j)
                sums.add(negativeLogLikelihood(std::span(logits[0].data() + size_t(j - first) * vocab, vocab),
                                               tokens[size_t(int64_t(c) * n + j + 1)]));
            sums.endChunk();
        });
    return sums.finish(chunks);
}

double klDivergence(std::span<const float> baseLogits, std::span<const float> logits) {
    auto logSumExp = [](std::span<const float> v) {
        const float m = *std::max_element(v.begin(), v.end());
        double sum = 0.0;
        for (float x : v)
            sum += std::exp(double(x) - m);
        return double(m) + std::log(sum);
    };
    const double lp = logSumExp(baseLogits), lq = logSumExp(logits);
    double kl = 0.0;
    for (size_t i = 0; i < logits.size(); ++i) {
        const double logP = double(baseLogits[i]) - lp;
        kl += std::exp(logP) * (logP - (double(logits[i]) - lq));
    }
    return std::max(kl, 0.0);
}

BaseComparison compareWithBase(LanguageModel& model, KvCache& cache, LanguageModel& base, KvCache& baseCache,
                               std::span<const int32_t> tokens, int32_t bos,
                               const PerplexitySettings& settings, const ProgressFn& progress,
                               const CancelToken& cancel) {
    if (model.config().vocabSize != base.config().vocabSize)
        fail(ErrorCategory::InvalidArgument, "the model has {} tokens in its vocabulary but the base has {}",
             model.config().vocabSize, base.config().vocabSize);
    const int n = settings.contextTokens, first = n / 2;
    const size_t vocab = size_t(model.config().vocabSize);
    NllSums modelSums, baseSums;
    double kl = 0.0, kl2 = 0.0;
    int64_t agree = 0, count = 0;
    LanguageModel* models[] = {&model, &base};
    KvCache* caches[] = {&cache, &baseCache};
    const int chunks = walkChunks(
        models, caches, tokens, bos, settings, progress, cancel,
        [&](int c, const std::vector<std::vector<float>>& logits) {
            for (int j = first; j < n - 1; ++j) {
                const std::span<const float> q(logits[0].data() + size_t(j - first) * vocab, vocab);
                const std::span<const float> p(logits[1].data() + size_t(j - first) * vocab, vocab);
                const int32_t next = tokens[size_t(int64_t(c) * n + j + 1)];
                modelSums.add(negativeLogLikelihood(q, next));
                baseSums.add(negativeLogLikelihood(p, next));
                const double d = klDivergence(p, q);
                kl += d;
                kl2 += d * d;
                agree += std::max_element(q.begin(), q.end()) - q.begin() ==
                         std::max_element(p.begin(), p.end()) - p.begin();
                ++count;
            }
            modelSums.endChunk();
            baseSums.endChunk();
        });
    BaseComparison r;
    r.model = modelSums.finish(chunks);
    r.base = baseSums.finish(chunks);
    r.meanKl = kl / double(count);
    const double variance = kl2 / double(count) - r.meanKl * r.meanKl;
    r.klError = variance > 0 && count > 1 ? std::sqrt(variance / double(count - 1)) : 0.0;
    r.top1Agreement = double(agree) / double(count);
    return r;
}

} // namespace lathe
