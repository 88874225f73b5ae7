#pragma once
// A monotonically increasing count (tokens generated, requests served). Lock-free.

#include <atomic>
#include <cstdint>

namespace lathe {

class Counter {
public:
    void add(int64_t n = 1) { value_.fetch_add(n, std::memory_order_relaxed); }
    int64_t value() const { return value_.load(std::memory_order_relaxed); }

private:
    std::atomic<int64_t> value_{0};
};

} // namespace lathe
