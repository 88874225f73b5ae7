#pragma once
// A bounded ring buffer of (t, value) points for live charts: appending beyond `capacity` drops the
// oldest point, so a sampler left running for days holds constant memory. Thread-safe.

#include <cstddef>
#include <cstdint>
#include <mutex>
#include <vector>

namespace lathe {

struct TimePoint {
    double t = 0; // seconds
    double value = 0;
};

class TimeSeries {
public:
    explicit TimeSeries(size_t capacity = 3600);

    void append(double t, double value);
    std::vector<TimePoint> points() const;              // oldest first
    std::vector<TimePoint> pointsSince(double t) const; // points with time > t, oldest first
    size_t size() const;
    size_t capacity() const { return capacity_; }
    int64_t totalAppended() const; // including the points dropped from the ring

private:
    mutable std::mutex mutex_;
    size_t capacity_;
    std::vector<TimePoint> ring_;
    size_t head_ = 0; // index of the oldest point once the ring is full
    int64_t total_ = 0;
};

} // namespace lathe
