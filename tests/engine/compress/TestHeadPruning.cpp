// Structured attention-head pruning (compress/HeadPruning, EditableModel::setAttention, the attn_heads
// recipe step). The independent truths:
//  - a unit's importance is the norm of what it adds to attn_output's result, summed over tokens
//    directly in double;
//  - a model with heads removed computes exactly what the full model computes when those heads'
//    attn_output columns are zero (a head reaches the residual stream only through them), for both units,
//    with GQA, with Q/K/V biases (Qwen2) and RoPE in both pairings;
//  - the selection keeps the group rule h / groupSize and drops the least important units.

#include "../model/TinyModel.h"
#include "CompressTestModel.h"
#include "TestSupport.h"
#include "compress/EditableModel.h"
#include "compress/HeadPruning.h"
#include "compress/Recipe.h"
#include "core/Error.h"
#include "core/ThreadPool.h"
#include "io/GgufReader.h"

#include <QtTest>
#include <random>

using namespace lathe;

Q_DECLARE_METATYPE(lathe::HeadUnit)
Q_DECLARE_METATYPE(lathe::DType)

namespace {

// ||Σ_t W_o[:, S] x_t[S]||: each token's contribution formed and squared on its own.
double bruteImportance(const std::vector<float>& wo, int64_t nEmbd, const std::vector<float>& x,
                       int64_t tokens, int64_t width, int64_t c0, int64_t w) {
    double sum = 0.0;
    for (int64_t t = 0; t < tokens; ++t)
        for (int64_t r = 0; r < nEmbd; ++r) {
            double y = 0.0;
            for (int64_t c = c0; c < c0 + w; ++c)
                y += double(wo[size_t(r * width + c)]) * double(x[size_t(t * width + c)]);
            sum += y * y;
        }
    return std::sqrt(sum);
}

test::TinyModelSpec headSpec(const std::string& architecture) {
    test::TinyModelSpec s;
    s.architecture = architecture;
    s.nLayers = 2;
    s.nEmbd = 96;
    s.nHeads = 6;
    s.nHeadsKv = 2; // groups of 3
    s.nFf = 64;
    s.vocab = 64;
    s.tied = false;
    return s;
}

// Logits of every position of a prompt, prefill then two single-token steps (other kernels).
std::vector<float> logitsOf(const ModelFiles& files) {
    std::unique_ptr<Backend> backend = makeCpuBackend(CpuBackendOptions{2, false});
    Transformer model(files, *backend);
    KvCache cache = model.makeCache(64);
    const std::vector<int32_t> prompt = {5, 17, 3, 42, 8, 8, 61, 0, 29, 33, 12, 50};
    std::vector<float> logits, all;
    model.forward(Batch::sequence({prompt.begin(), prompt.end() - 2}, 0, 0, true), cache, logits);
    all = logits;
    for (size_t i = prompt.size() - 2; i < prompt.size(); ++i) {
        model.forward(Batch::sequence({prompt[i]}, int32_t(i), 0, true), cache, logits);
        all.insert(all.end(), logits.begin(), logits.end());
    }
    return all;
}

} // namespace

class TestHeadPruning : public QObject {
    Q_OBJECT

private slots:
    void importanceIsTheNormOfTheUnitsContribution_data() {
        QTest::addColumn<int>("nHeads");
        QTest::addColumn<int>("nHeadsKv");
        QTest::addColumn<HeadUnit>("unit");
        QTest::addRow("gqa 6/2, query") << 6 << 2 << HeadUnit::Query;
        QTest::addRow("gqa 6/2, group") << 6 << 2 << HeadUnit::Group;
        QTest::addRow("mha 4/4, query") << 4 << 4 << HeadUnit::Query;
        QTest::addRow("mqa 3/1, query") << 3 << 1 << HeadUnit::Query;
    }

    void importanceIsTheNormOfTheUnitsContribution() {
        QFETCH(int, nHeads);
        QFETCH(int, nHeadsKv);
        QFETCH(HeadUnit, unit);
        const HeadLayout layout{nHeads, nHeadsKv, 8};
        const int64_t nEmbd = 20, tokens = 37, width = int64_t(nHeads) * layout.headDim;
        const std::vector<float> wo = test::normalValues(size_t(nEmbd * width), 1);
        std::vector<float> x = test::normalValues(size_t(tokens * width), 2);
        // Correlated columns and one loud head, so that the cross terms matter and the units differ.
        for (int64_t t = 0; t < tokens; ++t)
            for (int64_t c = 1; c < width; ++c)
                x[size_t(t * width + c)] += 0.7f * x[size_t(t * width + c - 1)];
        for (int64_t t = 0; t < tokens; ++t)
            for (int64_t c = 0; c < layout.headDim; ++c)
                x[size_t(t * width + c)] *= 4.0f;

        ThreadPool pool(2);
        const std::vector<double> importance = headImportance(wo, nEmbd, x, tokens, layout, unit, &pool);
        const bool perHead = unit == HeadUnit::Query && layout.groupSize() > 1;
        QCOMPARE(int(importance.size()), perHead ? nHeads : nHeadsKv);
        const int64_t w = width / int64_t(importance.size());
        for (size_t u = 0; u < importance.size(); ++u) {
            const double expected = bruteImportance(wo, nEmbd, x, tokens, width, int64_t(u) * w, w);
            QVERIFY2(std::fabs(importance[u] - expected) <= 1e-9 * expected,
                     qPrintable(QString("unit %1: %2 vs %3").arg(u).arg(importance[u]).arg(expected)));
        }
        // Without a pool: the same values.
        QCOMPARE(headImportance(wo, nEmbd, x, tokens, layout, unit), importance);
    }

    void countsRoundToWholeUnits() {
        const HeadLayout smol{9, 3, 64}; // SmolLM2-135M
        QCOMPARE(headUnitsToRemove(smol, HeadUnit::Query, 0.34), 1);
        QCOMPARE(headUnitsToRemove(smol, HeadUnit::Query, 0.25), 1); // round(0.75)
        QCOMPARE(headUnitsToRemove(smol, HeadUnit::Query, 0.6), 2);
        QCOMPARE(headUnitsToRemove(smol, HeadUnit::Group, 0.34), 1);
        const HeadLayout mha{8, 8, 64};
        QCOMPARE(headUnitsToRemove(mha, HeadUnit::Query, 0.25), 2); // whole heads
        QCOMPARE(headUnitsToRemove(mha, HeadUnit::Group, 0.25), 2);
        for (double share : {0.1, 0.9, 0.0, 1.0, -0.5})
            QVERIFY_THROWS_EXCEPTION(Error, headUnitsToRemove(smol, HeadUnit::Query, share));
        try {
            headUnitsToRemove(smol, HeadUnit::Query, 0.1);
        } catch (const Error& e) {
            const QString message = e.what();
            QVERIFY2(message.contains("1/3") && message.contains("2/3"), e.what());
        }
        QVERIFY_THROWS_EXCEPTION(Error, headUnitsToRemove(HeadLayout{6, 4, 8}, HeadUnit::Query, 0.5));
        // Multi-query attention: one KV group, which cannot go, but its query heads can.
        const HeadLayout mqa{4, 1, 8};
        QCOMPARE(headUnitsToRemove(mqa, HeadUnit::Query, 0.5), 2);
        try {
            headUnitsToRemove(mqa, HeadUnit::Group, 0.5);
            QFAIL("a single KV group was removable");
        } catch (const Error& e) {
            QVERIFY2(QString(e.what()).contains("single KV group"), e.what());
        }
    }

    void selectionDropsTheLeastImportantAndKeepsTheGroupRule() {
        const HeadLayout layout{6, 2, 8};
        // Query unit: one head from each group of 3; ties drop the lower head.
        const std::vector<double> perHead = {3.0, 1.0, 2.0, 5.0, 5.0, 6.0};
        HeadSelection s = selectHeads(perHead, layout, HeadUnit::Query, 1);
        QCOMPARE(s.queryHeads, (std::vector<int>{0, 2, 4, 5}));
        QCOMPARE(s.kvHeads, (std::vector<int>{0, 1}));
        s = selectHeads(perHead, layout, HeadUnit::Query, 2);
        QCOMPARE(s.queryHeads, (std::vector<int>{0, 5}));
        // Group unit: whole groups, with every query head that reads them.
        s = selectHeads(std::vector<double>{2.0, 1.0}, layout, HeadUnit::Group, 1);
        QCOMPARE(s.kvHeads, (std::vector<int>{0}));
        QCOMPARE(s.queryHeads, (std::vector<int>{0, 1, 2}));
        QVERIFY_THROWS_EXCEPTION(Error, selectHeads(perHead, layout, HeadUnit::Query, 3));
        QVERIFY_THROWS_EXCEPTION(Error, selectHeads(perHead, layout, HeadUnit::Group, 1)); // 6 for 2 units

        // A selection that would make a query head read another KV head is refused.
        AttentionWeights full;
        const int64_t nEmbd = 4;
        full.q.assign(size_t(48 * nEmbd), 0.0f);
        full.k.assign(size_t(16 * nEmbd), 0.0f);
        full.v = full.k;
        full.o.assign(size_t(nEmbd * 48), 0.0f);
        QVERIFY_THROWS_EXCEPTION(
            Error, keepAttentionHeads(full, nEmbd, layout, HeadSelection{{0, 1, 2, 3}, {0, 1}}));
        QVERIFY_THROWS_EXCEPTION(Error, keepAttentionHeads(full, nEmbd, layout, HeadSelection{{0, 3}, {0}}));
        QVERIFY_THROWS_EXCEPTION(Error, keepAttentionHeads(full, nEmbd, layout, HeadSelection{{1, 0}, {0}}));
        const AttentionWeights kept =
            keepAttentionHeads(full, nEmbd, layout, HeadSelection{{0, 2, 3, 5}, {0, 1}});
        QCOMPARE(kept.q.size(), size_t(32 * nEmbd));
        QCOMPARE(kept.k.size(), size_t(16 * nEmbd));
        QCOMPARE(kept.o.size(), size_t(nEmbd * 32));
    }

    void removedHeadsEqualZeroedOutputColumns_data() {
        QTest::addColumn<QString>("architecture");
        QTest::addColumn<HeadUnit>("unit");
        for (const char* arch : {"llama", "qwen2"})
            for (HeadUnit unit : {HeadUnit::Query, HeadUnit::Group})
                QTest::addRow("%s, %s", arch, headUnitName(unit).data()) << QString(arch) << unit;
    }

    void removedHeadsEqualZeroedOutputColumns() {
        QFETCH(QString, architecture);
        QFETCH(HeadUnit, unit);
        const test::TinyModelSpec spec = headSpec(architecture.toStdString());
        test::TempDir dir;
        test::writeTinyGguf(dir.file("full.gguf"), spec, test::makeTinyWeights(spec));
        const HeadLayout layout{spec.nHeads, spec.nHeadsKv, spec.headDim()};
        const int64_t d = layout.headDim, e = spec.nEmbd, qRows = int64_t(spec.nHeads) * d;
        // Each layer drops other units (importance made up per layer).
        const std::vector<std::vector<double>> importance =
            unit == HeadUnit::Query ? std::vector<std::vector<double>>{{1, 2, 3, 6, 5, 4}, {3, 1, 2, 4, 6, 5}}
                                    : std::vector<std::vector<double>>{{1, 2}, {2, 1}};

        EditableModel zeroed(dir.file("full.gguf"));
        EditableModel pruned(dir.file("full.gguf"));
        for (int l = 0; l < spec.nLayers; ++l) {
            const HeadSelection keep = selectHeads(importance[size_t(l)], layout, unit, 1);
            // The reference: the full model with the removed heads' attn_output columns zero.
            FloatMatrix& o = zeroed.matrix(l, BlockMatrix::AttnOutput);
            for (int h = 0; h < spec.nHeads; ++h)
                if (std::find(keep.queryHeads.begin(), keep.queryHeads.end(), h) == keep.queryHeads.end())
                    for (int64_t r = 0; r < e; ++r)
                        std::fill_n(o.values.begin() + r * qRows + h * d, d, 0.0f);

            AttentionWeights full{pruned.matrix(l, BlockMatrix::AttnQ).values,
                                  pruned.matrix(l, BlockMatrix::AttnK).values,
                                  pruned.matrix(l, BlockMatrix::AttnV).values,
                                  pruned.matrix(l, BlockMatrix::AttnOutput).values};
            const std::string prefix = "blk." + std::to_string(l) + ".";
            if (spec.bias()) {
                full.bq = *pruned.vector(prefix + "attn_q.bias");
                full.bk = *pruned.vector(prefix + "attn_k.bias");
                full.bv = *pruned.vector(prefix + "attn_v.bias");
            } else {
                QVERIFY(pruned.vector(prefix + "attn_q.bias") == nullptr);
            }
            AttentionWeights kept = keepAttentionHeads(full, e, layout, keep);
            const int64_t q = int64_t(keep.queryHeads.size()) * d, kv = int64_t(keep.kvHeads.size()) * d;
            pruned.setAttention(l, int(keep.queryHeads.size()), int(keep.kvHeads.size()),
                                FloatMatrix{q, e, kept.q}, FloatMatrix{kv, e, kept.k},
                                FloatMatrix{kv, e, kept.v}, FloatMatrix{e, q, kept.o}, kept.bq, kept.bk,
                                kept.bv);
        }
        zeroed.write(dir.file("zeroed.gguf"), DType::F32);
        pruned.write(dir.file("pruned.gguf"), DType::F32);

        const ModelFiles prunedFiles = openModelFiles(dir.file("pruned.gguf"));
        const bool perGroup = unit == HeadUnit::Query;
        QCOMPARE(prunedFiles.config.nHeads, perGroup ? 4 : 3);
        QCOMPARE(prunedFiles.config.nHeadsKv, perGroup ? 2 : 1);
        QCOMPARE(prunedFiles.config.headDim, spec.headDim()); // written as key_length
        QCOMPARE(prunedFiles.tensor("blk.1.attn_output.weight").rowLength(),
                 int64_t(prunedFiles.config.nHeads) * d);
        const std::vector<float> expected = logitsOf(openModelFiles(dir.file("zeroed.gguf")));
        const std::vector<float> actual = logitsOf(prunedFiles);
        QCOMPARE(actual.size(), expected.size());
        const double diff = test::relativeMaxDifference(actual, expected);
        qInfo("%s: pruned vs zeroed, relative max difference %.3g", QTest::currentDataTag(), diff);
        QVERIFY2(diff < 1e-5, qPrintable(QString::number(diff)));
        // And the heads mattered: the full model differs.
        QVERIFY(test::relativeMaxDifference(logitsOf(openModelFiles(dir.file("full.gguf"))), expected) >
                1e-3);
    }

    void layersWithDifferentCountsAreNotWritten() {
        const test::TinyModelSpec spec = headSpec("llama");
        test::TempDir dir;
        test::writeTinyGguf(dir.file("full.gguf"), spec, test::makeTinyWeights(spec));
        EditableModel model(dir.file("full.gguf"));
        const HeadLayout layout{spec.nHeads, spec.nHeadsKv, spec.headDim()};
        AttentionWeights full{
            model.matrix(0, BlockMatrix::AttnQ).values, model.matrix(0, BlockMatrix::AttnK).values,
            model.matrix(0, BlockMatrix::AttnV).values, model.matrix(0, BlockMatrix::AttnOutput).values};
        const HeadSelection keep = selectHeads(std::vector<double>{1, 2}, layout, HeadUnit::Group, 1);
        AttentionWeights kept = keepAttentionHeads(full, spec.nEmbd, layout, keep);
        const int64_t d = spec.headDim(), e = spec.nEmbd;
        model.setAttention(0, 3, 1, FloatMatrix{3 * d, e, kept.q}, FloatMatrix{d, e, kept.k},
                           FloatMatrix{d, e, kept.v}, FloatMatrix{e, 3 * d, kept.o});
        QCOMPARE(model.config().nHeads, spec.nHeads); // layer 1 still has 6
        QVERIFY_THROWS_EXCEPTION(Error, model.write(dir.file("out.gguf"), DType::F32));
        QVERIFY_THROWS_EXCEPTION(Error, model.currentFiles());
        QVERIFY(!std::filesystem::exists(dir.file("out.gguf")));
    }

    // A quantized parent keeps its encoding: q/k/v rows and attn_output's blocks are copied bit for bit,
    // so the variant is smaller than the parent and nothing is re-quantized.
    void quantizedMatricesAreSlicedBitForBit_data() {
        QTest::addColumn<DType>("dtype");
        QTest::addRow("q8_0") << DType::Q8_0;
        QTest::addRow("q4_0") << DType::Q4_0;
    }

    void quantizedMatricesAreSlicedBitForBit() {
        QFETCH(DType, dtype);
        test::TempDir dir;
        const auto parentPath = test::writeTinyModel(dir.file("tiny.gguf"), true, dtype); // 2 heads of 32
        Recipe recipe = Recipe::fromJson({{"steps", {{{"method", "attn_heads"}, {"sparsity", 0.5}}}}});
        recipe.calibration.tokens = 128;
        recipe.calibration.contextTokens = 64;
        const CompressionReport report = applyRecipe(parentPath, recipe, dir.file("out.gguf"), 2);
        QVERIFY(report.outputBytes < report.inputBytes);
        const ModelFiles parent = openModelFiles(parentPath);
        const ModelFiles out = openModelFiles(dir.file("out.gguf"));
        QCOMPARE(out.config.nHeads, 1);
        const int64_t d = parent.config.headDim;
        for (int l = 0; l < parent.config.nLayers; ++l) {
            auto name = [l](const char* what) { return "blk." + std::to_string(l) + "." + what + ".weight"; };
            const TensorView& q = out.tensor(name("attn_q"));
            const TensorView& pq = parent.tensor(name("attn_q"));
            QCOMPARE(q.dtype, dtype);
            QCOMPARE(q.rowCount(), d);
            // Which head was kept: the one whose first row is the slice's first row.
            int kept = -1;
            for (int h = 0; h < parent.config.nHeads; ++h)
                if (std::memcmp(q.row(0), pq.row(h * d), size_t(pq.rowStride())) == 0) kept = h;
            QVERIFY(kept >= 0);
            for (int64_t r = 0; r < d; ++r)
                QVERIFY(std::memcmp(q.row(r), pq.row(kept * d + r), size_t(pq.rowStride())) == 0);
            for (const char* kv : {"attn_k", "attn_v"}) // 2 KV heads, one per query head: the same one goes
                for (int64_t r = 0; r < d; ++r)
                    QVERIFY(std::memcmp(out.tensor(name(kv)).row(r),
                                        parent.tensor(name(kv)).row(kept * d + r),
                                        size_t(pq.rowStride())) == 0);
            const TensorView& o = out.tensor(name("attn_output"));
            const TensorView& po = parent.tensor(name("attn_output"));
            QCOMPARE(o.dtype, dtype);
            QCOMPARE(o.rowLength(), d);
            const uint64_t headBytes = o.rowStride(); // one head's columns of a row
            for (int64_t r = 0; r < o.rowCount(); ++r)
                QVERIFY(std::memcmp(o.row(r), po.row(r) + uint64_t(kept) * headBytes, size_t(headBytes)) ==
                        0);
        }
        for (float v : test::promptLogits(out))
            QVERIFY(std::isfinite(v));
    }

    void recipeStepPrunesEveryLayerAndTheModelRuns() {
        test::TempDir dir;
        const auto parent = test::writeTinyModel(dir.file("tiny.gguf"), true); // 2 heads, 2 KV heads
        Recipe recipe =
            Recipe::fromJson({{"steps",
                               {{{"method", "attn_heads"}, {"sparsity", 0.5}, {"unit", "group"}},
                                {{"method", "gptq"}, {"bits", 4}, {"group", 32}, {"symmetric", true}}}}});
        QCOMPARE(recipe.steps[0].headUnit, HeadUnit::Group);
        QCOMPARE(Recipe::fromJson(recipe.toJson()).toJson(), recipe.toJson());
        QVERIFY_THROWS_EXCEPTION(Error,
                                 Recipe::fromJson({{"steps", {{{"method", "attn_heads"}, {"unit", "kv"}}}}}));
        recipe.calibration.tokens = 128;
        recipe.calibration.contextTokens = 64;
        const CompressionReport report = applyRecipe(parent, recipe, dir.file("out.gguf"), 2);
        const ModelFiles files = openModelFiles(dir.file("out.gguf"));
        QCOMPARE(files.config.nHeads, 1);
        QCOMPARE(files.config.nHeadsKv, 1);
        QCOMPARE(files.tensor("blk.0.attn_q.weight").rowCount(), int64_t(files.config.headDim));
        QCOMPARE(files.tensor("blk.1.attn_output.weight").dtype, DType::Q4_0); // GPTQ ran on the pruned shape
        QVERIFY(!report.notes.empty());
        for (float v : test::promptLogits(files))
            QVERIFY(std::isfinite(v));
    }
};

QTEST_GUILESS_MAIN(TestHeadPruning)
#include "TestHeadPruning.moc"
