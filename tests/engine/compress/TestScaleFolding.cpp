// Per-channel scales folded into the model (compress/ScaleFolding, used by AWQ and SmoothQuant) leave
// the float model's function unchanged before any rounding: the logits of a tiny model with random
// scales folded at every site equal the original's, both through EditableModel::currentFiles() and
// after a write to F32 and a reload. AWQ's scale formula and the SmoothQuant migration are checked
// against their definitions.

#include "CompressTestModel.h"
#include "TestSupport.h"
#include "compress/Awq.h"
#include "compress/EditableModel.h"
#include "compress/ScaleFolding.h"
#include "compress/SmoothQuant.h"
#include "core/Error.h"

#include <QTest>
#include <cmath>
#include <random>

using namespace lathe;

class TestScaleFolding : public QObject {
    Q_OBJECT

private slots:
    void foldedScalesLeaveTheFloatModelUnchanged() {
        test::TempDir dir;
        const auto path = test::writeTinyModel(dir.file("tiny.gguf"), /*withoutGqa=*/true);
        const std::vector<float> before = test::promptLogits(openModelFiles(path));
        EditableModel model(path);
        std::mt19937 rng(3);
        std::uniform_real_distribution<float> scale(0.25f, 4.0f);
        for (int l = 0; l < model.config().nLayers; ++l)
            for (ScaleSite site : kScaleSites) {
                QVERIFY(canFoldInputScales(model.config(), site));
                const int64_t width = model.matrix(l, consumersOf(site).front()).cols;
                std::vector<float> s(static_cast<size_t>(width));
                for (float& v : s)
                    v = scale(rng);
                foldInputScales(model, l, site, s);
            }
        // The weights did change...
        const std::vector<float> after = test::promptLogits(model.currentFiles());
        QCOMPARE(after.size(), before.size());
        const double diff = test::relativeMaxDifference(after, before);
        qInfo("folded: relative max logit difference %.3g", diff);
        QVERIFY(diff < 1e-5);
        // ... and the written file computes the same function.
        model.write(dir.file("folded.gguf"), DType::F32);
        const std::vector<float> reloaded = test::promptLogits(openModelFiles(dir.file("folded.gguf")));
        QVERIFY(test::relativeMaxDifference(reloaded, before) < 1e-5);
    }

    void attentionOutputDoesNotFoldUnderGroupedQueryAttention() {
        test::TempDir dir;
        EditableModel model(test::writeTinyModel(dir.file("gqa.gguf")));
        QVERIFY(!canFoldInputScales(model.config(), ScaleSite::AttnOutput));
        const std::vector<float> s(size_t(model.config().nEmbd), 2.0f);
        QVERIFY_THROWS_EXCEPTION(Error, foldInputScales(model, 0, ScaleSite::AttnOutput, s));
    }

    void awqScalesFollowTheirDefinition() {
        const std::vector<float> meanAbs = {0.5f, 2.0f, 8.0f, 0.0f};
        const std::vector<float> s = awqScales(meanAbs, 0.5);
        // s_j ∝ max(x, 1e-4)^0.5, normalised so that max·min = 1.
        const double raw[] = {std::sqrt(0.5), std::sqrt(2.0), std::sqrt(8.0), std::sqrt(1e-4)};
        const double norm = std::sqrt(raw[2] * raw[3]);
        for (size_t j = 0; j < 4; ++j)
            QVERIFY(std::fabs(s[j] - raw[j] / norm) < 1e-6 * raw[j] / norm);
        for (float v : awqScales(meanAbs, 0.0))
            QCOMPARE(v, 1.0f); // alpha 0 is plain RTN
    }

    void smoothingBalancesActivationAndWeightRanges() {
        // alpha 0.5: after migration max|X_j| / s_j == max|W_j| · s_j (both sqrt(max|X| · max|W|)).
        const std::vector<float> xMax = {40.0f, 1.0f, 0.1f}, wMax = {0.1f, 0.5f, 2.0f};
        const std::vector<float> s = smoothingScales(xMax, wMax, 0.5);
        for (size_t j = 0; j < s.size(); ++j)
            QVERIFY(std::fabs(xMax[j] / s[j] - wMax[j] * s[j]) < 1e-5 * xMax[j] / s[j]);
    }
};

QTEST_APPLESS_MAIN(TestScaleFolding)
#include "TestScaleFolding.moc"
