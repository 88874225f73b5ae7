#pragma once
// A small time-series chart: named line series over a seconds axis, a y axis that follows the data,
// and an "unavailable" state that says why there is nothing to plot (no GPU) instead of drawing zeros.
// Series are updated with replace() (one signal for the whole list, per REFERENCES.md) — the only
// place that knows the chart backend, so that Qt Charts can be swapped for Qt Graphs later.

#include <QHash>
#include <QWidget>

class QChart;
class QChartView;
class QLabel;
class QLineSeries;
class QStackedLayout;
class QValueAxis;

namespace lathe::widgets {

class LiveChart : public QWidget {
    Q_OBJECT
public:
    LiveChart(const QString& title, const QString& unit, QWidget* parent = nullptr);

    void addSeries(const QString& key, const QString& label, const QColor& color);
    void setPoints(const QString& key, const QList<QPointF>& points);
    // x range shown; y follows the visible data (from 0, unless yMin is set).
    void setXRange(double from, double to);
    void setYFloor(double yMin) { yMin_ = yMin; }
    void setFixedYMax(double yMax) { fixedYMax_ = yMax; }
    void setXTitle(const QString& title);
    void setUnavailable(const QString& reason); // empty reason = available
    bool isUnavailable() const { return unavailable_; }
    int pointCount(const QString& key) const;
    QString title() const { return title_; }

private:
    void rescaleY();

    QString title_;
    QString unit_;
    QChart* chart_;
    QChartView* view_;
    QLabel* unavailableLabel_;
    QStackedLayout* stack_;
    QValueAxis* xAxis_;
    QValueAxis* yAxis_;
    QHash<QString, QLineSeries*> series_;
    double yMin_ = 0;
    double fixedYMax_ = 0;
    bool unavailable_ = false;
};

} // namespace lathe::widgets
