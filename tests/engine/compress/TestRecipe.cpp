// Recipes end to end on a tiny synthetic model (compress/Recipe, workbench/VariantBuilder): each method
// writes a model that loads and runs, stored in the formats its grid implies; a JSON recipe round-trips
// and bad ones are refused naming the field; structured pruning shrinks the FFN and the model still
// runs; a cancelled job leaves no file and no variant row, and a finished one is recorded with its
// parent, recipe and measurements.

#include "CompressTestModel.h"
#include "TestSupport.h"
#include "compress/EditableModel.h"
#include "compress/Recipe.h"
#include "core/Error.h"
#include "io/GgufReader.h"
#include "io/Quants.h"
#include "store/RunStore.h"
#include "workbench/VariantBuilder.h"

#include <QTest>
#include <cmath>
#include <fstream>
#include <iterator>

using namespace lathe;

namespace {

Recipe recipeOf(const nlohmann::json& step, const std::string& storage = "q8_0") {
    Recipe r = Recipe::fromJson({{"steps", {step}}, {"storage", storage}});
    r.calibration.tokens = 128; // two chunks of 64: enough for a model 64 wide
    r.calibration.contextTokens = 64;
    return r;
}

// Share of exact zeros over the block matrices of a written model.
double blockSparsity(const GgufFile& gguf) {
    int64_t zeros = 0, total = 0;
    std::vector<float> row;
    for (const TensorView& t : gguf.tensors()) {
        if (t.name.rfind("blk.", 0) != 0 || t.nDims != 2) continue;
        row.resize(size_t(t.rowLength()));
        for (int64_t r = 0; r < t.rowCount(); ++r) {
            dequantizeRow(t.dtype, t.row(r), row.data(), t.rowLength());
            zeros += std::count(row.begin(), row.end(), 0.0f);
        }
        total += t.elementCount();
    }
    return double(zeros) / double(total);
}

int filesIn(const std::filesystem::path& dir) {
    int n = 0;
    for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator(dir))
        ++n;
    return n;
}

} // namespace

class TestRecipe : public QObject {
    Q_OBJECT

private slots:
    void jsonRoundTripsAndBadRecipesAreRefused() {
        const nlohmann::json json = {
            {"name", "wanda + gptq"},
            {"steps",
             {{{"method", "wanda"}, {"pattern", "2:4"}},
              {{"method", "gptq"}, {"bits", 4}, {"group", 64}, {"symmetric", true}, {"act_order", false}}}},
            {"calibration", {{"tokens", 256}, {"ctx", 128}}}};
        const Recipe r = Recipe::fromJson(json);
        QCOMPARE(r.steps.size(), size_t(2));
        QCOMPARE(r.steps[0].patternN, 2);
        QCOMPARE(r.steps[0].patternM, 4);
        QCOMPARE(r.steps[1].quant.group, 64);
        QVERIFY(!r.steps[1].actOrder);
        QCOMPARE(r.describe(), std::string("wanda 2:4 + gptq w4 g64 sym"));
        const Recipe again = Recipe::fromJson(r.toJson());
        QCOMPARE(again.toJson().dump(), r.toJson().dump());

        auto refused = [](const nlohmann::json& j, const char* needle) {
            try {
                Recipe::fromJson(j);
            } catch (const Error& e) {
                return std::string(e.what()).find(needle) != std::string::npos;
            }
            return false;
        };
        QVERIFY(refused({{"steps", nlohmann::json::array()}}, "steps"));
        QVERIFY(refused({{"steps", {{{"method", "zip"}}}}}, "unknown method"));
        QVERIFY(refused({{"steps", {{{"method", "rtn"}}, {{"method", "wanda"}}}}}, "must be the last step"));
        QVERIFY(refused({{"steps", {{{"method", "wanda"}}, {{"method", "rtn"}, {"symmetric", false}}}}},
                        "asymmetric"));
        QVERIFY(refused({{"steps", {{{"method", "rtn"}, {"bits", 5}}}}}, "bits"));
        QVERIFY(refused({{"steps", {{{"method", "wanda"}, {"pattern", "two of four"}}}}}, "pattern"));
        QVERIFY(refused({{"steps", {{{"method", "rtn"}, {"bits", "four"}}}}}, "wrong type"));
    }

    void everyMethodWritesARunnableModel_data() {
        QTest::addColumn<QString>("step");
        QTest::addColumn<int>("matrixFormat");
        QTest::addColumn<double>("minSparsity");
        QTest::newRow("rtn w8") << R"({"method": "rtn", "bits": 8, "group": 0})" << int(DType::Q8_0) << 0.0;
        QTest::newRow("rtn w4 asym") << R"({"method": "rtn", "bits": 4, "group": 32})" << int(DType::Q4_1)
                                     << 0.0;
        QTest::newRow("gptq w4 sym") << R"({"method": "gptq", "bits": 4, "group": 32, "symmetric": true})"
                                     << int(DType::Q4_0) << 0.0;
        QTest::newRow("awq w4") << R"({"method": "awq", "bits": 4, "group": 32, "grid": 5})"
                                << int(DType::Q4_1) << 0.0;
        QTest::newRow("smoothquant") << R"({"method": "smoothquant", "alpha": 0.5})" << int(DType::Q8_0)
                                     << 0.0;
        QTest::newRow("magnitude 50%")
            << R"({"method": "magnitude", "sparsity": 0.5})" << int(DType::Q8_0) << 0.5;
        QTest::newRow("wanda 2:4") << R"({"method": "wanda", "pattern": "2:4"})" << int(DType::Q8_0) << 0.5;
        QTest::newRow("sparsegpt 50%")
            << R"({"method": "sparsegpt", "sparsity": 0.5})" << int(DType::Q8_0) << 0.5;
    }
    void everyMethodWritesARunnableModel() {
        QFETCH(QString, step);
        QFETCH(int, matrixFormat);
        QFETCH(double, minSparsity);
        test::TempDir dir;
        const auto parent = test::writeTinyModel(dir.file("tiny.gguf"));
        const Recipe recipe = recipeOf(nlohmann::json::parse(step.toStdString()));
        const CompressionReport report = applyRecipe(parent, recipe, dir.file("out.gguf"), 2);
        QVERIFY(report.outputBytes > 0);
        const GgufFile out = GgufFile::open(dir.file("out.gguf"));
        for (const TensorView& t : out.tensors())
            if (t.name.rfind("blk.", 0) == 0 && t.nDims == 2) QCOMPARE(int(t.dtype), matrixFormat);
        QVERIFY(out.getString("lathe.recipe").has_value());
        QVERIFY(blockSparsity(out) >= minSparsity - 1e-9);
        if (minSparsity > 0) QVERIFY(std::fabs(report.sparsity - blockSparsity(out)) < 1e-12);
        if (recipe.steps[0].method == CompressMethod::SmoothQuant)
            QCOMPARE(out.getString("lathe.activation_quantization").value_or(""),
                     std::string("per_token_int8"));
        // It loads and runs, and stays close to its parent.
        const std::vector<float> logits = test::promptLogits(openModelFiles(dir.file("out.gguf")));
        const std::vector<float> parentLogits = test::promptLogits(openModelFiles(parent));
        for (float v : logits)
            QVERIFY(std::isfinite(v));
        const double diff = test::relativeMaxDifference(logits, parentLogits);
        qInfo("%s: relative max logit difference to the parent %.3g", QTest::currentDataTag(), diff);
        QVERIFY(diff < 1.0);
    }

    // A pruning step keeps each finished layer encoded in the storage format instead of floats: the
    // written file is the same byte for byte, and a later step reads the values as that format holds them.
    void compactedLayersWriteTheSameFile() {
        test::TempDir dir;
        const auto parent = test::writeTinyModel(dir.file("tiny.gguf"));
        EditableModel floats(parent), compacted(parent);
        for (EditableModel* model : {&floats, &compacted})
            for (int l = 0; l < model->config().nLayers; ++l)
                for (BlockMatrix which : kBlockMatrices) {
                    FloatMatrix& m = model->matrix(l, which);
                    for (size_t i = 0; i < m.values.size(); i += 3)
                        m.values[i] = 0.0f;
                }
        compacted.compact(0, DType::Q8_0);
        compacted.compact(1, DType::Q8_0);
        floats.write(dir.file("floats.gguf"), DType::Q8_0);
        compacted.write(dir.file("compacted.gguf"), DType::Q8_0);
        QCOMPARE(std::filesystem::file_size(dir.file("compacted.gguf")),
                 std::filesystem::file_size(dir.file("floats.gguf")));
        std::ifstream a(dir.file("floats.gguf"), std::ios::binary),
            b(dir.file("compacted.gguf"), std::ios::binary);
        QVERIFY(std::equal(std::istreambuf_iterator<char>(a), {}, std::istreambuf_iterator<char>(b)));
        // Decoded again, a matrix holds what Q8_0 holds: zeros stay zero.
        const FloatMatrix& q = compacted.matrix(1, BlockMatrix::AttnQ);
        const FloatMatrix& f = floats.matrix(1, BlockMatrix::AttnQ);
        std::vector<uint8_t> row(rowBytes(DType::Q8_0, uint64_t(f.cols)));
        std::vector<float> expected(size_t(f.cols));
        for (int64_t r = 0; r < f.rows; ++r) {
            quantizeRow(DType::Q8_0, f.values.data() + r * f.cols, row.data(), f.cols);
            dequantizeRow(DType::Q8_0, row.data(), expected.data(), f.cols);
            for (int64_t c = 0; c < f.cols; ++c)
                QCOMPARE(q.values[size_t(r * f.cols + c)], expected[size_t(c)]);
        }
    }

    void structuredPruningShrinksTheFfnAndTheModelRuns() {
        test::TempDir dir;
        const auto parent = test::writeTinyModel(dir.file("tiny.gguf"));
        applyRecipe(parent, recipeOf({{"method", "ffn_channels"}, {"sparsity", 0.33}}), dir.file("out.gguf"),
                    2);
        const ModelFiles files = openModelFiles(dir.file("out.gguf"));
        // 96 channels less a third is 64, a whole number of blocks of 32.
        for (int l = 0; l < files.config.nLayers; ++l) {
            QCOMPARE(files.config.ffOf(l), 64);
            QCOMPARE(files.tensor("blk." + std::to_string(l) + ".ffn_down.weight").rowLength(), int64_t(64));
        }
        for (float v : test::promptLogits(files))
            QVERIFY(std::isfinite(v));
    }

    void cancelLeavesNoFile() {
        test::TempDir dir;
        const auto parent = test::writeTinyModel(dir.file("tiny.gguf"));
        for (const char* step : {R"({"method": "gptq", "bits": 4, "group": 32, "symmetric": true})",
                                 R"({"method": "wanda", "sparsity": 0.5})"}) {
            CancelToken cancel;
            bool thrown = false;
            try {
                applyRecipe(
                    parent, recipeOf(nlohmann::json::parse(step)), dir.file("out.gguf"), 2,
                    [&](double f, std::string_view) {
                        if (f > 0.5) cancel.cancel();
                    },
                    cancel);
            } catch (const Error& e) {
                thrown = e.category() == ErrorCategory::Cancelled;
            }
            QVERIFY(thrown);
            QVERIFY(!std::filesystem::exists(dir.file("out.gguf")));
            QCOMPARE(filesIn(dir.path()), 1); // the parent only: no temporary left behind
        }
    }

    void variantIsRecordedOnlyWhenComplete() {
        test::TempDir dir;
        const auto parent = test::writeTinyModel(dir.file("tiny.gguf"));
        std::unique_ptr<RunStore> store = RunStore::open(dir.file("runs.db"));
        VariantEvaluation evaluation;
        evaluation.perplexity.contextTokens = 64;
        evaluation.perplexity.maxChunks = 2;
        evaluation.generatedTokens = 4;
        evaluation.repetitions = 1;
        SessionOptions options;
        options.threads = 2;
        const Recipe recipe = recipeOf({{"method", "rtn"}, {"bits", 8}, {"group", 32}});

        // Cancelled while measuring (after the file was written): file removed, run cancelled, no variant.
        CancelToken cancel;
        QVERIFY_THROWS_EXCEPTION(Error,
                                 buildVariant(
                                     parent, recipe, dir.file("v.gguf"), evaluation, options, store.get(),
                                     [&](double f, std::string_view) {
                                         if (f > 0.7) cancel.cancel();
                                     },
                                     cancel));
        QVERIFY(!std::filesystem::exists(dir.file("v.gguf")));
        std::vector<RunRecord> runs = store->listRuns({});
        QCOMPARE(runs.size(), size_t(1));
        QCOMPARE(runs[0].status, RunStatus::Cancelled);
        QVERIFY(!runs[0].variantId.has_value());
        QVERIFY(!store->getVariant(1).has_value());

        const VariantResult r =
            buildVariant(parent, recipe, dir.file("v.gguf"), evaluation, options, store.get());
        QVERIFY(std::filesystem::exists(dir.file("v.gguf")));
        QVERIFY(r.variantId && r.runId);
        const std::optional<VariantRecord> v = store->getVariant(*r.variantId);
        QVERIFY(v.has_value());
        QCOMPARE(v->recipe.dump(), recipe.toJson().dump());
        const std::optional<RunRecord> run = store->getRun(*r.runId);
        QCOMPARE(run->status, RunStatus::Done);
        QCOMPARE(run->variantId.value_or(-1), *r.variantId);
        QCOMPARE(run->modelId.value_or(-1), v->modelId);
        // 8-bit of an F16 model: smaller, close in quality, and measured.
        QVERIFY(r.variant.fileBytes < r.parent.fileBytes);
        QVERIFY(r.klDivergence >= 0.0 && r.klDivergence < 0.05);
        QVERIFY(r.top1Agreement > 0.8);
        QVERIFY(r.variant.tokensPerSecond > 0.0 && r.parent.tokensPerSecond > 0.0);
        bool hasKl = false;
        for (const RunMetric& m : store->metrics(*r.runId))
            hasKl = hasKl || (m.name == "kl_divergence" && std::fabs(m.value - r.klDivergence) < 1e-12);
        QVERIFY(hasKl);
    }
};

QTEST_APPLESS_MAIN(TestRecipe)
#include "TestRecipe.moc"
