// Per-layer feed-forward widths (`{arch}.feed_forward_length` as an array, as structured pruning
// leaves a model): a model whose layer 0 keeps only the first 64 of 96 channels must compute what the
// full-width model computes when those channels are zero (zero rows in gate/up, zero columns in down),
// on both CPU modes and in F32 and Q8_0; the narrow model also matches the naive double forward pass,
// which reads each tensor's own shape. Bad width arrays and tensors of the wrong width are named.

#include "TestSupport.h"
#include "TinyModel.h"
#include "backend/cpu/CpuBackend.h"
#include "core/Error.h"
#include "io/ModelFiles.h"
#include "model/Transformer.h"
#include "workbench/ModelSummary.h"

#include <QtTest>
#include <cmath>
#include <nlohmann/json.hpp>

using namespace lathe;
using lathe::test::TinyModelSpec;
using lathe::test::TinyWeights;

Q_DECLARE_METATYPE(lathe::DType)

namespace {

const std::vector<int32_t> kPrompt = {5, 17, 3, 42, 8, 8, 61, 0, 29, 33, 12, 50, 7, 1};
constexpr int kKept = 64; // channels layer 0 keeps of nFf = 96

std::vector<int32_t> positions(int n) {
    std::vector<int32_t> v(static_cast<size_t>(n));
    for (int i = 0; i < n; ++i)
        v[size_t(i)] = i;
    return v;
}

std::vector<float> logitsOf(const ModelFiles& files, bool quantizedActivations) {
    auto backend = makeCpuBackend(CpuBackendOptions{2, quantizedActivations});
    Transformer model(files, *backend);
    KvCache cache = model.makeCache(64);
    std::vector<float> logits;
    // Prefill, then two decode steps (one-token matmuls take other kernels).
    const std::vector<int32_t> head(kPrompt.begin(), kPrompt.end() - 2);
    model.forward(Batch::sequence(head, 0, 0, true), cache, logits);
    std::vector<float> all = logits;
    for (size_t i = head.size(); i < kPrompt.size(); ++i) {
        model.forward(Batch::sequence({kPrompt[i]}, int32_t(i), 0, true), cache, logits);
        all.insert(all.end(), logits.begin(), logits.end());
    }
    return all;
}

double relativeMaxDiff(const std::vector<float>& a, const std::vector<float>& b) {
    double diff = 0, scale = 1e-6;
    for (size_t i = 0; i < b.size(); ++i) {
        diff = std::max(diff, std::fabs(double(a[i]) - double(b[i])));
        scale = std::max(scale, std::fabs(double(b[i])));
    }
    return diff / scale;
}

// Model A: full width with layer 0's channels kKept.. zeroed; model B: layer 0 cut to kKept channels.
struct PrunedPair {
    TinyModelSpec fullSpec, prunedSpec;
    TinyWeights full, pruned;
};

PrunedPair makePrunedPair(DType matrixType) {
    PrunedPair p;
    p.fullSpec.nLayers = 3;
    p.fullSpec.nFf = 96;
    p.fullSpec.matrixType = matrixType;
    p.full = test::makeTinyWeights(p.fullSpec);
    TinyWeights::Matrix& gate = p.full.tensors.at("blk.0.ffn_gate.weight");
    TinyWeights::Matrix& up = p.full.tensors.at("blk.0.ffn_up.weight");
    TinyWeights::Matrix& down = p.full.tensors.at("blk.0.ffn_down.weight"); // [nEmbd][96]
    for (int64_t r = kKept; r < gate.rows; ++r)
        for (int64_t c = 0; c < gate.cols; ++c) {
            gate.values[size_t(r * gate.cols + c)] = 0.0f;
            up.values[size_t(r * up.cols + c)] = 0.0f;
        }
    for (int64_t r = 0; r < down.rows; ++r)
        for (int64_t c = kKept; c < down.cols; ++c)
            down.values[size_t(r * down.cols + c)] = 0.0f;

    p.prunedSpec = p.fullSpec;
    p.prunedSpec.layerFf = {kKept, 96, 96};
    p.pruned = p.full;
    for (const char* name : {"blk.0.ffn_gate.weight", "blk.0.ffn_up.weight"}) {
        TinyWeights::Matrix& m = p.pruned.tensors.at(name);
        m.rows = kKept;
        m.values.resize(size_t(kKept * m.cols));
    }
    TinyWeights::Matrix& cut = p.pruned.tensors.at("blk.0.ffn_down.weight");
    std::vector<float> narrow;
    for (int64_t r = 0; r < cut.rows; ++r)
        narrow.insert(narrow.end(), cut.values.begin() + r * cut.cols,
                      cut.values.begin() + r * cut.cols + kKept);
    cut.cols = kKept;
    cut.values = std::move(narrow);
    return p;
}

std::string openError(const std::filesystem::path& path) {
    try {
        (void)openModelFiles(path);
    } catch (const Error& e) {
        return e.what();
    }
    return "NO ERROR";
}

} // namespace

class TestTransformerFfnWidths : public QObject {
    Q_OBJECT
private slots:
    void prunedLayerEqualsZeroedChannels_data() {
        QTest::addColumn<DType>("matrixType");
        QTest::addColumn<bool>("quantizedActivations");
        for (DType type : {DType::F32, DType::Q8_0})
            for (bool quantized : {false, true})
                QTest::addRow("%s, %s", dtypeName(type).data(), quantized ? "default" : "float reference")
                    << type << quantized;
    }

    void prunedLayerEqualsZeroedChannels() {
        QFETCH(DType, matrixType);
        QFETCH(bool, quantizedActivations);
        const PrunedPair p = makePrunedPair(matrixType);
        test::TempDir dir;
        test::writeTinyGguf(dir.file("full.gguf"), p.fullSpec, p.full);
        test::writeTinyGguf(dir.file("pruned.gguf"), p.prunedSpec, p.pruned);
        const ModelFiles full = openModelFiles(dir.file("full.gguf"));
        const ModelFiles pruned = openModelFiles(dir.file("pruned.gguf"));
        QVERIFY(full.config.layerFf.empty());
        QCOMPARE(pruned.config.layerFf, (std::vector<int>{kKept, 96, 96}));
        QCOMPARE(pruned.config.nFf, 96);
        QCOMPARE(pruned.config.ffOf(0), kKept);
        QCOMPARE(pruned.config.ffOf(2), 96);
        QCOMPARE(pruned.tensor("blk.0.ffn_down.weight").shape, (std::array<int64_t, 4>{kKept, 64, 1, 1}));

        const std::vector<float> a = logitsOf(full, quantizedActivations);
        const std::vector<float> b = logitsOf(pruned, quantizedActivations);
        QCOMPARE(b.size(), a.size());
        const double diff = relativeMaxDiff(b, a);
        qDebug("pruned vs zeroed: relative max diff %.3g", diff);
        QVERIFY2(diff < 1e-5, qPrintable(QString::number(diff)));

        if (!quantizedActivations) {
            // The narrow model's prefill against a double forward pass over its own tensors.
            const std::vector<double> expected = test::NaiveLlama(pruned).forward(
                kPrompt, positions(int(kPrompt.size())), [](int i, int j) { return j <= i; });
            double worst = 0, scale = 1e-6;
            auto backend = makeCpuBackend(CpuBackendOptions{2, false});
            Transformer model(pruned, *backend);
            KvCache cache = model.makeCache(64);
            std::vector<float> logits;
            model.forward(Batch::sequence(kPrompt, 0, 0, true), cache, logits);
            QCOMPARE(logits.size(), expected.size());
            for (size_t i = 0; i < expected.size(); ++i) {
                worst = std::max(worst, std::fabs(double(logits[i]) - expected[i]));
                scale = std::max(scale, std::fabs(expected[i]));
            }
            QVERIFY2(worst / scale < 2e-5, qPrintable(QString::number(worst / scale)));
        }
    }

    void summaryShowsTheWidths() {
        const PrunedPair p = makePrunedPair(DType::F32);
        test::TempDir dir;
        test::writeTinyGguf(dir.file("pruned.gguf"), p.prunedSpec, p.pruned);
        const ModelSummary summary = summarizeModel(openModelFiles(dir.file("pruned.gguf")));
        QCOMPARE(summary.toJson()["ffn_per_layer"], nlohmann::json({kKept, 96, 96}));
        QCOMPARE(summary.toJson()["ffn"], nlohmann::json(96));
        QVERIFY(summary.toText().find("64..96 by layer: 64, 96, 96") != std::string::npos);
    }

    void equalWidthsReadAsOne() {
        PrunedPair p = makePrunedPair(DType::F32);
        p.fullSpec.layerFf = {96, 96, 96};
        test::TempDir dir;
        test::writeTinyGguf(dir.file("equal.gguf"), p.fullSpec, p.full);
        const ModelFiles files = openModelFiles(dir.file("equal.gguf"));
        QVERIFY(files.config.layerFf.empty());
        QCOMPARE(files.config.nFf, 96);
    }

    void badWidthArraysAreNamed() {
        const PrunedPair p = makePrunedPair(DType::F32);
        test::TempDir dir;
        TinyModelSpec spec = p.prunedSpec;
        spec.layerFf = {kKept, 96}; // two widths for three layers
        test::writeTinyGguf(dir.file("short.gguf"), spec, p.pruned);
        std::string message = openError(dir.file("short.gguf"));
        QVERIFY2(message.find("llama.feed_forward_length") != std::string::npos &&
                     message.find("2 widths but the model has 3 layers") != std::string::npos,
                 message.c_str());

        spec.layerFf = {kKept, 0, 96};
        test::writeTinyGguf(dir.file("zero.gguf"), spec, p.pruned);
        message = openError(dir.file("zero.gguf"));
        QVERIFY2(message.find("llama.feed_forward_length") != std::string::npos &&
                     message.find("layer 1") != std::string::npos,
                 message.c_str());
    }

    // The widths say layer 0 is 64 wide but its tensors are 96 wide (and the other way round).
    void tensorsOfTheWrongWidthAreNamed() {
        const PrunedPair p = makePrunedPair(DType::F32);
        test::TempDir dir;
        test::writeTinyGguf(dir.file("wide.gguf"), p.prunedSpec, p.full);
        std::string message = openError(dir.file("wide.gguf"));
        QVERIFY2(message.find("tensor 'blk.0.ffn_gate.weight' has shape [64, 96], expected [64, 64]") !=
                     std::string::npos,
                 message.c_str());

        TinyModelSpec spec = p.prunedSpec;
        spec.layerFf = {96, 96, kKept};
        test::writeTinyGguf(dir.file("swapped.gguf"), spec, p.pruned);
        message = openError(dir.file("swapped.gguf"));
        QVERIFY2(message.find("blk.0.ffn_gate.weight") != std::string::npos, message.c_str());

        // The Transformer checks each layer's own width too (files edited after loading).
        test::writeTinyGguf(dir.file("pruned.gguf"), p.prunedSpec, p.pruned);
        ModelFiles files = openModelFiles(dir.file("pruned.gguf"));
        files.tensors.at("blk.0.ffn_down.weight").shape[0] = 96;
        auto backend = makeCpuBackend(CpuBackendOptions{1, false});
        try {
            Transformer model(files, *backend);
            QFAIL("expected a shape error");
        } catch (const Error& e) {
            QCOMPARE(e.category(), ErrorCategory::InvalidFile);
            QVERIFY2(QString(e.what()).contains("blk.0.ffn_down.weight"), e.what());
        }
    }

    void configValidationChecksTheWidths() {
        ModelConfig c;
        c.name = "m";
        c.nLayers = 2;
        c.nEmbd = 64;
        c.nHeads = 4;
        c.nHeadsKv = 2;
        c.headDim = 16;
        c.ropeDims = 16;
        c.nFf = 96;
        c.vocabSize = 10;
        c.contextLength = 32;
        c.validate();
        c.layerFf = {64, 96};
        c.validate();
        QCOMPARE(c.ffOf(0), 64);
        auto errorOf = [&c]() -> std::string {
            try {
                c.validate();
            } catch (const Error& e) {
                return e.what();
            }
            return "NO ERROR";
        };
        c.layerFf = {64, 96, 96};
        QVERIFY2(errorOf().find("layerFf has 3 feed-forward widths for 2 layers") != std::string::npos,
                 errorOf().c_str());
        c.layerFf = {64, 80};
        QVERIFY2(errorOf().find("nFf is 96 but the widest layer's feed-forward is 80") != std::string::npos,
                 errorOf().c_str());
        c.layerFf = {-1, 96};
        QVERIFY2(errorOf().find("layerFf[0] is -1") != std::string::npos, errorOf().c_str());
    }
};

QTEST_APPLESS_MAIN(TestTransformerFfnWidths)
#include "TestTransformerFfnWidths.moc"
