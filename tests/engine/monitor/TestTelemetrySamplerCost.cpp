// Measures what the TelemetrySampler costs at its default 4 Hz: CPU time of the sampler thread and of the
// whole (otherwise idle) process over LATHE_SAMPLER_COST_SECONDS (default 20 s), printed as a share
// of one core. A measurement, not a timing assert (label: slow).

#include "monitor/MetricRegistry.h"
#include "monitor/TelemetrySampler.h"

#include <QtTest>
#include <cstdlib>
#include <sys/resource.h>
#include <thread>

using namespace lathe;

class TestTelemetrySamplerCost : public QObject {
    Q_OBJECT
private slots:
    void measureCostAtFourHertz() {
        const char* env = std::getenv("LATHE_SAMPLER_COST_SECONDS");
        const double seconds = env ? std::atof(env) : 20.0;
        MetricRegistry registry;
        TelemetrySampler sampler(registry); // defaults: 4 Hz, GPU telemetry when NVML is present
        rusage before{}, after{};
        getrusage(RUSAGE_SELF, &before);
        const auto start = std::chrono::steady_clock::now();
        sampler.start();
        std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
        sampler.stop();
        const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
        getrusage(RUSAGE_SELF, &after);
        auto cpu = [](const rusage& u) {
            return double(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
                   1e-6 * double(u.ru_utime.tv_usec + u.ru_stime.tv_usec);
        };
        const double process = cpu(after) - cpu(before);
        qInfo("sampler at 4 Hz for %.1f s, %lld samples, %s: sampler thread %.4f s CPU = %.4f%% of one core; "
              "whole process %.4f s = %.4f%%",
              wall, (long long)sampler.sampleCount(), sampler.gpuTelemetryStatus().c_str(),
              sampler.ownCpuSeconds(), 100.0 * sampler.ownCpuSeconds() / wall, process,
              100.0 * process / wall);
        QVERIFY(sampler.sampleCount() >= 1);
    }
};

QTEST_APPLESS_MAIN(TestTelemetrySamplerCost)
#include "TestTelemetrySamplerCost.moc"
