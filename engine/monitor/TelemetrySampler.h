#pragma once
// A background thread that samples process CPU % and RSS, and per-GPU telemetry through NVML, at a
// fixed rate (default 4 Hz) into a MetricRegistry: each figure goes to a gauge (latest value) and a
// bounded time series (for charts). An optional sink receives the same points in batches (about one
// per second, and the rest at stop) — e.g. RunStore::appendSamples for the current run — so the
// database sees one short transaction per second, not one per sample.
//
// Series: process.cpu_percent (100 = one core), process.rss_bytes, and per GPU N:
// gpuN.utilization_percent, gpuN.memory_used_bytes, gpuN.memory_total_bytes, gpuN.power_w,
// gpuN.temperature_c, gpuN.sm_clock_mhz.

#include "monitor/SeriesSample.h"

#include <atomic>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <thread>
#include <vector>

namespace lathe {

class MetricRegistry;
class NvmlTelemetry;

struct TelemetrySamplerOptions {
    double rateHz = 4.0;
    bool gpu = true; // false: do not load NVML at all
    double sinkIntervalSeconds = 1.0;
    size_t seriesCapacity = 3600; // points kept per series in the registry (15 min at 4 Hz)
};

class TelemetrySampler {
public:
    // Called on the sampler thread. An exception from the sink is caught and logged; sampling goes on.
    using Sink = std::function<void(std::span<const SeriesSample>)>;

    explicit TelemetrySampler(MetricRegistry& registry, TelemetrySamplerOptions options = {});
    ~TelemetrySampler(); // stops the thread (flushing the sink)
    TelemetrySampler(const TelemetrySampler&) = delete;
    TelemetrySampler& operator=(const TelemetrySampler&) = delete;

    void setSink(Sink sink); // call before start()
    void start();
    void stop();
    // Takes one sample now on the calling thread (t measured from construction); used by start() too.
    void sampleOnce();

    bool gpuTelemetryAvailable() const;
    std::string gpuTelemetryStatus() const;                        // "3 GPUs" or "no GPU telemetry: …"
    double ownCpuSeconds() const { return ownCpuSeconds_.load(); } // CPU time of the sampler thread
    int64_t sampleCount() const { return sampleCount_.load(); }

private:
    void run();
    void flushSink();
    void record(const std::string& series, double t, double value);

    MetricRegistry& registry_;
    TelemetrySamplerOptions options_;
    std::unique_ptr<NvmlTelemetry> nvml_;
    Sink sink_;
    std::vector<SeriesSample> pending_; // points not yet given to the sink (sampler thread only)
    double lastFlushT_ = 0;
    double startWall_ = 0;
    double lastWall_ = -1, lastCpu_ = 0;

    std::thread thread_;
    std::mutex mutex_;
    std::condition_variable wake_;
    bool stopping_ = false;
    std::atomic<double> ownCpuSeconds_{0};
    std::atomic<int64_t> sampleCount_{0};
};

} // namespace lathe
