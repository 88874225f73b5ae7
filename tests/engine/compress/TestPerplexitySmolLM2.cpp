// Perplexity of the default model on the default text against llama.cpp's llama-perplexity
// (tests/data/model/smollm2_perplexity.json, made by make_smollm2_perplexity.sh): within 1% of
// llama-perplexity's own settings (the bar), and within 1e-4 of the settings whose arithmetic
// Lathe's CPU path reproduces bit for bit. Skips without the default model.

#include "TestSupport.h"
#include "backend/cpu/CpuBackend.h"
#include "compress/Perplexity.h"
#include "io/ModelFiles.h"
#include "model/KvCache.h"
#include "model/Transformer.h"
#include "tokenizer/Tokenizer.h"

#include <QTest>
#include <cmath>
#include <nlohmann/json.hpp>

using namespace lathe;

class TestPerplexitySmolLM2 : public QObject {
    Q_OBJECT

private slots:
    void matchesLlamaPerplexity() {
        const auto modelPath = test::defaultModelPath();
        if (!modelPath) QSKIP(test::kNoDefaultModel);
        const nlohmann::json reference = nlohmann::json::parse(
            test::readFileText(test::testDataDir() / "model" / "smollm2_perplexity.json"));
        const std::string text = test::readFileText(std::filesystem::path(LATHE_TEST_DATA_DIR) / ".." / ".." /
                                                    "resources" / "text" / "gpl-3.0.txt");
        const ModelFiles files = openModelFiles(*modelPath);
        const Tokenizer tokenizer(files.tokenizer);
        auto backend = makeCpuBackend(2);
        Transformer model(files, *backend);
        const int ctx = reference["ctx"].get<int>();
        KvCache cache = model.makeCache(ctx);
        const std::vector<int32_t> tokens = tokenizer.encode(text, true, false);
        const PerplexityResult r =
            evaluatePerplexity(model, cache, tokens, tokenizer.spec().addBos ? tokenizer.bosId() : -1,
                               {ctx, reference["chunks"].get<int>()});
        const double llamaDefault = reference["default"]["ppl"].get<double>();
        const double llamaExact = reference["exact"]["ppl"].get<double>();
        qDebug("Lathe PPL %.4f +/- %.5f over %d chunks; llama-perplexity %.4f (its defaults), %.4f (exact "
               "settings)",
               r.perplexity, r.perplexityError, r.chunks, llamaDefault, llamaExact);
        QCOMPARE(r.chunks, reference["chunks"].get<int>());
        QVERIFY(std::fabs(r.perplexity / llamaDefault - 1.0) < 0.01);
        QVERIFY(std::fabs(r.perplexity / llamaExact - 1.0) < 1e-4); // the fixture keeps 4 decimals
        QVERIFY(std::fabs(r.perplexityError / reference["exact"]["error"].get<double>() - 1.0) < 1e-3);
    }
};

QTEST_APPLESS_MAIN(TestPerplexitySmolLM2)
#include "TestPerplexitySmolLM2.moc"
