#include "widgets/HistogramChart.h"

#include "widgets/Theme.h"

#include <QBarCategoryAxis>
#include <QBarSeries>
#include <QBarSet>
#include <QChart>
#include <QChartView>
#include <QLabel>
#include <QStackedLayout>
#include <QVBoxLayout>
#include <QValueAxis>
#include <algorithm>

namespace lathe::widgets {

HistogramChart::HistogramChart(const QString& title, const QString& unit, QWidget* parent)
    : QWidget(parent), unit_(unit) {
    makeCard(this);
    auto* outer = new QVBoxLayout(this);
    outer->setContentsMargins(8, 8, 8, 4);
    outer->setSpacing(0);
    auto* headingRow = new QHBoxLayout;
    auto* heading = new QLabel(
        QStringLiteral("%1  <span style='color:#6a737d;font-weight:400'>(%2)</span>").arg(title, unit), this);
    heading->setStyleSheet("font-weight: 600; color: #1f2328; padding: 2px 6px;");
    summary_ = new QLabel(this);
    setRole(summary_, "stat");
    headingRow->addWidget(heading);
    headingRow->addStretch(1);
    headingRow->addWidget(summary_);
    outer->addLayout(headingRow);

    chart_ = new QChart;
    chart_->setMargins(QMargins(2, 2, 6, 2));
    chart_->setBackgroundVisible(false);
    chart_->legend()->setVisible(false);
    chart_->setAnimationOptions(QChart::NoAnimation);
    set_ = new QBarSet(title);
    set_->setColor(theme::kAccent);
    set_->setBorderColor(theme::kAccent);
    auto* series = new QBarSeries;
    series->setBarWidth(0.9);
    series->append(set_);
    chart_->addSeries(series);
    xAxis_ = new QBarCategoryAxis;
    yAxis_ = new QValueAxis;
    QFont small = font();
    small.setPointSizeF(small.pointSizeF() * 0.8);
    xAxis_->setLabelsFont(small);
    yAxis_->setLabelsFont(small);
    xAxis_->setLabelsVisible(false);
    yAxis_->setLabelsColor(theme::kMuted);
    yAxis_->setLabelFormat("%d");
    yAxis_->setGridLineColor(QColor(0xec, 0xee, 0xf1));
    chart_->addAxis(xAxis_, Qt::AlignBottom);
    chart_->addAxis(yAxis_, Qt::AlignLeft);
    series->attachAxis(xAxis_);
    series->attachAxis(yAxis_);

    auto* view = new QChartView(chart_, this);
    view->setRenderHint(QPainter::Antialiasing);
    view->setMinimumHeight(140);
    emptyLabel_ = new QLabel(tr("No tokens generated yet"), this);
    emptyLabel_->setAlignment(Qt::AlignCenter);
    setRole(emptyLabel_, "muted");
    auto* holder = new QWidget(this);
    stack_ = new QStackedLayout(holder);
    stack_->addWidget(view);
    stack_->addWidget(emptyLabel_);
    stack_->setCurrentIndex(1);
    outer->addWidget(holder, 1);
}

void HistogramChart::setEmptyText(const QString& text) {
    emptyLabel_->setText(text);
}

void HistogramChart::setSamples(const QList<double>& values, int bins) {
    counts_.clear();
    if (values.isEmpty() || bins < 1) {
        stack_->setCurrentIndex(1);
        summary_->clear();
        return;
    }
    const auto [minIt, maxIt] = std::minmax_element(values.begin(), values.end());
    const double lo = *minIt;
    const double width = std::max((*maxIt - lo) / bins, 1e-9);
    counts_ = QList<int>(bins, 0);
    for (double v : values)
        counts_[std::min(int((v - lo) / width), bins - 1)] += 1;
    QList<qreal> heights;
    QStringList labels;
    for (int i = 0; i < bins; ++i) {
        heights.append(counts_[i]);
        // Categories must differ; the bins' range is in the summary (labels would not fit under thin bars).
        labels.append(QString(i + 1, QChar(0x200B)));
    }
    set_->remove(0, set_->count());
    set_->append(heights);
    xAxis_->clear();
    xAxis_->append(labels);
    yAxis_->setRange(0, std::max(1, *std::max_element(counts_.begin(), counts_.end())));
    QList<double> sorted = values;
    std::sort(sorted.begin(), sorted.end());
    const auto at = [&](double p) {
        return sorted[std::min(qsizetype(p * double(sorted.size() - 1) + 0.5), sorted.size() - 1)];
    };
    summary_->setText(tr("%5 – %6 %4  ·  n %1  ·  p50 %2  ·  p99 %3 %4")
                          .arg(values.size())
                          .arg(at(0.5), 0, 'f', 1)
                          .arg(at(0.99), 0, 'f', 1)
                          .arg(unit_)
                          .arg(lo, 0, 'f', 0)
                          .arg(*maxIt, 0, 'f', 0));
    stack_->setCurrentIndex(0);
}

} // namespace lathe::widgets
