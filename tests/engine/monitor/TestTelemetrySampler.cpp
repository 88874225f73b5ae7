// TelemetrySampler: RSS agrees with the kernel's VmRSS, CPU % integrates to the CPU time getrusage reports,
// the sink receives every point, and a machine without NVML samples without error.

#include "monitor/EngineMetrics.h"
#include "monitor/MetricRegistry.h"
#include "monitor/TelemetrySampler.h"

#include <QtTest>
#include <atomic>
#include <fstream>
#include <sys/resource.h>
#include <thread>
#include <unistd.h>

using namespace lathe;

namespace {

double rusageCpuSeconds() {
    rusage usage{};
    getrusage(RUSAGE_SELF, &usage);
    return double(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) +
           1e-6 * double(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec);
}

// VmRSS from /proc/self/status (kB), an independent reading of what statm reports in pages.
double vmRssBytes() {
    std::ifstream in("/proc/self/status");
    std::string key;
    double kb = 0;
    std::string line;
    while (std::getline(in, line))
        if (line.rfind("VmRSS:", 0) == 0) kb = std::stod(line.substr(6));
    return kb * 1024;
}

} // namespace

class TestTelemetrySampler : public QObject {
    Q_OBJECT
private slots:
    void samplesRssAndCpuAndFeedsTheSink() {
        MetricRegistry registry;
        TelemetrySamplerOptions options;
        options.rateHz = 20;
        options.sinkIntervalSeconds = 0.2;
        TelemetrySampler sampler(registry, options);
        std::mutex sinkMutex;
        std::vector<SeriesSample> sunk;
        sampler.setSink([&](std::span<const SeriesSample> batch) {
            std::lock_guard lock(sinkMutex);
            sunk.insert(sunk.end(), batch.begin(), batch.end());
        });

        std::vector<char> ballast(64 << 20, 1); // 64 MiB touched: RSS must show it
        std::atomic<bool> burn{true};
        const double cpuBefore = rusageCpuSeconds();
        sampler.start();
        std::thread burner([&] {
            volatile double x = 0;
            while (burn)
                x = x + 1.0;
        });
        std::this_thread::sleep_for(std::chrono::milliseconds(1500));
        burn = false;
        burner.join();
        sampler.stop();
        const double cpuAfter = rusageCpuSeconds();
        const double rssNow = vmRssBytes();

        const auto rss = registry.series(metric::kProcessRssBytes).points();
        const auto cpu = registry.series(metric::kProcessCpuPercent).points();
        QVERIFY(rss.size() >= 5);
        QCOMPARE(cpu.size() + 1, rss.size()); // the first sample sets the CPU baseline
        for (const TimePoint& p : rss)
            QVERIFY(p.value > 64.0 * (1 << 20));
        QVERIFY2(std::abs(rss.back().value - rssNow) < 0.25 * rssNow,
                 qPrintable(QString::number(rss.back().value)));
        QCOMPARE(registry.gauge(metric::kProcessRssBytes).value(), rss.back().value);

        const double cores = std::thread::hardware_concurrency();
        double cpuSecondsSampled = 0;
        for (size_t i = 0; i < cpu.size(); ++i) {
            QVERIFY(cpu[i].value >= 0);
            QVERIFY(cpu[i].value <= 100.0 * cores * 1.05);
            cpuSecondsSampled += cpu[i].value / 100.0 * (rss[i + 1].t - rss[i].t);
        }
        // The samples cover a slightly shorter window than getrusage did.
        const double cpuSecondsUsed = cpuAfter - cpuBefore;
        QVERIFY2(
            cpuSecondsSampled <= cpuSecondsUsed + 0.02 && cpuSecondsSampled >= 0.6 * cpuSecondsUsed - 0.05,
            qPrintable(QString("sampled %1 s, getrusage %2 s").arg(cpuSecondsSampled).arg(cpuSecondsUsed)));
        QVERIFY(cpuSecondsUsed > 0.1); // the burner ran

        // Every recorded point went to the sink once (stop flushes the rest).
        QCOMPARE(sunk.size(), rss.size() + cpu.size() + (registry.seriesNames().size() - 2) * rss.size());
        QVERIFY(sampler.ownCpuSeconds() > 0);
        (void)ballast;
    }

    void noGpuTelemetryIsNotAnError() {
        MetricRegistry registry;
        TelemetrySampler sampler(registry);
        sampler.sampleOnce();
        sampler.sampleOnce();
        const std::string status = sampler.gpuTelemetryStatus();
        QVERIFY(!status.empty());
        if (!sampler.gpuTelemetryAvailable()) {
            QVERIFY(status.rfind("no GPU telemetry", 0) == 0);
            for (const std::string& name : registry.seriesNames())
                QVERIFY(name.rfind("gpu", 0) != 0);
        } else {
            QVERIFY(registry.series("gpu0.memory_total_bytes").size() == 2);
        }
        QCOMPARE(sampler.sampleCount(), int64_t(2));
    }
};

QTEST_APPLESS_MAIN(TestTelemetrySampler)
#include "TestTelemetrySampler.moc"
