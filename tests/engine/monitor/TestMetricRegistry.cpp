// MetricRegistry: metrics are created once per name, references stay valid, and concurrent updates
// from many threads add up exactly.

#include "monitor/EngineMetrics.h"
#include "monitor/MetricRegistry.h"

#include <QtTest>
#include <thread>

using namespace lathe;

class TestMetricRegistry : public QObject {
    Q_OBJECT
private slots:
    void sameNameSameMetric() {
        MetricRegistry r;
        Counter& tokens = r.counter("tokens");
        tokens.add(3);
        r.counter("tokens").add(4);
        QCOMPARE(&r.counter("tokens"), &tokens);
        QCOMPARE(tokens.value(), int64_t(7));
        r.gauge("rss").set(12.5);
        QCOMPARE(r.gauge("rss").value(), 12.5);
        r.histogram(metric::kTtftMs).observe(10);
        r.histogram(metric::kTtftMs).observe(30);
        QCOMPARE(r.histogram(metric::kTtftMs).percentile(50), 20.0);
        r.series("cpu", 2).append(0, 1);
        QCOMPARE(r.series("cpu").capacity(), size_t(2)); // capacity set at creation
        QCOMPARE(r.counterNames(), std::vector<std::string>{"tokens"});
        QCOMPARE(r.histogramNames(), std::vector<std::string>{"ttft_ms"});
        QCOMPARE(r.seriesNames(), std::vector<std::string>{"cpu"});
        QCOMPARE(r.gaugeNames(), std::vector<std::string>{"rss"});
    }

    void concurrentUpdatesAddUp() {
        MetricRegistry r;
        constexpr int kThreads = 8, kEach = 20000;
        std::vector<std::thread> threads;
        for (int t = 0; t < kThreads; ++t)
            threads.emplace_back([&r, t] {
                for (int i = 0; i < kEach; ++i) {
                    r.counter("decoded").add();
                    r.histogram(metric::kItlMs).observe(double(t));
                    r.series("s" + std::to_string(i % 4), 16).append(i, t);
                }
            });
        for (auto& t : threads)
            t.join();
        QCOMPARE(r.counter("decoded").value(), int64_t(kThreads * kEach));
        const HistogramSummary s = r.histogram(metric::kItlMs).summary();
        QCOMPARE(s.count, int64_t(kThreads * kEach));
        QCOMPARE(s.sum, double(kEach) * (0 + 1 + 2 + 3 + 4 + 5 + 6 + 7));
        QCOMPARE(r.seriesNames().size(), size_t(4));
        QCOMPARE(r.series("s0").size(), size_t(16));
    }
};

QTEST_APPLESS_MAIN(TestMetricRegistry)
#include "TestMetricRegistry.moc"
