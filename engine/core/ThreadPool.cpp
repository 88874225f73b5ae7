#include "core/ThreadPool.h"

#include <algorithm>
#include <utility>

namespace lathe {

ThreadPool::ThreadPool(int threadCount) {
    const int total = threadCount > 0 ? threadCount : hardwareThreads();
    workers_.reserve(size_t(total - 1));
    for (int i = 1; i < total; ++i)
        workers_.emplace_back([this, i] { workerLoop(i); });
}

ThreadPool::~ThreadPool() {
    {
        std::lock_guard lock(mutex_);
        stopping_ = true;
    }
    wake_.notify_all();
    for (std::thread& t : workers_)
        t.join();
}

int ThreadPool::hardwareThreads() {
    return std::max(1u, std::thread::hardware_concurrency());
}

void ThreadPool::runChunk(int threadIndex) {
    const int64_t parts = threadCount();
    const int64_t begin = n_ * threadIndex / parts;
    const int64_t end = n_ * (threadIndex + 1) / parts;
    if (begin >= end) return;
    try {
        (*body_)(begin, end, threadIndex);
    } catch (...) {
        std::lock_guard lock(mutex_);
        if (!firstError_) firstError_ = std::current_exception();
    }
}

void ThreadPool::parallelFor(int64_t n, const RangeFn& body) {
    if (n <= 0) return;
    if (workers_.empty() || n == 1) {
        body(0, n, 0);
        return;
    }
    {
        std::lock_guard lock(mutex_);
        body_ = &body;
        n_ = n;
        pending_ = int(workers_.size());
        firstError_ = nullptr;
        ++generation_;
    }
    wake_.notify_all();
    runChunk(0);
    std::unique_lock lock(mutex_);
    done_.wait(lock, [this] { return pending_ == 0; });
    body_ = nullptr;
    if (firstError_) std::rethrow_exception(std::exchange(firstError_, nullptr));
}

void ThreadPool::workerLoop(int threadIndex) {
    uint64_t seen = 0;
    for (;;) {
        {
            std::unique_lock lock(mutex_);
            wake_.wait(lock, [&] { return stopping_ || generation_ != seen; });
            if (stopping_) return;
            seen = generation_;
        }
        runChunk(threadIndex);
        {
            std::lock_guard lock(mutex_);
            --pending_;
        }
        done_.notify_one();
    }
}

} // namespace lathe
