#pragma once
// A persistent pool of worker threads for data-parallel loops. Threads are created once; each
// parallelFor wakes them, splits [0, n) into contiguous chunks and returns when all are done. Waiting
// threads poll for about 50-100 microseconds before they block, since the ops of a decode step follow
// each other faster than a sleeping thread wakes up.
// The calling thread takes a share of the work, so a pool of N threads uses N-1 workers.

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace lathe {

class ThreadPool {
public:
    // threadCount <= 0 means "all hardware threads".
    explicit ThreadPool(int threadCount);
    ~ThreadPool();
    ThreadPool(const ThreadPool&) = delete;
    ThreadPool& operator=(const ThreadPool&) = delete;

    int threadCount() const { return int(workers_.size()) + 1; }

    // Calls body(begin, end, threadIndex) over disjoint chunks covering [0, n). Blocks until done.
    // Exceptions thrown by body are rethrown here (the first one).
    using RangeFn = std::function<void(int64_t begin, int64_t end, int threadIndex)>;
    void parallelFor(int64_t n, const RangeFn& body);
    // The same, but the threads take chunks of `grain` items from a shared counter until none are left
    // (a pool of one thread, or n == 1, still makes a single call over [0, n)),
    // so that uneven speeds (a core shared with other work, memory stalls) even out instead of one
    // thread waiting for the other. Only for bodies whose results do not depend on where [0, n) is cut
    // (no per-chunk partial sums), since the cuts differ from run to run.
    void parallelForDynamic(int64_t n, int64_t grain, const RangeFn& body);
    // Each thread owns one contiguous share of [0, n) and walks it front to back, `grain` items at a
    // time; a thread done with its own share takes grains from the back of the others' until none are
    // left. Each thread reads one sequential stream (as with parallelFor) while a late thread's tail
    // still goes to an idle one. The same restriction on the body as parallelForDynamic.
    void parallelForStealing(int64_t n, int64_t grain, const RangeFn& body);

    static int hardwareThreads();

private:
    void workerLoop(int threadIndex);
    void runChunk(int threadIndex);
    enum class Split { Static, Shared, Stealing };
    void run(int64_t n, int64_t grain, Split split, const RangeFn& body);
    void runShares(int threadIndex);
    bool takeOwnGrain(int share, int64_t& grainIndex);
    bool stealGrain(int share, int64_t& grainIndex);

    // One thread's share of the grains in parallelForStealing: [front, back) packed as two 32-bit
    // halves (front low) so that the owner (front) and thieves (back) claim with one compare-exchange.
    struct alignas(64) Share {
        std::atomic<uint64_t> bounds{0};
    };

    std::vector<std::thread> workers_;
    std::mutex mutex_;
    std::condition_variable wake_;
    std::condition_variable done_;
    const RangeFn* body_ = nullptr;
    int64_t n_ = 0;
    int64_t grain_ = 0;
    Split split_ = Split::Static;
    std::vector<Share> shares_;           // one per thread, for Split::Stealing
    std::atomic<int64_t> next_{0};        // the next unclaimed item for Split::Shared
    std::atomic<uint64_t> generation_{0}; // bumped (under mutex_) for each parallelFor
    std::atomic<int> pending_{0};         // workers still running the current body
    std::atomic<int> sleepers_{0};        // workers blocked on wake_
    std::atomic<bool> stopping_{false};
    std::exception_ptr firstError_;
};

} // namespace lathe
