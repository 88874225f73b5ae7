#include "monitor/MetricRegistry.h"

namespace lathe {

template <typename Metric, typename... Args>
Metric& MetricRegistry::getOrCreate(std::map<std::string, std::unique_ptr<Metric>>& metrics,
                                    const std::string& name, Args... args) {
    std::lock_guard lock(mutex_);
    std::unique_ptr<Metric>& slot = metrics[name];
    if (!slot) slot = std::make_unique<Metric>(args...);
    return *slot;
}

template <typename Metric>
std::vector<std::string>
MetricRegistry::namesOf(const std::map<std::string, std::unique_ptr<Metric>>& metrics) const {
    std::lock_guard lock(mutex_);
    std::vector<std::string> names;
    for (const auto& entry : metrics)
        names.push_back(entry.first);
    return names;
}

Counter& MetricRegistry::counter(const std::string& name) {
    return getOrCreate(counters_, name);
}
Gauge& MetricRegistry::gauge(const std::string& name) {
    return getOrCreate(gauges_, name);
}
Histogram& MetricRegistry::histogram(const std::string& name, size_t capacity) {
    return getOrCreate(histograms_, name, capacity);
}
TimeSeries& MetricRegistry::series(const std::string& name, size_t capacity) {
    return getOrCreate(series_, name, capacity);
}

std::vector<std::string> MetricRegistry::counterNames() const {
    return namesOf(counters_);
}
std::vector<std::string> MetricRegistry::gaugeNames() const {
    return namesOf(gauges_);
}
std::vector<std::string> MetricRegistry::histogramNames() const {
    return namesOf(histograms_);
}
std::vector<std::string> MetricRegistry::seriesNames() const {
    return namesOf(series_);
}

} // namespace lathe
