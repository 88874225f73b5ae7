// The Benchmark action's statistics against hand-computed values, and one short measured run of the
// real default model (the token counts it reports must be the ones asked for).

#include "Benchmark.h"
#include "TestSupport.h"
#include "workbench/Session.h"

#include <QTest>

using namespace lathe;
using namespace lathe::gui;

class TestBenchmark : public QObject {
    Q_OBJECT
private slots:
    void statistics() {
        QCOMPARE(mean({1, 2, 3, 4}), 2.5);
        QCOMPARE(mean({}), 0.0);
        // Sample sd of 2, 4, 4, 4, 5, 5, 7, 9: mean 5, squared deviations sum 32, 32 / 7.
        QVERIFY(qAbs(stddev({2, 4, 4, 4, 5, 5, 7, 9}) - std::sqrt(32.0 / 7.0)) < 1e-12);
        QCOMPARE(stddev({3}), 0.0);
        // numpy.percentile([1, 2, 3, 4], 50) = 2.5; 99 -> 3 + 0.97 = 3.97
        QCOMPARE(percentile({4, 1, 3, 2}, 50), 2.5);
        QVERIFY(qAbs(percentile({1, 2, 3, 4}, 99) - 3.97) < 1e-12);
        QCOMPARE(percentile({}, 50), 0.0);
    }

    void measuresRealModel() {
        const auto path = test::defaultModelPath();
        if (!path) QSKIP(test::kNoDefaultModel);
        auto session = Session::open(*path, SessionOptions{});
        int progressCalls = 0;
        const BenchResult r =
            runBenchmark(*session, {16, 4, 2}, [&](double, std::string_view) { ++progressCalls; }, {});
        QVERIFY(r.promptTokens >= 16);
        QCOMPARE(r.generatedTokens, 4);
        QCOMPARE(int(r.decodeTokensPerSecond.size()), 2);
        QCOMPARE(int(r.interTokenMs.size()), 2 * 3); // 3 gaps between 4 tokens, per repetition
        for (double v : r.promptTokensPerSecond)
            QVERIFY(v > 0);
        QVERIFY(progressCalls >= 2 * 4);

        CancelToken cancel;
        cancel.cancel();
        QVERIFY_THROWS_EXCEPTION(Error, runBenchmark(*session, {16, 4, 1}, {}, cancel));
    }
};

QTEST_MAIN(TestBenchmark)
#include "TestBenchmark.moc"
