#pragma once
// A distribution as bars: observations binned evenly between their minimum and maximum.

#include <QWidget>

class QBarSet;
class QBarCategoryAxis;
class QChart;
class QLabel;
class QStackedLayout;
class QValueAxis;

namespace lathe::widgets {

class HistogramChart : public QWidget {
    Q_OBJECT
public:
    HistogramChart(const QString& title, const QString& unit, QWidget* parent = nullptr);
    void setSamples(const QList<double>& values, int bins = 16);
    // Bin counts of the last setSamples (for tests and tooltips).
    const QList<int>& counts() const { return counts_; }
    void setEmptyText(const QString& text);

private:
    QString unit_;
    QChart* chart_;
    QBarSet* set_;
    QBarCategoryAxis* xAxis_;
    QValueAxis* yAxis_;
    QLabel* emptyLabel_;
    QLabel* summary_;
    QStackedLayout* stack_;
    QList<int> counts_;
};

} // namespace lathe::widgets
