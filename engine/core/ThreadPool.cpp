#include "core/ThreadPool.h"

#include <algorithm>
#include <utility>

namespace lathe {

ThreadPool::ThreadPool(int threadCount) : shares_(size_t(threadCount > 0 ? threadCount : hardwareThreads())) {
    const int total = int(shares_.size());
    workers_.reserve(size_t(total - 1));
    for (int i = 1; i < total; ++i)
        workers_.emplace_back([this, i] { workerLoop(i); });
}

ThreadPool::~ThreadPool() {
    {
        std::lock_guard lock(mutex_);
        stopping_.store(true, std::memory_order_release);
    }
    wake_.notify_all();
    for (std::thread& t : workers_)
        t.join();
}

int ThreadPool::hardwareThreads() {
    return std::max(1u, std::thread::hardware_concurrency());
}

namespace {

constexpr uint64_t packBounds(uint64_t front, uint64_t back) {
    return front | (back << 32);
}

} // namespace

bool ThreadPool::takeOwnGrain(int share, int64_t& grainIndex) {
    std::atomic<uint64_t>& bounds = shares_[size_t(share)].bounds;
    uint64_t seen = bounds.load(std::memory_order_relaxed);
    for (;;) {
        const uint64_t front = seen & 0xffffffffu, back = seen >> 32;
        if (front >= back) return false;
        if (bounds.compare_exchange_weak(seen, packBounds(front + 1, back), std::memory_order_relaxed)) {
            grainIndex = int64_t(front);
            return true;
        }
    }
}

bool ThreadPool::stealGrain(int share, int64_t& grainIndex) {
    std::atomic<uint64_t>& bounds = shares_[size_t(share)].bounds;
    uint64_t seen = bounds.load(std::memory_order_relaxed);
    for (;;) {
        const uint64_t front = seen & 0xffffffffu, back = seen >> 32;
        if (front >= back) return false;
        if (bounds.compare_exchange_weak(seen, packBounds(front, back - 1), std::memory_order_relaxed)) {
            grainIndex = int64_t(back - 1);
            return true;
        }
    }
}

void ThreadPool::runShares(int threadIndex) {
    const auto runGrain = [&](int64_t g) {
        (*body_)(g * grain_, std::min(n_, (g + 1) * grain_), threadIndex);
    };
    int64_t g = 0;
    while (takeOwnGrain(threadIndex, g))
        runGrain(g);
    const int parts = threadCount();
    for (int k = 1; k < parts; ++k) {
        const int victim = (threadIndex + k) % parts;
        while (stealGrain(victim, g))
            runGrain(g);
    }
}

void ThreadPool::runChunk(int threadIndex) {
    try {
        if (split_ == Split::Stealing) {
            runShares(threadIndex);
            return;
        }
        if (split_ == Split::Shared) {
            for (int64_t begin = next_.fetch_add(grain_, std::memory_order_relaxed); begin < n_;
                 begin = next_.fetch_add(grain_, std::memory_order_relaxed))
                (*body_)(begin, std::min(n_, begin + grain_), threadIndex);
            return;
        }
        const int64_t parts = threadCount();
        const int64_t begin = n_ * threadIndex / parts;
        const int64_t end = n_ * (threadIndex + 1) / parts;
        if (begin < end) (*body_)(begin, end, threadIndex);
    } catch (...) {
        std::lock_guard lock(mutex_);
        if (!firstError_) firstError_ = std::current_exception();
    }
}

namespace {

// A pause in a spin loop: lets the sibling hyper-thread run and saves power while polling.
inline void cpuRelax() {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}

// Polls of a waiting thread before it blocks: about 0.6 ms (a pause is ~29 ns on this project's Zen 3
// machines), longer than any gap between two ops of a forward pass, so a busy step never sleeps,
// while an idle pool still goes to sleep within a millisecond. With 2000 polls (~58 us) a 2-thread
// SmolLM2 F16 pp512 bench made ~1800 context switches (llama-bench: ~210) and ran ~6% slower.
constexpr int kSpinPolls = 20000;

} // namespace

void ThreadPool::parallelFor(int64_t n, const RangeFn& body) {
    run(n, 0, Split::Static, body);
}

void ThreadPool::parallelForDynamic(int64_t n, int64_t grain, const RangeFn& body) {
    run(n, std::max<int64_t>(1, grain), Split::Shared, body);
}

void ThreadPool::parallelForStealing(int64_t n, int64_t grain, const RangeFn& body) {
    // Grain indices are packed in 32 bits: a grain too small for that is widened.
    const int64_t minimumGrain = n / int64_t(0xffffffffu) + 1;
    run(n, std::max(grain, minimumGrain), Split::Stealing, body);
}

void ThreadPool::run(int64_t n, int64_t grain, Split split, const RangeFn& body) {
    if (n <= 0) return;
    if (workers_.empty() || n == 1) {
        body(0, n, 0);
        return;
    }
    {
        std::lock_guard lock(mutex_);
        body_ = &body;
        n_ = n;
        grain_ = grain;
        split_ = split;
        next_.store(0, std::memory_order_relaxed);
        if (split == Split::Stealing) {
            const int64_t grains = (n + grain - 1) / grain, parts = threadCount();
            for (int64_t i = 0; i < parts; ++i)
                shares_[size_t(i)].bounds.store(
                    packBounds(uint64_t(grains * i / parts), uint64_t(grains * (i + 1) / parts)),
                    std::memory_order_relaxed);
        }
        pending_.store(int(workers_.size()), std::memory_order_relaxed);
        firstError_ = nullptr;
        generation_.fetch_add(1, std::memory_order_release);
    }
    if (sleepers_.load(std::memory_order_acquire) > 0) wake_.notify_all();
    runChunk(0);
    for (int polls = 0; pending_.load(std::memory_order_acquire) != 0; ++polls) {
        if (polls < kSpinPolls) {
            cpuRelax();
        } else {
            std::unique_lock lock(mutex_);
            done_.wait(lock, [this] { return pending_.load(std::memory_order_acquire) == 0; });
            break;
        }
    }
    std::lock_guard lock(mutex_);
    body_ = nullptr;
    if (firstError_) std::rethrow_exception(std::exchange(firstError_, nullptr));
}

void ThreadPool::workerLoop(int threadIndex) {
    uint64_t seen = 0;
    for (;;) {
        // Spin first: the next op of a forward pass usually arrives within microseconds.
        int polls = 0;
        while (generation_.load(std::memory_order_acquire) == seen &&
               !stopping_.load(std::memory_order_acquire) && polls < kSpinPolls) {
            cpuRelax();
            ++polls;
        }
        {
            std::unique_lock lock(mutex_);
            sleepers_.fetch_add(1, std::memory_order_acq_rel);
            wake_.wait(lock, [&] {
                return stopping_.load(std::memory_order_acquire) ||
                       generation_.load(std::memory_order_acquire) != seen;
            });
            sleepers_.fetch_sub(1, std::memory_order_acq_rel);
            if (stopping_.load(std::memory_order_acquire)) return;
            seen = generation_.load(std::memory_order_acquire);
        }
        runChunk(threadIndex);
        if (pending_.fetch_sub(1, std::memory_order_acq_rel) == 1) {
            std::lock_guard lock(mutex_); // pairs with the caller's predicate check under the mutex
            done_.notify_one();
        }
    }
}

} // namespace lathe
