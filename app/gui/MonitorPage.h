#pragma once
// Live charts fed by the metric registry: tokens/s and TTFT over time, the inter-token latency
// distribution, process CPU and memory, and per-GPU utilisation, memory, power and temperature
// (shown as unavailable, with the reason, where there is no GPU telemetry). Pause freezes the view;
// the window picks how much history is shown.

#include <QWidget>

class QComboBox;
class QLabel;
class QPushButton;
class QTimer;

namespace lathe::widgets {
class HistogramChart;
class LiveChart;
} // namespace lathe::widgets

namespace lathe::gui {

class AppContext;

class MonitorPage : public QWidget {
    Q_OBJECT
public:
    explicit MonitorPage(AppContext& context, QWidget* parent = nullptr);

    void setWatchedRun(qint64 runId, const QString& description); // 0: idle
    void refreshCharts();
    bool isPaused() const { return paused_; }
    void setPaused(bool paused);
    double windowSeconds() const;

protected:
    void showEvent(QShowEvent* event) override;
    void hideEvent(QHideEvent* event) override;

private:
    void updateSeries(widgets::LiveChart* chart, const QString& key, const char* series, double scale,
                      double now);

    AppContext& context_;
    QTimer* timer_;
    QComboBox* window_;
    QPushButton* pause_;
    QLabel* watching_;
    widgets::LiveChart* tokensPerSecond_;
    widgets::LiveChart* ttft_;
    widgets::HistogramChart* itl_;
    widgets::LiveChart* cpu_;
    widgets::LiveChart* rss_;
    widgets::LiveChart* gpuUtil_;
    widgets::LiveChart* gpuMemory_;
    widgets::LiveChart* gpuPower_;
    widgets::LiveChart* gpuTemperature_;
    bool paused_ = false;
    int gpuSeriesAdded_ = 0;
};

} // namespace lathe::gui
