#include "monitor/Histogram.h"

#include <algorithm>
#include <cmath>

namespace lathe {

Histogram::Histogram(size_t capacity) : capacity_(std::max<size_t>(1, capacity)) {}

void Histogram::observe(double value) {
    std::lock_guard lock(mutex_);
    if (window_.size() < capacity_)
        window_.push_back(value);
    else
        window_[next_] = value;
    next_ = (next_ + 1) % capacity_;
    min_ = count_ == 0 ? value : std::min(min_, value);
    max_ = count_ == 0 ? value : std::max(max_, value);
    sum_ += value;
    ++count_;
}

double Histogram::percentileOfSorted(const std::vector<double>& sorted, double p) {
    if (sorted.empty()) return 0;
    const double rank = std::clamp(p, 0.0, 100.0) / 100.0 * double(sorted.size() - 1);
    const size_t lo = size_t(std::floor(rank));
    const size_t hi = std::min(lo + 1, sorted.size() - 1);
    return sorted[lo] + (rank - double(lo)) * (sorted[hi] - sorted[lo]);
}

double Histogram::percentile(double p) const {
    std::vector<double> sorted;
    {
        std::lock_guard lock(mutex_);
        sorted = window_;
    }
    std::sort(sorted.begin(), sorted.end());
    return percentileOfSorted(sorted, p);
}

HistogramSummary Histogram::summary() const {
    HistogramSummary s;
    std::vector<double> sorted;
    {
        std::lock_guard lock(mutex_);
        sorted = window_;
        s.count = count_;
        s.sum = sum_;
        s.min = min_;
        s.max = max_;
    }
    s.mean = s.count > 0 ? s.sum / double(s.count) : 0;
    std::sort(sorted.begin(), sorted.end());
    s.p50 = percentileOfSorted(sorted, 50);
    s.p90 = percentileOfSorted(sorted, 90);
    s.p99 = percentileOfSorted(sorted, 99);
    return s;
}

int64_t Histogram::count() const {
    std::lock_guard lock(mutex_);
    return count_;
}

void Histogram::clear() {
    std::lock_guard lock(mutex_);
    window_.clear();
    next_ = 0;
    count_ = 0;
    sum_ = min_ = max_ = 0;
}

} // namespace lathe
