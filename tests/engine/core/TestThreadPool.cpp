#include "core/Error.h"
#include "core/ThreadPool.h"

#include <QtTest>
#include <atomic>
#include <numeric>

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
