#include "MonitorPage.h"

#include "AppContext.h"
#include "monitor/EngineMetrics.h"
#include "monitor/TelemetrySampler.h"
#include "widgets/HistogramChart.h"
#include "widgets/LiveChart.h"
#include "widgets/Theme.h"

#include <QComboBox>
#include <QGridLayout>
#include <QHBoxLayout>
#include <QLabel>
#include <QPushButton>
#include <QTimer>
#include <QVBoxLayout>

namespace lathe::gui {
namespace {

using widgets::LiveChart;

const QColor kPalette[] = {QColor(0x3b, 0x6f, 0xd8), QColor(0xe0, 0x6c, 0x1f), QColor(0x2e, 0x7d, 0x32),
                           QColor(0x8e, 0x44, 0xad), QColor(0xc6, 0x28, 0x28), QColor(0x00, 0x83, 0x8f)};

} // namespace

MonitorPage::MonitorPage(AppContext& context, QWidget* parent) : QWidget(parent), context_(context) {
    setObjectName("page");
    auto* layout = new QVBoxLayout(this);
    layout->setContentsMargins(24, 20, 24, 16);
    layout->setSpacing(12);

    auto* header = new QHBoxLayout;
    auto* titles = new QVBoxLayout;
    auto* title = new QLabel(tr("Monitor"), this);
    widgets::setRole(title, "title");
    auto* subtitle = new QLabel(tr("Live telemetry, sampled four times a second"), this);
    widgets::setRole(subtitle, "subtitle");
    titles->addWidget(title);
    titles->addWidget(subtitle);
    header->addLayout(titles, 1);
    header->addWidget(new QLabel(tr("Window"), this), 0, Qt::AlignBottom);
    window_ = new QComboBox(this);
    window_->addItem(tr("1 minute"), 60);
    window_->addItem(tr("5 minutes"), 300);
    window_->addItem(tr("15 minutes"), 900);
    window_->setCurrentIndex(1);
    header->addWidget(window_, 0, Qt::AlignBottom);
    pause_ = new QPushButton(tr("Pause"), this);
    pause_->setCheckable(true);
    header->addWidget(pause_, 0, Qt::AlignBottom);
    layout->addLayout(header);

    watching_ = new QLabel(this);
    watching_->setObjectName("watching");
    watching_->setStyleSheet("QLabel#watching { background: #ffffff; border: 1px solid #dfe3e8; "
                             "border-radius: 6px; padding: 8px 12px; }");
    layout->addWidget(watching_);

    auto* grid = new QGridLayout;
    grid->setSpacing(10);
    tokensPerSecond_ = new LiveChart(tr("Generation speed"), tr("tokens/s"), this);
    tokensPerSecond_->addSeries("tps", tr("tokens/s"), kPalette[0]);
    ttft_ = new LiveChart(tr("Time to first token"), tr("ms"), this);
    ttft_->addSeries("ttft", tr("TTFT"), kPalette[1]);
    itl_ = new widgets::HistogramChart(tr("Inter-token latency"), tr("ms"), this);
    cpu_ = new LiveChart(tr("Process CPU"), tr("% of one core"), this);
    cpu_->addSeries("cpu", tr("CPU"), kPalette[2]);
    rss_ = new LiveChart(tr("Resident memory"), tr("MiB"), this);
    rss_->addSeries("rss", tr("RSS"), kPalette[3]);
    gpuUtil_ = new LiveChart(tr("GPU utilisation"), tr("%"), this);
    gpuUtil_->setFixedYMax(100);
    gpuMemory_ = new LiveChart(tr("GPU memory used"), tr("GiB"), this);
    gpuPower_ = new LiveChart(tr("GPU power"), tr("W"), this);
    gpuTemperature_ = new LiveChart(tr("GPU temperature"), tr("°C"), this);
    const QList<QWidget*> charts = {tokensPerSecond_, ttft_,      itl_,      cpu_,           rss_,
                                    gpuUtil_,         gpuMemory_, gpuPower_, gpuTemperature_};
    for (int i = 0; i < charts.size(); ++i)
        grid->addWidget(charts[i], i / 3, i % 3);
    for (int r = 0; r < 3; ++r)
        grid->setRowStretch(r, 1);
    for (int c = 0; c < 3; ++c)
        grid->setColumnStretch(c, 1);
    layout->addLayout(grid, 1);
    for (LiveChart* chart :
         {tokensPerSecond_, ttft_, cpu_, rss_, gpuUtil_, gpuMemory_, gpuPower_, gpuTemperature_})
        chart->setXTitle(tr("seconds ago"));

    TelemetrySampler* sampler = context_.sampler();
    const QString gpuStatus =
        !sampler ? tr("Telemetry sampling is off")
        : sampler->gpuTelemetryAvailable()
            ? QString()
            : tr("Unavailable\n%1").arg(QString::fromStdString(sampler->gpuTelemetryStatus()));
    for (LiveChart* chart : {gpuUtil_, gpuMemory_, gpuPower_, gpuTemperature_})
        chart->setUnavailable(gpuStatus);
    if (!sampler) {
        cpu_->setUnavailable(tr("Telemetry sampling is off"));
        rss_->setUnavailable(tr("Telemetry sampling is off"));
    }

    timer_ = new QTimer(this);
    timer_->setInterval(250);
    connect(timer_, &QTimer::timeout, this, &MonitorPage::refreshCharts);
    connect(pause_, &QPushButton::toggled, this, &MonitorPage::setPaused);
    connect(window_, &QComboBox::currentIndexChanged, this, &MonitorPage::refreshCharts);
    setWatchedRun(0, {});
}

double MonitorPage::windowSeconds() const {
    return window_->currentData().toDouble();
}

void MonitorPage::setPaused(bool paused) {
    paused_ = paused;
    pause_->setChecked(paused);
    pause_->setText(paused ? tr("Resume") : tr("Pause"));
}

void MonitorPage::setWatchedRun(qint64 runId, const QString& description) {
    watching_->setText(runId > 0
                           ? tr("<b>Watching run #%1</b>  ·  %2").arg(runId).arg(description)
                           : tr("<b>Idle</b>  ·  charts show this session; send a chat message or run a "
                                "benchmark to watch a run live"));
}

void MonitorPage::updateSeries(LiveChart* chart, const QString& key, const char* series, double scale,
                               double now) {
    const double window = windowSeconds();
    QList<QPointF> points;
    for (const TimePoint& p : context_.metrics().series(series).pointsSince(now - window))
        points.append(QPointF(p.t - now, p.value * scale));
    chart->setPoints(key, points);
    chart->setXRange(-window, 0);
}

void MonitorPage::refreshCharts() {
    if (paused_) return;
    const double now = context_.clock().now();
    const double window = windowSeconds();
    MetricRegistry& metrics = context_.metrics();
    updateSeries(tokensPerSecond_, "tps", metric::kDecodeTokensPerS, 1.0, now);
    updateSeries(ttft_, "ttft", metric::kTtftMs, 1.0, now);
    updateSeries(cpu_, "cpu", metric::kProcessCpuPercent, 1.0, now);
    updateSeries(rss_, "rss", metric::kProcessRssBytes, 1.0 / (1024.0 * 1024.0), now);
    QList<double> gaps;
    for (const TimePoint& p : metrics.series(metric::kItlMs, 4096).pointsSince(now - window))
        gaps.append(p.value);
    itl_->setSamples(gaps);

    TelemetrySampler* sampler = context_.sampler();
    if (!sampler || !sampler->gpuTelemetryAvailable()) return;
    // One line per GPU, added as the sampler's series appear.
    const std::vector<std::string> names = metrics.seriesNames();
    for (int gpu = 0;; ++gpu) {
        const std::string prefix = "gpu" + std::to_string(gpu) + ".";
        if (std::find(names.begin(), names.end(), prefix + "utilization_percent") == names.end()) break;
        const QString key = QStringLiteral("gpu%1").arg(gpu);
        if (gpu >= gpuSeriesAdded_) {
            const QColor color = kPalette[gpu % 6];
            for (LiveChart* chart : {gpuUtil_, gpuMemory_, gpuPower_, gpuTemperature_})
                chart->addSeries(key, QStringLiteral("GPU %1").arg(gpu), color);
            gpuSeriesAdded_ = gpu + 1;
        }
        updateSeries(gpuUtil_, key, (prefix + "utilization_percent").c_str(), 1.0, now);
        updateSeries(gpuMemory_, key, (prefix + "memory_used_bytes").c_str(),
                     1.0 / (1024.0 * 1024.0 * 1024.0), now);
        updateSeries(gpuPower_, key, (prefix + "power_w").c_str(), 1.0, now);
        updateSeries(gpuTemperature_, key, (prefix + "temperature_c").c_str(), 1.0, now);
    }
}

void MonitorPage::showEvent(QShowEvent* event) {
    QWidget::showEvent(event);
    refreshCharts();
    timer_->start();
}

// Charts off screen are not redrawn: the monitor costs nothing while another page is open.
void MonitorPage::hideEvent(QHideEvent* event) {
    QWidget::hideEvent(event);
    timer_->stop();
}

} // namespace lathe::gui
