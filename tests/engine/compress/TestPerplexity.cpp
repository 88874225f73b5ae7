// evaluatePerplexity against a direct computation of llama-perplexity's rules, with a scripted model
// whose logits are known: chunking (the tail dropped), BOS in each chunk's first slot, an empty cache
// per chunk, only the second half of each chunk scored, and the error estimate.

#include "compress/Perplexity.h"
#include "core/Error.h"
#include "model/Batch.h"
#include "model/KvCache.h"
#include "model/LanguageModel.h"

#include <QTest>
#include <cmath>

using namespace lathe;

namespace {

constexpr int kVocab = 8;

// Logits favour (token + 1) % 8 as the next token, more so later in the chunk.
std::vector<float> logitsAfter(int32_t token, int position) {
    std::vector<float> row(kVocab, 0.0f);
    row[size_t((token + 1) % kVocab)] = 1.0f + 0.01f * float(position);
    row[size_t((token + 3) % kVocab)] = -0.5f;
    return row;
}

class ScriptedModel : public LanguageModel {
public:
    ScriptedModel() {
        config_.vocabSize = kVocab;
        config_.nLayers = 1;
        config_.nEmbd = 4;
        config_.nHeads = 1;
        config_.nHeadsKv = 1;
        config_.headDim = 4;
    }
    const ModelConfig& config() const override { return config_; }
    void forward(const Batch& batch, KvCache& cache, std::vector<float>& logits) override {
        batches.push_back(batch);
        cacheLengthsBefore.push_back(cache.length(0));
        cache.append(0, batch.size());
        logits.clear();
        for (int row : batch.logitRows) {
            const std::vector<float> r = logitsAfter(batch.tokens[size_t(row)], batch.positions[size_t(row)]);
            logits.insert(logits.end(), r.begin(), r.end());
        }
    }
    std::vector<Batch> batches;
    std::vector<int> cacheLengthsBefore;

private:
    ModelConfig config_;
};

double directNll(const std::vector<float>& row, int32_t target) {
    double sum = 0.0;
    for (float v : row)
        sum += std::exp(double(v));
    return std::log(sum) - double(row[size_t(target)]);
}

} // namespace

class TestPerplexity : public QObject {
    Q_OBJECT

private slots:
    void followsLlamaPerplexityRules() {
        std::vector<int32_t> tokens = {7}; // BOS
        for (int i = 1; i < 70; ++i)
            tokens.push_back(int32_t((i * i + i / 3) % 7)); // some predictable steps, some not
        ScriptedModel model;
        KvCache cache(model.config(), 64, 4);
        const PerplexityResult r = evaluatePerplexity(model, cache, tokens, 7, {16, 0});

        QCOMPARE(r.chunks, 4); // 70 / 16: the last 6 tokens are dropped
        QCOMPARE(r.scoredTokens, int64_t(4 * 7));
        QCOMPARE(model.batches.size(), size_t(4));
        double nll = 0.0, nll2 = 0.0;
        for (int c = 0; c < 4; ++c) {
            const Batch& b = model.batches[size_t(c)];
            QCOMPARE(model.cacheLengthsBefore[size_t(c)], 0);
            QCOMPARE(b.size(), 16);
            QCOMPARE(b.tokens[0], 7); // BOS replaces each chunk's first token
            for (int j = 1; j < 16; ++j) {
                QCOMPARE(b.tokens[size_t(j)], tokens[size_t(c * 16 + j)]);
                QCOMPARE(b.positions[size_t(j)], j);
            }
            QCOMPARE(b.logitRows, (std::vector<int32_t>{8, 9, 10, 11, 12, 13, 14}));
            for (int j = 8; j < 15; ++j) {
                const double v =
                    directNll(logitsAfter(b.tokens[size_t(j)], j), tokens[size_t(c * 16 + j + 1)]);
                nll += v;
                nll2 += v * v;
            }
            QVERIFY(std::fabs(r.runningPerplexity[size_t(c)] - std::exp(nll / (7.0 * (c + 1)))) < 1e-6);
        }
        const double mean = nll / 28.0;
        QVERIFY(std::fabs(r.perplexity - std::exp(mean)) < 1e-6);
        QVERIFY(std::fabs(r.perplexityError -
                          std::exp(mean) * std::sqrt((nll2 / 28.0 - mean * mean) / 27.0)) < 1e-6);
        QCOMPARE(cache.length(0), 0);
    }

    void uniformLogitsGiveTheVocabularySize() {
        class Uniform : public ScriptedModel {
        public:
            void forward(const Batch& batch, KvCache& cache, std::vector<float>& logits) override {
                cache.append(0, batch.size());
                logits.assign(batch.logitRows.size() * kVocab, 0.25f);
            }
        } model;
        std::vector<int32_t> tokens(40, 3);
        KvCache cache(model.config(), 64, 4);
        const PerplexityResult r = evaluatePerplexity(model, cache, tokens, -1, {8, 3});
        QCOMPARE(r.chunks, 3); // --chunks caps the 5 whole chunks
        QVERIFY(std::fabs(r.perplexity - kVocab) < 1e-9);
        QCOMPARE(r.perplexityError, 0.0);
    }

    void klDivergenceOfKnownDistributions() {
        // p = (1/4, 3/4), q = (1/2, 1/2): KL = 1/4 ln(1/2) + 3/4 ln(3/2).
        const std::vector<float> p = {0.0f, std::log(3.0f)}, q = {5.0f, 5.0f};
        QVERIFY(std::fabs(klDivergence(p, q) - (0.25 * std::log(0.5) + 0.75 * std::log(1.5))) < 1e-7);
        QCOMPARE(klDivergence(p, p), 0.0);
    }

    void comparesAModelWithItsBase() {
        std::vector<int32_t> tokens;
        for (int i = 0; i < 48; ++i)
            tokens.push_back(int32_t((i * 5) % 7));
        ScriptedModel model, base;
        KvCache cache(model.config(), 64, 4), baseCache(base.config(), 64, 4);
        const BaseComparison same = compareWithBase(model, cache, base, baseCache, tokens, -1, {16, 0});
        QCOMPARE(same.meanKl, 0.0);
        QCOMPARE(same.top1Agreement, 1.0);
        QCOMPARE(same.model.perplexity, same.base.perplexity);
        QCOMPARE(same.model.perplexity, evaluatePerplexity(model, cache, tokens, -1, {16, 0}).perplexity);

        // A model that always favours the base's least likely token: no top-1 agreement, and the mean
        // KL is that of the two fixed rows.
        class Contrary : public ScriptedModel {
        public:
            void forward(const Batch& batch, KvCache& cache, std::vector<float>& logits) override {
                cache.append(0, batch.size());
                logits.clear();
                for (int row : batch.logitRows) {
                    std::vector<float> r =
                        logitsAfter(batch.tokens[size_t(row)], batch.positions[size_t(row)]);
                    std::swap(r[size_t((batch.tokens[size_t(row)] + 1) % kVocab)],
                              r[size_t((batch.tokens[size_t(row)] + 3) % kVocab)]);
                    logits.insert(logits.end(), r.begin(), r.end());
                }
            }
        } contrary;
        const BaseComparison other = compareWithBase(contrary, cache, base, baseCache, tokens, -1, {16, 0});
        QCOMPARE(other.top1Agreement, 0.0);
        double kl = 0.0;
        for (int c = 0; c < 3; ++c)
            for (int j = 8; j < 15; ++j) {
                const int32_t t = tokens[size_t(c * 16 + j)];
                std::vector<float> p = logitsAfter(t, j), q = p;
                std::swap(q[size_t((t + 1) % kVocab)], q[size_t((t + 3) % kVocab)]);
                kl += klDivergence(p, q);
            }
        QVERIFY(std::fabs(other.meanKl - kl / 21.0) < 1e-12);
        QVERIFY(other.meanKl > 0.1);
    }

    void refusesTooShortATextAndStopsWhenCancelled() {
        ScriptedModel model;
        KvCache cache(model.config(), 64, 4);
        const std::vector<int32_t> shortText(31, 1);
        QVERIFY_THROWS_EXCEPTION(Error, evaluatePerplexity(model, cache, shortText, -1, {16, 0}));
        CancelToken cancel;
        cancel.cancel();
        const std::vector<int32_t> text(64, 1);
        QVERIFY_THROWS_EXCEPTION(Error, evaluatePerplexity(model, cache, text, -1, {16, 0}, {}, cancel));
        QVERIFY(model.batches.empty());
    }
};

QTEST_APPLESS_MAIN(TestPerplexity)
#include "TestPerplexity.moc"
