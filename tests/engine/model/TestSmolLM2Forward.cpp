// The real default model on the CPU backend against llama.cpp (tests/data/model/smollm2_generation.json,
// made by make_smollm2_generation.py): the greedy continuation of every prompt must be token-for-token
// llama.cpp's, and the last prompt position's logits must agree closely.

#include "TestSupport.h"
#include "backend/cpu/CpuBackend.h"
#include "io/ModelFiles.h"
#include "model/Transformer.h"

#include <QtTest>
#include <algorithm>
#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>
#include <numeric>

using namespace lathe;

namespace {

std::vector<int32_t> topK(std::span<const float> logits, int k) {
    std::vector<int32_t> ids(logits.size());
    std::iota(ids.begin(), ids.end(), 0);
    std::partial_sort(ids.begin(), ids.begin() + k, ids.end(),
                      [&](int32_t a, int32_t b) { return logits[size_t(a)] > logits[size_t(b)]; });
    ids.resize(size_t(k));
    return ids;
}

int32_t argmax(std::span<const float> logits) {
    return int32_t(std::max_element(logits.begin(), logits.end()) - logits.begin()); // first of ties
}

} // namespace

class TestSmolLM2Forward : public QObject {
    Q_OBJECT
private slots:
    void matchesLlamaCpp() {
        const auto modelPath = test::defaultModelPath();
        if (!modelPath) QSKIP(test::kNoDefaultModel);
        const std::filesystem::path dir = test::testDataDir() / "model";
        const nlohmann::json fixture =
            nlohmann::json::parse(test::readFileText(dir / "smollm2_generation.json"));
        const int vocab = fixture.at("vocab_size").get<int>();
        const std::string logitBytes = test::readFileText(dir / fixture.at("logits_file").get<std::string>());
        const auto& prompts = fixture.at("prompts");
        QCOMPARE(logitBytes.size(), prompts.size() * size_t(vocab) * sizeof(float));
        const auto* referenceLogits = reinterpret_cast<const float*>(logitBytes.data());
        const std::vector<int32_t> eos = fixture.at("settings").at("eos_tokens").get<std::vector<int32_t>>();

        const ModelFiles files = openModelFiles(*modelPath);
        auto backend = makeCpuBackend(2);
        Transformer model(files, *backend);
        QCOMPARE(model.config().vocabSize, vocab);
        KvCache cache = model.makeCache(512);

        QString failures; // every prompt runs, so one report shows them all
        double worstDiff = 0;
        int worstOverlap = 10;
        for (size_t p = 0; p < prompts.size(); ++p) {
            const auto& prompt = prompts[p];
            const std::string name = prompt.at("name").get<std::string>();
            const auto promptTokens = prompt.at("prompt_tokens").get<std::vector<int32_t>>();
            const auto expected = prompt.at("generated_tokens").get<std::vector<int32_t>>();
            cache.clear();
            std::vector<float> logits;
            model.forward(Batch::sequence(promptTokens, 0, 0), cache, logits);

            const std::span<const float> reference(referenceLogits + p * size_t(vocab), size_t(vocab));
            double diff = 0;
            for (int i = 0; i < vocab; ++i)
                diff = std::max(diff, std::fabs(double(logits[size_t(i)]) - double(reference[size_t(i)])));
            const std::vector<int32_t> ours = topK(logits, 10), theirs = topK(reference, 10);
            const int overlap = int(std::count_if(ours.begin(), ours.end(), [&](int32_t id) {
                return std::find(theirs.begin(), theirs.end(), id) != theirs.end();
            }));
            qDebug("%-14s prompt %3zu tokens: max |logit - llama.cpp| = %.4g, top-10 overlap %d/10",
                   name.c_str(), promptTokens.size(), diff, overlap);
            worstDiff = std::max(worstDiff, diff);
            worstOverlap = std::min(worstOverlap, overlap);
            QCOMPARE(ours[0], theirs[0]);
            QVERIFY2(overlap >= 8, name.c_str());
            QVERIFY2(diff < 1.5,
                     qPrintable(QStringLiteral("%1: max logit difference %2").arg(name.c_str()).arg(diff)));

            std::vector<int32_t> generated;
            int32_t position = int32_t(promptTokens.size());
            while (generated.size() < expected.size()) {
                const int32_t token = argmax(logits);
                generated.push_back(token);
                if (std::find(eos.begin(), eos.end(), token) != eos.end()) break;
                if (generated.size() == expected.size()) break;
                model.forward(Batch::sequence({token}, position++, 0), cache, logits);
            }
            if (generated != expected) {
                size_t first = 0;
                while (first < generated.size() && generated[first] == expected[first])
                    ++first;
                failures += QStringLiteral("%1 at step %2 (ours %3, llama.cpp %4); ")
                                .arg(name.c_str())
                                .arg(first)
                                .arg(first < generated.size() ? generated[first] : -1)
                                .arg(first < expected.size() ? expected[first] : -1);
            }
            qDebug("%-14s greedy tokens %s", name.c_str(), generated == expected ? "equal" : "DIFFER");
        }
        qDebug("worst max logit difference %.4g, worst top-10 overlap %d/10 over %zu prompts", worstDiff,
               worstOverlap, prompts.size());
        if (!failures.isEmpty()) QFAIL(qPrintable("greedy tokens differ from llama.cpp: " + failures));
    }
};

QTEST_APPLESS_MAIN(TestSmolLM2Forward)
#include "TestSmolLM2Forward.moc"
