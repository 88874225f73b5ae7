#pragma once
// Named counters, gauges, histograms and time series, shared by the decode loop (which pushes TTFT,
// inter-token latency, tokens/s), the TelemetrySampler (process and GPU telemetry) and the readers (charts,
// CLI summaries, the run store). Metrics are created on first use and live as long as the registry,
// so callers may keep the returned references. Thread-safe. Not a singleton: whoever runs a session
// owns one and passes it down.

#include "monitor/Counter.h"
#include "monitor/Gauge.h"
#include "monitor/Histogram.h"
#include "monitor/TimeSeries.h"

#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace lathe {

class MetricRegistry {
public:
    Counter& counter(const std::string& name);
    Gauge& gauge(const std::string& name);
    // The capacity applies when the metric is created by this call.
    Histogram& histogram(const std::string& name, size_t capacity = 65536);
    TimeSeries& series(const std::string& name, size_t capacity = 3600);

    std::vector<std::string> counterNames() const;
    std::vector<std::string> gaugeNames() const;
    std::vector<std::string> histogramNames() const;
    std::vector<std::string> seriesNames() const;

private:
    template <typename Metric, typename... Args>
    Metric& getOrCreate(std::map<std::string, std::unique_ptr<Metric>>& metrics, const std::string& name,
                        Args... args);
    template <typename Metric>
    std::vector<std::string> namesOf(const std::map<std::string, std::unique_ptr<Metric>>& metrics) const;

    mutable std::mutex mutex_;
    std::map<std::string, std::unique_ptr<Counter>> counters_;
    std::map<std::string, std::unique_ptr<Gauge>> gauges_;
    std::map<std::string, std::unique_ptr<Histogram>> histograms_;
    std::map<std::string, std::unique_ptr<TimeSeries>> series_;
};

} // namespace lathe
