// Every sampler rule against probabilities computed by hand from logits chosen as logs of simple
// probabilities (so softmax at temperature 1 gives them back exactly).

#include "core/Error.h"
#include "decode/Sampler.h"

#include <QtTest>
#include <cmath>
#include <map>

using namespace lathe;

namespace {

std::vector<float> logsOf(std::initializer_list<double> probs) {
    std::vector<float> out;
    for (double p : probs)
        out.push_back(float(std::log(p)));
    return out;
}

SamplingParams plain(float temperature = 1.0f) {
    return SamplingParams::unrestricted(temperature, 1234);
}

// Compares token ids in order and probabilities within 1e-5.
bool sameCandidates(const std::vector<TokenProb>& got, const std::vector<std::pair<int32_t, double>>& want) {
    if (got.size() != want.size()) {
        qWarning("got %zu candidates, want %zu", got.size(), want.size());
        return false;
    }
    for (size_t i = 0; i < got.size(); ++i)
        if (got[i].token != want[i].first || std::abs(double(got[i].prob) - want[i].second) > 1e-5) {
            qWarning("candidate %zu: got (%d, %f), want (%d, %f)", i, got[i].token, double(got[i].prob),
                     want[i].first, want[i].second);
            return false;
        }
    return true;
}

QString errorOf(const SamplingParams& params) {
    try {
        Sampler sampler(params);
    } catch (const Error& e) {
        return e.category() == ErrorCategory::InvalidArgument ? QString(e.what()) : QString("wrong category");
    }
    return {};
}

const std::vector<int32_t> kNoHistory;

} // namespace

class TestSampler : public QObject {
    Q_OBJECT
private slots:
    void plainSoftmaxReturnsTheProbabilities() {
        Sampler sampler(plain());
        QVERIFY(sameCandidates(sampler.candidates(logsOf({0.1, 0.4, 0.3, 0.2}), kNoHistory),
                               {{1, 0.4}, {2, 0.3}, {3, 0.2}, {0, 0.1}}));
    }

    void greedyPicksTheArgmaxAndTheLowestIdOnTies() {
        Sampler sampler(SamplingParams::greedy());
        const std::vector<float> logits{1.0f, 3.0f, 3.0f, 2.0f};
        QCOMPARE(sampler.sample(logits, kNoHistory), 1);
        QVERIFY(sameCandidates(sampler.candidates(logits, kNoHistory), {{1, 1.0}}));
        const std::vector<float> later{-5.0f, -1.0f, 0.5f, 0.5f, 0.5f};
        QCOMPARE(sampler.sample(later, kNoHistory), 2);
    }

    void topKKeepsTheKMostLikely() {
        SamplingParams p = plain();
        p.topK = 2;
        Sampler sampler(p);
        QVERIFY(sameCandidates(sampler.candidates(logsOf({0.1, 0.4, 0.3, 0.2}), kNoHistory),
                               {{1, 4.0 / 7}, {2, 3.0 / 7}}));
        p.topK = 1;
        QVERIFY(sameCandidates(Sampler(p).candidates(logsOf({0.1, 0.4, 0.3, 0.2}), kNoHistory), {{1, 1.0}}));
        p.topK = 10; // more than the vocabulary: everything stays
        QCOMPARE(Sampler(p).candidates(logsOf({0.1, 0.4, 0.3, 0.2}), kNoHistory).size(), size_t(4));
    }

    void topKBreaksTiesByLowestId() {
        SamplingParams p = plain();
        p.topK = 2;
        // tokens 1, 2, 3 tie: top-2 keeps 1 and 2
        QVERIFY(sameCandidates(Sampler(p).candidates(std::vector<float>{0.0f, 1.0f, 1.0f, 1.0f}, kNoHistory),
                               {{1, 0.5}, {2, 0.5}}));
    }

    void topPKeepsTheSmallestSetReachingP() {
        const std::vector<float> logits = logsOf({0.1, 0.4, 0.3, 0.2});
        SamplingParams p = plain();
        p.topP = 0.65f; // 0.4 < 0.65 <= 0.4 + 0.3
        QVERIFY(sameCandidates(Sampler(p).candidates(logits, kNoHistory), {{1, 4.0 / 7}, {2, 3.0 / 7}}));
        p.topP = 0.75f; // 0.7 < 0.75 <= 0.9
        QVERIFY(sameCandidates(Sampler(p).candidates(logits, kNoHistory),
                               {{1, 0.4 / 0.9}, {2, 0.3 / 0.9}, {3, 0.2 / 0.9}}));
        p.topP = 0.3f; // the most likely token alone reaches it
        QVERIFY(sameCandidates(Sampler(p).candidates(logits, kNoHistory), {{1, 1.0}}));
    }

    void minPIsRelativeToTheMostLikely() {
        const std::vector<float> logits = logsOf({0.1, 0.4, 0.3, 0.2});
        SamplingParams p = plain();
        p.minP = 0.6f; // threshold 0.24: keeps 0.4 and 0.3
        QVERIFY(sameCandidates(Sampler(p).candidates(logits, kNoHistory), {{1, 4.0 / 7}, {2, 3.0 / 7}}));
        p.minP = 0.45f; // threshold 0.18: keeps 0.4, 0.3, 0.2
        QVERIFY(sameCandidates(Sampler(p).candidates(logits, kNoHistory),
                               {{1, 0.4 / 0.9}, {2, 0.3 / 0.9}, {3, 0.2 / 0.9}}));
        p.minP = 1.0f; // only the maximum survives
        QVERIFY(sameCandidates(Sampler(p).candidates(logits, kNoHistory), {{1, 1.0}}));
    }

    void temperatureScalesTheLogits() {
        // logits 0, ln 2, ln 4: at T = 2 the weights are 1, sqrt 2, 2; at T = 0.5 they are 1, 4, 16
        const std::vector<float> logits = logsOf({1.0, 2.0, 4.0});
        const double s = 3.0 + std::sqrt(2.0);
        QVERIFY(sameCandidates(Sampler(plain(2.0f)).candidates(logits, kNoHistory),
                               {{2, 2.0 / s}, {1, std::sqrt(2.0) / s}, {0, 1.0 / s}}));
        QVERIFY(sameCandidates(Sampler(plain(0.5f)).candidates(logits, kNoHistory),
                               {{2, 16.0 / 21}, {1, 4.0 / 21}, {0, 1.0 / 21}}));
    }

    void repeatPenaltyDividesPositiveAndMultipliesNegativeLogits() {
        SamplingParams p = plain();
        p.repeatPenalty = 2.0f;
        const std::vector<float> logits{2.0f, -1.0f, 0.5f, 1.0f};
        const std::vector<int32_t> history{0, 1, 1, 0, 0};
        // penalised: {1.0, -2.0, 0.5, 1.0}; each token once, however often it was seen
        const double w0 = std::exp(1.0), w1 = std::exp(-2.0), w2 = std::exp(0.5), w3 = std::exp(1.0);
        const double s = w0 + w1 + w2 + w3;
        QVERIFY(sameCandidates(Sampler(p).candidates(logits, history),
                               {{0, w0 / s}, {3, w3 / s}, {2, w2 / s}, {1, w1 / s}}));

        std::vector<float> inPlace = logits;
        Sampler::applyRepeatPenalty(inPlace, history, 2.0f, 64);
        QCOMPARE(inPlace, (std::vector<float>{1.0f, -2.0f, 0.5f, 1.0f}));
    }

    void repeatPenaltyLooksOnlyAtTheLastNTokens() {
        std::vector<float> logits{2.0f, 2.0f, 2.0f, -2.0f};
        const std::vector<int32_t> history{0, 1, 3, 3}; // last 2: token 3 only
        Sampler::applyRepeatPenalty(logits, history, 4.0f, 2);
        QCOMPARE(logits, (std::vector<float>{2.0f, 2.0f, 2.0f, -8.0f}));
        std::vector<float> all{2.0f, 2.0f, 2.0f, -2.0f};
        Sampler::applyRepeatPenalty(all, history, 4.0f, -1);
        QCOMPARE(all, (std::vector<float>{0.5f, 0.5f, 2.0f, -8.0f}));
        std::vector<float> none{2.0f, 2.0f, 2.0f, -2.0f};
        Sampler::applyRepeatPenalty(none, history, 4.0f, 0);
        QCOMPARE(none, (std::vector<float>{2.0f, 2.0f, 2.0f, -2.0f}));
        std::vector<float> outOfVocab{1.0f};
        Sampler::applyRepeatPenalty(outOfVocab, std::vector<int32_t>{-1, 7}, 4.0f, -1);
        QCOMPARE(outOfVocab, std::vector<float>{1.0f});
    }

    void greedyAppliesThePenaltyFirst() {
        SamplingParams p = SamplingParams::greedy();
        p.repeatPenalty = 2.0f;
        Sampler sampler(p);
        // token 0 (3.0) is penalised to 1.5 and loses to token 2 (2.0)
        QCOMPARE(sampler.sample(std::vector<float>{3.0f, 1.0f, 2.0f}, std::vector<int32_t>{0}), 2);
    }

    void rulesRunInTheDocumentedOrder() {
        // top-k before top-p: top-3 of {.1,.4,.3,.2} renormalises to {4/9, 3/9, 2/9}; top-p 0.75 then
        // stops at 7/9. Top-p first would have kept three (0.7 < 0.75).
        SamplingParams p = plain();
        p.topK = 3;
        p.topP = 0.75f;
        QVERIFY(sameCandidates(Sampler(p).candidates(logsOf({0.1, 0.4, 0.3, 0.2}), kNoHistory),
                               {{1, 4.0 / 7}, {2, 3.0 / 7}}));

        // min-p before temperature: at T = 100 every token would pass min-p 0.5; applied first it drops 0.2.
        SamplingParams q = plain(100.0f);
        q.minP = 0.5f;
        const double a = std::pow(0.5, 0.01), b = std::pow(0.3, 0.01);
        QVERIFY(sameCandidates(Sampler(q).candidates(logsOf({0.5, 0.3, 0.2}), kNoHistory),
                               {{0, a / (a + b)}, {1, b / (a + b)}}));

        // penalty before top-k: token 0 drops from first to last and top-1 picks token 1
        SamplingParams r = plain();
        r.repeatPenalty = 10.0f;
        r.topK = 1;
        QVERIFY(sameCandidates(
            Sampler(r).candidates(std::vector<float>{3.0f, 1.0f, 0.5f}, std::vector<int32_t>{0}),
            {{1, 1.0}}));
    }

    void unusableLogitsNeverSurvive() {
        const std::vector<float> logits{NAN, -INFINITY, 0.0f, 0.0f};
        QVERIFY(sameCandidates(Sampler(plain()).candidates(logits, kNoHistory), {{2, 0.5}, {3, 0.5}}));
        const std::vector<float> dead{NAN, -INFINITY};
        QVERIFY_THROWS_EXCEPTION(Error, Sampler(plain()).candidates(dead, kNoHistory));
    }

    void sameSeedSameDraws() {
        const std::vector<float> logits = logsOf({0.1, 0.4, 0.3, 0.2});
        Sampler a(plain()), b(plain());
        SamplingParams other = plain();
        other.seed = 99;
        Sampler c(other);
        std::vector<int32_t> drawsA, drawsB, drawsC;
        for (int i = 0; i < 200; ++i) {
            drawsA.push_back(a.sample(logits, kNoHistory));
            drawsB.push_back(b.sample(logits, kNoHistory));
            drawsC.push_back(c.sample(logits, kNoHistory));
        }
        QCOMPARE(drawsA, drawsB);
        QVERIFY(drawsA != drawsC);
        a.reseed(1234);
        for (int i = 0; i < 200; ++i)
            QCOMPARE(a.sample(logits, kNoHistory), drawsB[size_t(i)]);
    }

    void drawsFollowTheProbabilities() {
        // Chi-square goodness of fit with 4 degrees of freedom; 40 is far beyond the 0.0001% tail
        // (18.5), and the seed is fixed, so this cannot flake.
        const std::vector<double> probs{0.05, 0.4, 0.3, 0.2, 0.05};
        std::vector<float> logits;
        for (double p : probs)
            logits.push_back(float(std::log(p)));
        SamplingParams params = plain();
        params.seed = 20240601;
        Sampler sampler(params);
        const int n = 20000;
        std::vector<int> counts(probs.size(), 0);
        for (int i = 0; i < n; ++i)
            ++counts[size_t(sampler.sample(logits, kNoHistory))];
        double chi2 = 0;
        for (size_t t = 0; t < probs.size(); ++t) {
            const double expected = n * probs[t];
            chi2 += (counts[t] - expected) * (counts[t] - expected) / expected;
        }
        QVERIFY2(chi2 < 40.0, qPrintable(QString("chi-square %1").arg(chi2)));

        // And after truncation: top-k 2 draws only tokens 1 and 2, in the ratio 4 : 3.
        params.topK = 2;
        Sampler truncated(params);
        std::map<int32_t, int> seen;
        for (int i = 0; i < 7000; ++i)
            ++seen[truncated.sample(logits, kNoHistory)];
        QCOMPARE(seen.size(), size_t(2));
        const double e1 = 4000, e2 = 3000;
        const double chi2k = (seen[1] - e1) * (seen[1] - e1) / e1 + (seen[2] - e2) * (seen[2] - e2) / e2;
        QVERIFY2(chi2k < 30.0, qPrintable(QString("chi-square %1").arg(chi2k)));
    }

    void validationNamesTheField() {
        SamplingParams p;
        p.temperature = -1.0f;
        QCOMPARE(errorOf(p), QString("temperature must be >= 0, got -1"));
        p = {};
        p.temperature = NAN;
        QVERIFY(errorOf(p).startsWith("temperature must be >= 0"));
        p = {};
        p.topK = -3;
        QCOMPARE(errorOf(p), QString("top-k must be >= 0 (0 = off), got -3"));
        p = {};
        p.topP = 0.0f;
        QCOMPARE(errorOf(p), QString("top-p must be in (0, 1] (1 = off), got 0"));
        p.topP = 1.5f;
        QCOMPARE(errorOf(p), QString("top-p must be in (0, 1] (1 = off), got 1.5"));
        p = {};
        p.minP = -0.5f;
        QCOMPARE(errorOf(p), QString("min-p must be in [0, 1] (0 = off), got -0.5"));
        p = {};
        p.repeatPenalty = 0.0f;
        QCOMPARE(errorOf(p), QString("repeat penalty must be > 0 (1 = off), got 0"));
        p = {};
        p.repeatLastN = -2;
        QCOMPARE(errorOf(p), QString("repeat-last-n must be >= -1 (-1 = whole history), got -2"));
        QCOMPARE(errorOf(SamplingParams{}), QString());
    }
};

QTEST_APPLESS_MAIN(TestSampler)
#include "TestSampler.moc"
