#pragma once
// Distribution of observations (latencies) with percentiles. Count, sum, min and max cover every
// observation; percentiles cover the most recent `capacity` ones, so memory stays bounded during a
// long chat while the figures follow the current behaviour. Thread-safe.

#include <cstddef>
#include <cstdint>
#include <mutex>
#include <vector>

namespace lathe {

struct HistogramSummary {
    int64_t count = 0;
    double sum = 0, min = 0, max = 0, mean = 0;
    double p50 = 0, p90 = 0, p99 = 0; // over the retained window
};

class Histogram {
public:
    explicit Histogram(size_t capacity = 65536);

    void observe(double value);
    // Linear interpolation between closest ranks (numpy's default): rank = p/100 · (n − 1).
    // 0 when empty; p outside [0, 100] is clamped.
    double percentile(double p) const;
    HistogramSummary summary() const;
    int64_t count() const;
    void clear();

private:
    static double percentileOfSorted(const std::vector<double>& sorted, double p);

    mutable std::mutex mutex_;
    size_t capacity_;
    std::vector<double> window_; // ring of the latest observations
    size_t next_ = 0;            // where the next observation goes once the ring is full
    int64_t count_ = 0;
    double sum_ = 0, min_ = 0, max_ = 0;
};

} // namespace lathe
