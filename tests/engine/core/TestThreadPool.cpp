#include "core/Error.h"
#include "core/ThreadPool.h"

#include <QtTest>
#include <atomic>
#include <chrono>
#include <numeric>
#include <thread>

using namespace lathe;

class TestThreadPool : public QObject {
    Q_OBJECT
private slots:
    void coversEveryIndexExactlyOnce() {
        for (int threads : {1, 2, 3, 8}) {
            ThreadPool pool(threads);
            QCOMPARE(pool.threadCount(), threads);
            for (int64_t n : {int64_t(1), int64_t(2), int64_t(7), int64_t(1000)}) {
                std::vector<std::atomic<int>> hits(static_cast<size_t>(n));
                pool.parallelFor(n, [&](int64_t begin, int64_t end, int) {
                    for (int64_t i = begin; i < end; ++i)
                        hits[size_t(i)].fetch_add(1);
                });
                for (auto& h : hits)
                    QCOMPARE(h.load(), 1);
            }
        }
    }

    // Dynamic chunks: every index once, chunks of at most `grain` (one call over [0, n) with one thread),
    // thread indices in range, and calls alternating with static ones (the counter is reset each time).
    void dynamicChunksCoverEveryIndexOnce() {
        for (int threads : {1, 2, 3})
            for (int64_t grain : {int64_t(1), int64_t(3), int64_t(64)}) {
                ThreadPool pool(threads);
                for (int64_t n : {int64_t(1), int64_t(2), int64_t(7), int64_t(1000)}) {
                    std::vector<std::atomic<int>> hits(static_cast<size_t>(n));
                    std::atomic<bool> bad{false};
                    pool.parallelForDynamic(n, grain, [&](int64_t begin, int64_t end, int index) {
                        const bool wholeRange = threads == 1 || n == 1; // one call over [0, n)
                        if ((!wholeRange && end - begin > grain) || index < 0 || index >= threads) bad = true;
                        for (int64_t i = begin; i < end; ++i)
                            hits[size_t(i)].fetch_add(1);
                    });
                    pool.parallelFor(n, [](int64_t, int64_t, int) {});
                    QVERIFY(!bad);
                    for (auto& h : hits)
                        QCOMPARE(h.load(), 1);
                }
            }
    }

    // Stealing: every index once, in chunks of at most `grain`; each thread runs the chunks of its own
    // share in order from the share's start (what keeps its reads one sequential stream).
    void stealingCoversEveryIndexOnceAndWalksEachShareInOrder() {
        for (int threads : {1, 2, 3, 8})
            for (int64_t grain : {int64_t(1), int64_t(3), int64_t(64)}) {
                ThreadPool pool(threads);
                for (int64_t n : {int64_t(1), int64_t(2), int64_t(7), int64_t(1000)}) {
                    std::vector<std::atomic<int>> hits(static_cast<size_t>(n));
                    std::vector<std::vector<int64_t>> begins(static_cast<size_t>(threads));
                    std::atomic<bool> bad{false};
                    pool.parallelForStealing(n, grain, [&](int64_t begin, int64_t end, int index) {
                        const bool wholeRange = threads == 1 || n == 1;
                        if ((!wholeRange && end - begin > grain) || index < 0 || index >= threads) {
                            bad = true;
                            return;
                        }
                        begins[size_t(index)].push_back(begin); // one writer per thread index
                        for (int64_t i = begin; i < end; ++i)
                            hits[size_t(i)].fetch_add(1);
                    });
                    pool.parallelForDynamic(n, 5, [](int64_t, int64_t, int) {}); // a different split between
                    QVERIFY(!bad);
                    for (auto& h : hits)
                        QCOMPARE(h.load(), 1);
                    if (threads == 1 || n == 1) continue;
                    const int64_t grains = (n + grain - 1) / grain;
                    for (int t = 0; t < threads; ++t) {
                        const int64_t first = grains * t / threads, last = grains * (t + 1) / threads;
                        int64_t expected = first;
                        for (int64_t begin : begins[size_t(t)])
                            if (begin / grain >= first && begin / grain < last) {
                                QCOMPARE(begin / grain, expected); // the owner takes its share's front
                                ++expected;
                            }
                    }
                }
            }
    }

    // A thread that is slow (here: sleeps 20 ms in each chunk, so that it could only reach the other share
    // if that thread stalled for over half a second) has the back of its share taken by the other.
    void stealingHandsASlowThreadsTailToTheOther() {
        ThreadPool pool(2);
        constexpr int64_t n = 64;
        std::vector<int> ranBy(size_t(n), -1);
        pool.parallelForStealing(n, 1, [&](int64_t begin, int64_t end, int index) {
            if (index == 1) std::this_thread::sleep_for(std::chrono::milliseconds(20));
            for (int64_t i = begin; i < end; ++i)
                ranBy[size_t(i)] = index;
        });
        int stolen = 0;
        for (int64_t i = n / 2; i < n; ++i)
            stolen += ranBy[size_t(i)] == 0;
        QVERIFY2(stolen > 0, "thread 0 took none of thread 1's share");
        // What was taken is the share's tail: once thread 0 appears it runs every index to the end.
        int64_t firstStolen = n;
        for (int64_t i = n / 2; i < n && firstStolen == n; ++i)
            if (ranBy[size_t(i)] == 0) firstStolen = i;
        for (int64_t i = firstStolen; i < n; ++i)
            QCOMPARE(ranBy[size_t(i)], 0);
        for (int64_t i = 0; i < n / 2; ++i)
            QCOMPARE(ranBy[size_t(i)], 0); // its own share, untouched by the sleeping thread
    }

    void reusesThreadsAcrossManyCalls() {
        ThreadPool pool(4);
        std::atomic<int64_t> sum{0};
        for (int round = 0; round < 2000; ++round)
            pool.parallelFor(64, [&](int64_t begin, int64_t end, int) {
                for (int64_t i = begin; i < end; ++i)
                    sum += i;
            });
        QCOMPARE(sum.load(), int64_t(2000) * (63 * 64 / 2));
    }

    void threadIndexIsWithinRange() {
        ThreadPool pool(3);
        std::atomic<bool> bad{false};
        pool.parallelFor(100, [&](int64_t, int64_t, int index) {
            if (index < 0 || index >= 3) bad = true;
        });
        QVERIFY(!bad);
    }

    void rethrowsTheFirstError() {
        ThreadPool pool(2);
        bool caught = false;
        try {
            pool.parallelFor(10, [](int64_t begin, int64_t, int) {
                if (begin == 0) fail(ErrorCategory::Internal, "boom");
            });
        } catch (const Error& e) {
            caught = QString(e.what()) == "boom";
        }
        QVERIFY(caught);
        // the pool still works afterwards
        std::atomic<int> count{0};
        pool.parallelFor(10, [&](int64_t b, int64_t e, int) { count += int(e - b); });
        QCOMPARE(count.load(), 10);
    }
};

QTEST_APPLESS_MAIN(TestThreadPool)
#include "TestThreadPool.moc"
