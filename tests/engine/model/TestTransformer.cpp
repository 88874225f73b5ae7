#include "TestSupport.h"
#include "TinyModel.h"
#include "backend/cpu/CpuBackend.h"
#include "core/Error.h"
#include "io/ModelFiles.h"
#include "model/Transformer.h"

#include <QtTest>
#include <algorithm>
#include <cmath>
#include <set>

using namespace lathe;
using lathe::test::TinyModelSpec;

Q_DECLARE_METATYPE(lathe::DType)

namespace {

const std::vector<int32_t> kPrompt = {5, 17, 3, 42, 8, 8, 61, 0, 29, 33, 12, 50};

std::vector<int32_t> iota(int n, int first = 0) {
    std::vector<int32_t> v(static_cast<size_t>(n));
    for (int i = 0; i < n; ++i)
        v[size_t(i)] = first + i;
    return v;
}

ModelFiles writeAndOpen(const test::TempDir& dir, const TinyModelSpec& spec,
                        const std::string& name = "tiny.gguf") {
    test::writeTinyGguf(dir.file(name), spec, test::makeTinyWeights(spec));
    return openModelFiles(dir.file(name));
}

// Largest |a - b| over the largest |b|, so a tolerance reads as a share of the logits' scale.
double relativeMaxDiff(const std::vector<float>& a, const std::vector<double>& b) {
    double diff = 0, scale = 1e-6;
    for (size_t i = 0; i < b.size(); ++i) {
        diff = std::max(diff, std::fabs(double(a[i]) - b[i]));
        scale = std::max(scale, std::fabs(b[i]));
    }
    return diff / scale;
}

double maxDiff(std::span<const float> a, std::span<const float> b) {
    double diff = 0;
    for (size_t i = 0; i < a.size(); ++i)
        diff = std::max(diff, std::fabs(double(a[i]) - double(b[i])));
    return diff;
}

// The tiny model with llama.cpp-style block formats: Q4_1 matrices, a Q8_0 embedding.
TinyModelSpec quantizedSpec() {
    TinyModelSpec spec;
    spec.matrixType = DType::Q4_1;
    spec.embdType = DType::Q8_0;
    return spec;
}

std::unique_ptr<Backend> floatBackend() {
    return makeCpuBackend(CpuBackendOptions{2, false});
}

} // namespace

class TestTransformer : public QObject {
    Q_OBJECT
private slots:
    void wholeModelMatchesNaiveReference_data() {
        QTest::addColumn<QString>("arch");
        QTest::addColumn<int>("nHeadsKv");
        QTest::addColumn<DType>("matrixType");
        QTest::addColumn<DType>("embdType");
        QTest::addColumn<float>("llama3Factor");
        QTest::addColumn<bool>("tied");
        QTest::newRow("llama f32 gqa") << "llama" << 2 << DType::F32 << DType::F32 << 0.0f << true;
        QTest::newRow("llama mha untied") << "llama" << 4 << DType::F32 << DType::F32 << 0.0f << false;
        QTest::newRow("llama q4_1 / q8_0 embd") << "llama" << 2 << DType::Q4_1 << DType::Q8_0 << 0.0f << true;
        QTest::newRow("llama q4_0 / f16 embd") << "llama" << 1 << DType::Q4_0 << DType::F16 << 0.0f << true;
        QTest::newRow("llama q5_0 q5_1") << "llama" << 2 << DType::Q5_0 << DType::Q5_1 << 0.0f << false;
        QTest::newRow("llama3 rope scaling") << "llama" << 2 << DType::F32 << DType::F32 << 8.0f << true;
        QTest::newRow("qwen2 qkv bias") << "qwen2" << 2 << DType::F32 << DType::F32 << 0.0f << true;
    }

    // The float reference backend against a naive double forward pass over the same stored weights.
    void wholeModelMatchesNaiveReference() {
        QFETCH(QString, arch);
        QFETCH(int, nHeadsKv);
        QFETCH(DType, matrixType);
        QFETCH(DType, embdType);
        QFETCH(float, llama3Factor);
        QFETCH(bool, tied);
        TinyModelSpec spec;
        spec.architecture = arch.toStdString();
        spec.nHeadsKv = nHeadsKv;
        spec.matrixType = matrixType;
        spec.embdType = embdType;
        spec.llama3Factor = llama3Factor;
        spec.tied = tied;
        test::TempDir dir;
        const ModelFiles files = writeAndOpen(dir, spec);
        QCOMPARE(files.config.ropeLlama3.factor, llama3Factor);
        auto backend = floatBackend();
        Transformer model(files, *backend);
        KvCache cache = model.makeCache(64);
        std::vector<float> logits;
        model.forward(Batch::sequence(kPrompt, 0, 0, true), cache, logits);
        const std::vector<double> expected = test::NaiveLlama(files).forward(
            kPrompt, iota(int(kPrompt.size())), [](int i, int j) { return j <= i; });
        QCOMPARE(logits.size(), expected.size());
        const double diff = relativeMaxDiff(logits, expected);
        qDebug("relative max diff %.3g", diff);
        QVERIFY2(diff < 2e-5, qPrintable(QString::number(diff)));
    }

    // The llama.cpp-style path (8-bit activations for block-quantized weights) stays near the reference.
    void quantizedActivationsStayCloseToReference() {
        const TinyModelSpec spec = quantizedSpec();
        test::TempDir dir;
        const ModelFiles files = writeAndOpen(dir, spec);
        auto backend = makeCpuBackend(2);
        Transformer model(files, *backend);
        KvCache cache = model.makeCache(64);
        std::vector<float> logits;
        model.forward(Batch::sequence(kPrompt, 0, 0, true), cache, logits);
        const std::vector<double> expected = test::NaiveLlama(files).forward(
            kPrompt, iota(int(kPrompt.size())), [](int i, int j) { return j <= i; });
        const double diff = relativeMaxDiff(logits, expected);
        qDebug("relative max diff with 8-bit activations %.3g", diff);
        QVERIFY2(diff < 0.03, qPrintable(QString::number(diff)));
    }

    // Lathe's own 3-bit weights (rows of 64s: nEmbd 128, nFf 256) through both CPU modes against the
    // naive double forward pass over the same stored weights (read through io's reference decoder).
    void lq3WeightsMatchNaiveReference() {
        TinyModelSpec spec;
        spec.nEmbd = 128;
        spec.nFf = 256;
        spec.matrixType = DType::LQ3_64;
        spec.embdType = DType::LQ3_64;
        test::TempDir dir;
        const ModelFiles files = writeAndOpen(dir, spec);
        QCOMPARE(files.tensor("blk.1.ffn_down.weight").dtype, DType::LQ3_64);
        const std::vector<double> expected = test::NaiveLlama(files).forward(
            kPrompt, iota(int(kPrompt.size())), [](int i, int j) { return j <= i; });
        for (bool quantized : {false, true}) {
            auto backend = makeCpuBackend(CpuBackendOptions{2, quantized});
            Transformer model(files, *backend);
            KvCache cache = model.makeCache(64);
            std::vector<float> logits;
            model.forward(Batch::sequence(kPrompt, 0, 0, true), cache, logits);
            const double diff = relativeMaxDiff(logits, expected);
            qDebug("lq3_64, %s: relative max diff %.3g", quantized ? "default" : "float reference", diff);
            QVERIFY2(diff < 2e-5, qPrintable(QString::number(diff)));
        }
    }

    // A SmoothQuant-style W8A8 file (Q8_0 matrices, lathe.activation_quantization = per_token_int8):
    // the Transformer hands the mode to the backend, whose logits stay near the float reference and
    // differ from the same weights run with ggml's per-block activations.
    void perTokenInt8ModelSetsTheBackendsMode() {
        TinyModelSpec spec;
        spec.matrixType = DType::Q8_0;
        spec.embdType = DType::Q8_0;
        test::TempDir dir;
        const ModelFiles perBlockFiles = writeAndOpen(dir, spec, "per-block.gguf");
        spec.activationQuantization = "per_token_int8";
        const ModelFiles perTokenFiles = writeAndOpen(dir, spec, "per-token.gguf");
        QCOMPARE(perBlockFiles.config.activationQuantization, ActivationQuantization::PerBlock);
        QCOMPARE(perTokenFiles.config.activationQuantization, ActivationQuantization::PerTokenInt8);
        const std::vector<double> expected =
            test::NaiveLlama(perTokenFiles).forward(kPrompt, iota(int(kPrompt.size())), [](int i, int j) {
                return j <= i;
            });
        auto run = [&](const ModelFiles& files, Backend& backend) {
            Transformer model(files, backend);
            KvCache cache = model.makeCache(64);
            std::vector<float> logits;
            model.forward(Batch::sequence(kPrompt, 0, 0, true), cache, logits);
            return logits;
        };
        auto backend = makeCpuBackend(2);
        const std::vector<float> perToken = run(perTokenFiles, *backend);
        QVERIFY(QString::fromStdString(backend->name()).contains("per-token"));
        const double diff = relativeMaxDiff(perToken, expected);
        qDebug("per-token int8 activations: relative max diff %.3g", diff);
        QVERIFY2(diff < 0.03, qPrintable(QString::number(diff)));
        // The same backend, next model per block: the mode follows the model.
        const std::vector<float> perBlock = run(perBlockFiles, *backend);
        QVERIFY(!QString::fromStdString(backend->name()).contains("per-token"));
        QVERIFY(perBlock != perToken);
        auto fresh = makeCpuBackend(2);
        QCOMPARE(run(perBlockFiles, *fresh), perBlock);
    }

    void incrementalDecodeEqualsPrefill() {
        const TinyModelSpec spec = quantizedSpec();
        test::TempDir dir;
        const ModelFiles files = writeAndOpen(dir, spec);
        auto backend = makeCpuBackend(2);
        Transformer model(files, *backend);
        const int vocab = model.config().vocabSize;

        KvCache prefillCache = model.makeCache(64, 4);
        std::vector<float> all;
        model.forward(Batch::sequence(kPrompt, 0, 0, true), prefillCache, all);

        KvCache cache = model.makeCache(64, 4);
        std::vector<float> step;
        // A 5-token prefill, then one token per call across several block boundaries.
        model.forward(Batch::sequence({kPrompt.begin(), kPrompt.begin() + 5}, 0, 0, true), cache, step);
        QVERIFY(maxDiff(std::span(step), std::span(all).first(size_t(5 * vocab))) < 1e-5);
        for (size_t i = 5; i < kPrompt.size(); ++i) {
            model.forward(Batch::sequence({kPrompt[i]}, int32_t(i), 0), cache, step);
            QCOMPARE(int(step.size()), vocab);
            const double diff = maxDiff(step, std::span(all).subspan(i * size_t(vocab), size_t(vocab)));
            QVERIFY2(diff < 1e-4, qPrintable(QStringLiteral("row %1: %2").arg(i).arg(diff)));
        }
        QCOMPARE(cache.length(0), int(kPrompt.size()));
    }

    // A step that wants some rows' logits takes only those through the last layer's feed-forward:
    // their logits are bit for bit those of a step that wants every row (rows are independent there),
    // and the cache it leaves gives the next step the same logits too.
    void someRowsLogitsEqualEveryRowsLogits() {
        const TinyModelSpec spec = quantizedSpec();
        test::TempDir dir;
        const ModelFiles files = writeAndOpen(dir, spec);
        for (bool exact : {true, false}) {
            auto backend = makeCpuBackend(CpuBackendOptions{2, exact});
            Transformer model(files, *backend);
            const size_t vocab = size_t(model.config().vocabSize);
            KvCache everyCache = model.makeCache(64, 4), someCache = model.makeCache(64, 4);
            std::vector<float> every, some;
            model.forward(Batch::sequence(kPrompt, 0, 0, true), everyCache, every);
            Batch batch;
            const std::vector<int> wanted = {0, 4, 5, int(kPrompt.size()) - 1};
            for (size_t i = 0; i < kPrompt.size(); ++i)
                batch.add(kPrompt[i], int32_t(i), 0,
                          std::find(wanted.begin(), wanted.end(), int(i)) != wanted.end());
            model.forward(batch, someCache, some);
            QCOMPARE(some.size(), wanted.size() * vocab);
            for (size_t j = 0; j < wanted.size(); ++j)
                QVERIFY2(std::equal(some.begin() + j * vocab, some.begin() + (j + 1) * vocab,
                                    every.begin() + size_t(wanted[j]) * vocab),
                         qPrintable(QStringLiteral("row %1 (exact %2)").arg(wanted[j]).arg(exact)));
            // The next token sees the same cache either way.
            std::vector<float> nextEvery, nextSome;
            const int32_t position = int32_t(kPrompt.size());
            model.forward(Batch::sequence({7}, position, 0), everyCache, nextEvery);
            model.forward(Batch::sequence({7}, position, 0), someCache, nextSome);
            QCOMPARE(nextSome, nextEvery);
        }
    }

    void twoSequencesInOneBatchEqualSeparate() {
        TinyModelSpec spec;
        test::TempDir dir;
        const ModelFiles files = writeAndOpen(dir, spec);
        auto backend = floatBackend();
        Transformer model(files, *backend);
        const std::vector<int32_t> a = {1, 2, 3, 4, 5, 6, 7};
        const std::vector<int32_t> b = {9, 40, 8, 33};
        std::vector<float> aAlone, bAlone, both;
        KvCache cacheA = model.makeCache(32, 4), cacheB = model.makeCache(32, 4);
        model.forward(Batch::sequence(a, 0, 0, true), cacheA, aAlone);
        model.forward(Batch::sequence(b, 0, 0, true), cacheB, bAlone);

        // Interleaved rows, sequence ids 3 and 8, every row's logits.
        Batch batch;
        std::vector<std::pair<int, int>> order; // (sequence, index)
        for (size_t i = 0; i < a.size(); ++i) {
            batch.add(a[i], int32_t(i), 3, true);
            order.push_back({0, int(i)});
            if (i < b.size()) {
                batch.add(b[i], int32_t(i), 8, true);
                order.push_back({1, int(i)});
            }
        }
        KvCache shared = model.makeCache(32, 4);
        model.forward(batch, shared, both);
        const size_t vocab = size_t(model.config().vocabSize);
        for (size_t r = 0; r < order.size(); ++r) {
            const auto [seq, index] = order[r];
            const std::vector<float>& alone = seq == 0 ? aAlone : bAlone;
            QVERIFY(maxDiff(std::span(both).subspan(r * vocab, vocab),
                            std::span(alone).subspan(size_t(index) * vocab, vocab)) < 1e-5);
        }
        QCOMPARE(shared.length(3), int(a.size()));
        QCOMPARE(shared.length(8), int(b.size()));
    }

    // A tree whose rows form one chain is the causal case; sibling branches do not see each other.
    void treeMaskFollowsParents() {
        TinyModelSpec spec;
        test::TempDir dir;
        const ModelFiles files = writeAndOpen(dir, spec);
        auto backend = floatBackend();
        Transformer model(files, *backend);
        const size_t vocab = size_t(model.config().vocabSize);
        const std::vector<int32_t> prefix = {4, 8, 15, 16, 23};

        // Tree after the prefix:  A -> B -> C  and  A -> D -> E (rows: A B D C E).
        const int32_t A = 30, B = 31, C = 32, D = 40, E = 41;
        const int p = int(prefix.size());
        KvCache cache = model.makeCache(64, 4);
        std::vector<float> logits;
        model.forward(Batch::sequence(prefix, 0, 0), cache, logits);
        Batch tree;
        tree.add(A, p, 0, true);
        tree.add(B, p + 1, 0, true);
        tree.add(D, p + 1, 0, true);
        tree.add(C, p + 2, 0, true);
        tree.add(E, p + 2, 0, true);
        tree.treeParents = {-1, 0, 0, 1, 2};
        model.forward(tree, cache, logits);

        auto chainLogits = [&](std::vector<int32_t> tail) {
            std::vector<int32_t> tokens = prefix;
            tokens.insert(tokens.end(), tail.begin(), tail.end());
            KvCache c = model.makeCache(64, 4);
            std::vector<float> out;
            model.forward(Batch::sequence(tokens, 0, 0), c, out);
            return out;
        };
        const std::vector<std::pair<int, std::vector<int32_t>>> expectations = {
            {0, {A}}, {1, {A, B}}, {2, {A, D}}, {3, {A, B, C}}, {4, {A, D, E}}};
        for (const auto& [row, chain] : expectations) {
            const std::vector<float> expected = chainLogits(chain);
            const double diff = maxDiff(std::span(logits).subspan(size_t(row) * vocab, vocab), expected);
            QVERIFY2(diff < 1e-5, qPrintable(QStringLiteral("tree row %1: %2").arg(row).arg(diff)));
        }

        // The same chain given as a tree equals the causal batch.
        KvCache causalCache = model.makeCache(64, 4), treeCache = model.makeCache(64, 4);
        std::vector<float> causal, asTree;
        model.forward(Batch::sequence(kPrompt, 0, 0, true), causalCache, causal);
        Batch chain = Batch::sequence(kPrompt, 0, 0, true);
        chain.treeParents = iota(int(kPrompt.size()), -1);
        model.forward(chain, treeCache, asTree);
        QVERIFY(maxDiff(causal, asTree) < 1e-6);
    }

    // The same weights as GGUF (q/k permuted, interleaved RoPE) and as an HF folder (half-split RoPE).
    void huggingFaceFolderMatchesGguf_data() {
        QTest::addColumn<int>("nHeadsKv");
        QTest::addColumn<float>("llama3Factor");
        QTest::newRow("gqa") << 2 << 0.0f;
        QTest::newRow("mha llama3") << 4 << 8.0f;
    }
    void huggingFaceFolderMatchesGguf() {
        QFETCH(int, nHeadsKv);
        QFETCH(float, llama3Factor);
        TinyModelSpec spec;
        spec.nHeadsKv = nHeadsKv;
        spec.llama3Factor = llama3Factor;
        const test::TinyWeights weights = test::makeTinyWeights(spec);
        test::TempDir dir;
        test::writeTinyGguf(dir.file("tiny.gguf"), spec, weights);
        test::writeTinyHfFolder(dir.file("hf"), spec, weights);
        const ModelFiles gguf = openModelFiles(dir.file("tiny.gguf"));
        const ModelFiles hf = openModelFiles(dir.file("hf"));
        QCOMPARE(hf.format, ModelFormat::HuggingFaceFolder);
        QCOMPARE(hf.config.ropeStyle, RopeStyle::HalfSplit);
        QCOMPARE(gguf.config.ropeStyle, RopeStyle::Interleaved);
        auto backend = floatBackend();
        Transformer fromGguf(gguf, *backend), fromHf(hf, *backend);
        KvCache c1 = fromGguf.makeCache(64), c2 = fromHf.makeCache(64);
        std::vector<float> a, b;
        fromGguf.forward(Batch::sequence(kPrompt, 0, 0, true), c1, a);
        fromHf.forward(Batch::sequence(kPrompt, 0, 0, true), c2, b);
        QCOMPARE(a.size(), b.size());
        const double diff = maxDiff(a, b);
        qDebug("max |gguf - hf| = %.3g", diff);
        QVERIFY(diff < 1e-4);
    }

    void fullCacheFailsAndLeavesCacheUnchanged() {
        TinyModelSpec spec;
        test::TempDir dir;
        const ModelFiles files = writeAndOpen(dir, spec);
        auto backend = floatBackend();
        Transformer model(files, *backend);
        KvCache cache = model.makeCache(8, 4);
        std::vector<float> logits;
        model.forward(Batch::sequence({1, 2, 3, 4, 5, 6}, 0, 0), cache, logits);
        Batch two = Batch::sequence({7, 8}, 6, 0);
        two.add(9, 0, 1, true); // a second sequence that would need a third block
        try {
            model.forward(two, cache, logits);
            QFAIL("expected a full-cache error");
        } catch (const Error& e) {
            QCOMPARE(e.category(), ErrorCategory::InvalidArgument);
            QVERIFY2(QString(e.what()).contains("KV cache full"), e.what());
        }
        QCOMPARE(cache.length(0), 6);
        QVERIFY(!cache.hasSequence(1));
        QCOMPARE(cache.freeBlocks(), 0);
    }

    void rejectsBadBatches() {
        TinyModelSpec spec;
        test::TempDir dir;
        const ModelFiles files = writeAndOpen(dir, spec);
        auto backend = floatBackend();
        Transformer model(files, *backend);
        KvCache cache = model.makeCache(32);
        std::vector<float> logits;
        Batch badToken = Batch::sequence({1, spec.vocab}, 0, 0);
        QVERIFY_THROWS_EXCEPTION(Error, model.forward(badToken, cache, logits));
        Batch badParent = Batch::sequence({1, 2}, 0, 0);
        badParent.treeParents = {-1, 1};
        QVERIFY_THROWS_EXCEPTION(Error, model.forward(badParent, cache, logits));
        Batch badRows = Batch::sequence({1, 2}, 0, 0);
        badRows.logitRows = {1, 0};
        QVERIFY_THROWS_EXCEPTION(Error, model.forward(badRows, cache, logits));
        QCOMPARE(cache.length(0), 0);
    }

    void rejectsMissingOrMisshapenTensors() {
        TinyModelSpec spec;
        test::TempDir dir;
        auto backend = floatBackend();
        {
            ModelFiles files = writeAndOpen(dir, spec);
            files.tensors.erase("blk.1.ffn_up.weight");
            try {
                Transformer model(files, *backend);
                QFAIL("expected a missing-tensor error");
            } catch (const Error& e) {
                QCOMPARE(e.category(), ErrorCategory::InvalidFile);
                QVERIFY2(QString(e.what()).contains("blk.1.ffn_up.weight"), e.what());
            }
        }
        {
            ModelFiles files = writeAndOpen(dir, spec, "second.gguf");
            TensorView& k = files.tensors.at("blk.0.attn_k.weight");
            k.shape[1] /= 2;
            try {
                Transformer model(files, *backend);
                QFAIL("expected a shape error");
            } catch (const Error& e) {
                QCOMPARE(e.category(), ErrorCategory::InvalidFile);
                QVERIFY2(QString(e.what()).contains("blk.0.attn_k.weight"), e.what());
            }
        }
    }

    void debugCallbackSeesEveryIntermediate() {
        TinyModelSpec spec;
        test::TempDir dir;
        const ModelFiles files = writeAndOpen(dir, spec);
        auto backend = floatBackend();
        Transformer model(files, *backend);
        std::multiset<std::string> names;
        std::vector<float> lastOutput;
        model.setDebugCallback([&](std::string_view name, int layer, std::span<const float> values) {
            names.insert(std::string(name));
            if (name == "result_output") lastOutput.assign(values.begin(), values.end());
            if (layer >= 0) QVERIFY(layer < spec.nLayers);
        });
        KvCache cache = model.makeCache(32);
        std::vector<float> logits;
        model.forward(Batch::sequence({1, 2, 3}, 0, 0), cache, logits);
        for (const char* name : {"attn_norm", "Qcur", "Kcur", "Vcur", "kqv_out", "attn_out", "ffn_inp",
                                 "ffn_norm", "ffn_gate", "ffn_up", "ffn_swiglu", "ffn_out", "l_out"})
            QCOMPARE(int(names.count(name)), spec.nLayers);
        QCOMPARE(int(names.count("inp_embd")), 1);
        QCOMPARE(int(names.count("result_norm")), 1);
        QCOMPARE(lastOutput, logits);
    }
};

QTEST_APPLESS_MAIN(TestTransformer)
#include "TestTransformer.moc"
