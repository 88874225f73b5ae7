#include "monitor/TimeSeries.h"

#include <algorithm>

namespace lathe {

TimeSeries::TimeSeries(size_t capacity) : capacity_(std::max<size_t>(1, capacity)) {
    ring_.reserve(std::min<size_t>(capacity_, 1024));
}

void TimeSeries::append(double t, double value) {
    std::lock_guard lock(mutex_);
    if (ring_.size() < capacity_) {
        ring_.push_back({t, value});
    } else {
        ring_[head_] = {t, value};
        head_ = (head_ + 1) % capacity_;
    }
    ++total_;
}

std::vector<TimePoint> TimeSeries::points() const {
    std::lock_guard lock(mutex_);
    std::vector<TimePoint> ordered;
    ordered.reserve(ring_.size());
    for (size_t i = 0; i < ring_.size(); ++i)
        ordered.push_back(ring_[(head_ + i) % ring_.size()]);
    return ordered;
}

std::vector<TimePoint> TimeSeries::pointsSince(double t) const {
    std::vector<TimePoint> all = points();
    all.erase(all.begin(), std::find_if(all.begin(), all.end(), [t](const TimePoint& p) { return p.t > t; }));
    return all;
}

size_t TimeSeries::size() const {
    std::lock_guard lock(mutex_);
    return ring_.size();
}

int64_t TimeSeries::totalAppended() const {
    std::lock_guard lock(mutex_);
    return total_;
}

} // namespace lathe
