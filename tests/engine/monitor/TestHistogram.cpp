// Histogram percentiles against values computed by hand (linear interpolation between closest ranks,
// as numpy.percentile does), and the bounded window.

#include "monitor/Histogram.h"

#include <QtTest>

using namespace lathe;

class TestHistogram : public QObject {
    Q_OBJECT
private slots:
    void percentilesMatchHandComputed() {
        Histogram h;
        for (double v : {15.0, 20.0, 35.0, 40.0, 50.0})
            h.observe(v);
        // n = 5, rank = p/100 · 4: p50 → rank 2 → 35; p90 → rank 3.6 → 40 + 0.6·10 = 46;
        // p25 → rank 1 → 20; p99 → rank 3.96 → 40 + 0.96·10 = 49.6; p0 → 15; p100 → 50.
        QCOMPARE(h.percentile(50), 35.0);
        QCOMPARE(h.percentile(90), 46.0);
        QCOMPARE(h.percentile(25), 20.0);
        QVERIFY(qFuzzyCompare(h.percentile(99), 49.6));
        QCOMPARE(h.percentile(0), 15.0);
        QCOMPARE(h.percentile(100), 50.0);
        QCOMPARE(h.percentile(150), 50.0); // clamped
        const HistogramSummary s = h.summary();
        QCOMPARE(s.count, int64_t(5));
        QCOMPARE(s.sum, 160.0);
        QCOMPARE(s.mean, 32.0);
        QCOMPARE(s.min, 15.0);
        QCOMPARE(s.max, 50.0);
        QCOMPARE(s.p50, 35.0);
        QCOMPARE(s.p90, 46.0);
    }

    void orderOfObservationsDoesNotMatter() {
        Histogram h;
        // 1..100 shuffled: p50 → rank 49.5 → 50.5; p99 → rank 98.01 → 99.01.
        for (int i = 0; i < 100; ++i)
            h.observe(double((i * 37) % 100 + 1));
        QCOMPARE(h.percentile(50), 50.5);
        QVERIFY(qFuzzyCompare(h.percentile(99), 99.01));
    }

    void emptyAndSingle() {
        Histogram h;
        QCOMPARE(h.percentile(50), 0.0);
        QCOMPARE(h.summary().count, int64_t(0));
        h.observe(7);
        QCOMPARE(h.percentile(1), 7.0);
        QCOMPARE(h.percentile(99), 7.0);
        h.clear();
        QCOMPARE(h.count(), int64_t(0));
    }

    void windowKeepsLatestObservations() {
        Histogram h(4);
        for (double v : {1000.0, 1.0, 2.0, 3.0, 4.0})
            h.observe(v); // 1000 falls out of the window
        QCOMPARE(h.percentile(100), 4.0);
        QCOMPARE(h.percentile(50), 2.5);
        const HistogramSummary s = h.summary(); // count, sum and max cover everything
        QCOMPARE(s.count, int64_t(5));
        QCOMPARE(s.max, 1000.0);
        QCOMPARE(s.sum, 1010.0);
    }
};

QTEST_APPLESS_MAIN(TestHistogram)
#include "TestHistogram.moc"
