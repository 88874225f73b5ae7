// TimeSeries: the ring buffer never grows beyond its capacity and returns the latest points in order.

#include "monitor/TimeSeries.h"

#include <QtTest>

using namespace lathe;

class TestTimeSeries : public QObject {
    Q_OBJECT
private slots:
    void keepsAllUntilFull() {
        TimeSeries s(5);
        for (int i = 0; i < 3; ++i)
            s.append(i, i * 10.0);
        const auto p = s.points();
        QCOMPARE(p.size(), size_t(3));
        QCOMPARE(p[2].t, 2.0);
        QCOMPARE(p[2].value, 20.0);
    }

    void dropsOldestBeyondCapacity() {
        TimeSeries s(5);
        for (int i = 0; i < 23; ++i)
            s.append(i, i * 10.0);
        QCOMPARE(s.size(), size_t(5));
        QCOMPARE(s.totalAppended(), int64_t(23));
        const auto p = s.points();
        QCOMPARE(p.size(), size_t(5));
        for (int i = 0; i < 5; ++i) {
            QCOMPARE(p[i].t, double(18 + i)); // 18..22, oldest first
            QCOMPARE(p[i].value, (18 + i) * 10.0);
        }
        const auto since = s.pointsSince(20);
        QCOMPARE(since.size(), size_t(2));
        QCOMPARE(since[0].t, 21.0);
    }

    void boundedUnderConcurrentAppends() {
        TimeSeries s(100);
        std::vector<std::thread> writers;
        for (int w = 0; w < 4; ++w)
            writers.emplace_back([&s] {
                for (int i = 0; i < 10000; ++i)
                    s.append(i, 1.0);
            });
        for (auto& t : writers)
            t.join();
        QCOMPARE(s.size(), size_t(100));
        QCOMPARE(s.totalAppended(), int64_t(40000));
    }
};

QTEST_APPLESS_MAIN(TestTimeSeries)
#include "TestTimeSeries.moc"
