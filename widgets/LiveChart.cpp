#include "widgets/LiveChart.h"

#include "widgets/Theme.h"

#include <QChart>
#include <QChartView>
#include <QLabel>
#include <QLegendMarker>
#include <QLineSeries>
#include <QStackedLayout>
#include <QVBoxLayout>
#include <QValueAxis>
#include <algorithm>
#include <cmath>

namespace lathe::widgets {
namespace {

// A "nice" upper bound (1, 2, 2.5, 5 × 10^k) so the axis labels stay round.
double niceCeiling(double value) {
    if (value <= 0) return 1;
    const double magnitude = std::pow(10.0, std::floor(std::log10(value)));
    for (double step : {1.0, 2.0, 2.5, 5.0, 10.0})
        if (value <= step * magnitude) return step * magnitude;
    return 10 * magnitude;
}

} // namespace

LiveChart::LiveChart(const QString& title, const QString& unit, QWidget* parent)
    : QWidget(parent), title_(title), unit_(unit) {
    makeCard(this);
    auto* outer = new QVBoxLayout(this);
    outer->setContentsMargins(8, 8, 8, 4);
    outer->setSpacing(0);
    auto* heading = new QLabel(
        unit.isEmpty()
            ? title
            : QStringLiteral("%1  <span style='color:#6a737d;font-weight:400'>(%2)</span>").arg(title, unit),
        this);
    heading->setStyleSheet("font-weight: 600; color: #1f2328; padding: 2px 6px;");
    outer->addWidget(heading);

    chart_ = new QChart;
    chart_->setMargins(QMargins(2, 2, 6, 2));
    chart_->setBackgroundRoundness(0);
    chart_->setBackgroundVisible(false);
    chart_->legend()->setAlignment(Qt::AlignTop);
    chart_->legend()->setVisible(false);
    chart_->setAnimationOptions(QChart::NoAnimation);
    xAxis_ = new QValueAxis;
    yAxis_ = new QValueAxis;
    QFont small = font();
    small.setPointSizeF(small.pointSizeF() * 0.85);
    for (QValueAxis* axis : {xAxis_, yAxis_}) {
        axis->setLabelsFont(small);
        axis->setGridLineColor(QColor(0xec, 0xee, 0xf1));
        axis->setLinePenColor(theme::kBorder);
        axis->setLabelsColor(theme::kMuted);
    }
    xAxis_->setLabelFormat("%.0f");
    xAxis_->setTitleFont(small);
    xAxis_->setTitleBrush(theme::kMuted);
    xAxis_->setRange(0, 60);
    yAxis_->setRange(0, 1);
    yAxis_->setTickCount(5);
    chart_->addAxis(xAxis_, Qt::AlignBottom);
    chart_->addAxis(yAxis_, Qt::AlignLeft);

    view_ = new QChartView(chart_, this);
    view_->setRenderHint(QPainter::Antialiasing);
    view_->setMinimumHeight(140);
    view_->setStyleSheet("background: transparent;");
    unavailableLabel_ = new QLabel(this);
    unavailableLabel_->setAlignment(Qt::AlignCenter);
    unavailableLabel_->setWordWrap(true);
    setRole(unavailableLabel_, "muted");
    auto* holder = new QWidget(this);
    stack_ = new QStackedLayout(holder);
    stack_->addWidget(view_);
    stack_->addWidget(unavailableLabel_);
    outer->addWidget(holder, 1);
}

void LiveChart::addSeries(const QString& key, const QString& label, const QColor& color) {
    auto* series = new QLineSeries;
    series->setName(label);
    QPen pen(color);
    pen.setWidthF(1.8);
    series->setPen(pen);
    chart_->addSeries(series);
    series->attachAxis(xAxis_);
    series->attachAxis(yAxis_);
    series_.insert(key, series);
    chart_->legend()->setVisible(series_.size() > 1);
}

void LiveChart::setPoints(const QString& key, const QList<QPointF>& points) {
    QLineSeries* series = series_.value(key);
    if (!series) return;
    series->replace(points);
    rescaleY();
}

void LiveChart::setXRange(double from, double to) {
    xAxis_->setRange(from, std::max(to, from + 1e-6));
    rescaleY();
}

void LiveChart::setXTitle(const QString& title) {
    xAxis_->setTitleText(title);
}

void LiveChart::setUnavailable(const QString& reason) {
    unavailable_ = !reason.isEmpty();
    unavailableLabel_->setText(reason);
    stack_->setCurrentIndex(unavailable_ ? 1 : 0);
}

int LiveChart::pointCount(const QString& key) const {
    const QLineSeries* series = series_.value(key);
    return series ? int(series->count()) : 0;
}

void LiveChart::rescaleY() {
    if (fixedYMax_ > 0) {
        yAxis_->setRange(yMin_, fixedYMax_);
        return;
    }
    double maxValue = 0;
    for (const QLineSeries* series : std::as_const(series_))
        for (const QPointF& point : series->points())
            if (point.x() >= xAxis_->min() && point.x() <= xAxis_->max())
                maxValue = std::max(maxValue, point.y());
    const double top = niceCeiling(maxValue * 1.1);
    yAxis_->setLabelFormat(top >= 10 ? "%.0f" : "%.1f");
    yAxis_->setRange(yMin_, top);
}

} // namespace lathe::widgets
