// HistogramChart bins observations evenly between their minimum and maximum.

#include "widgets/HistogramChart.h"

#include <QTest>

using lathe::widgets::HistogramChart;

class TestHistogramChart : public QObject {
    Q_OBJECT
private slots:
    void binsByHand() {
        HistogramChart chart("ITL", "ms");
        // min 0, max 10, 5 bins of width 2: [0,2) [2,4) [4,6) [6,8) [8,10]
        chart.setSamples({0, 1, 2, 3.9, 4, 9, 10, 10}, 5);
        QCOMPARE(chart.counts(), QList<int>({2, 2, 1, 0, 3}));
    }

    void emptyHasNoBins() {
        HistogramChart chart("ITL", "ms");
        chart.setSamples({}, 5);
        QVERIFY(chart.counts().isEmpty());
    }

    void identicalValuesFallInOneBin() {
        HistogramChart chart("ITL", "ms");
        chart.setSamples({3, 3, 3}, 4);
        QCOMPARE(chart.counts(), QList<int>({3, 0, 0, 0}));
    }
};

QTEST_MAIN(TestHistogramChart)
#include "TestHistogramChart.moc"
