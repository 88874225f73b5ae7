// LiveChart: series replaced whole, unknown keys ignored, and an unavailable state with its reason.

#include "widgets/LiveChart.h"

#include <QLabel>
#include <QTest>

using lathe::widgets::LiveChart;

class TestLiveChart : public QObject {
    Q_OBJECT
private slots:
    void replacesPoints() {
        LiveChart chart("Speed", "tok/s");
        chart.addSeries("a", "A", Qt::blue);
        chart.setPoints("a", {{0, 1}, {1, 2}, {2, 3}});
        QCOMPARE(chart.pointCount("a"), 3);
        chart.setPoints("a", {{5, 1}});
        QCOMPARE(chart.pointCount("a"), 1);
        chart.setPoints("missing", {{0, 0}});
        QCOMPARE(chart.pointCount("missing"), 0);
    }

    void unavailableShowsReason() {
        LiveChart chart("GPU power", "W");
        chart.resize(300, 200);
        chart.show();
        chart.setUnavailable("no GPU telemetry: libnvidia-ml.so.1 not found");
        QVERIFY(chart.isUnavailable());
        bool shown = false;
        for (QLabel* label : chart.findChildren<QLabel*>())
            shown = shown || (label->isVisible() && label->text().contains("libnvidia-ml"));
        QVERIFY(shown);
        chart.setUnavailable({});
        QVERIFY(!chart.isUnavailable());
    }
};

QTEST_MAIN(TestLiveChart)
#include "TestLiveChart.moc"
