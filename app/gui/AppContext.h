#pragma once
// What the pages of one window share, made once in main() (or in a test) and passed down — no
// singletons: the run store, the metric registry with its 4 Hz sampler, and the engine worker in its
// own thread. Destroying the context stops the worker (cancelling any reply) and the sampler.

#include "monitor/MetricRegistry.h"

#include <QObject>
#include <QString>
#include <QThread>
#include <atomic>
#include <chrono>
#include <memory>

namespace lathe {
class RunStore;
class TelemetrySampler;
} // namespace lathe

namespace lathe::gui {

class EngineWorker;

struct AppOptions {
    QString dbPath;                   // empty: lathe.db in the user's data folder
    int threads = 0;                  // engine threads; 0 = all hardware threads
    bool sampler = true;              // run the 4 Hz process/GPU sampler
    bool registerDefaultModel = true; // list the default model on first start
};

// Seconds on one clock shared by the sampler, the worker's live series and the charts.
class MonitorClock {
public:
    MonitorClock() : start_(std::chrono::steady_clock::now()) {}
    double now() const {
        return std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
    }

private:
    std::chrono::steady_clock::time_point start_;
};

class AppContext : public QObject {
    Q_OBJECT
public:
    // Opens the store (throws lathe::Error when it cannot), starts the worker thread and the sampler.
    explicit AppContext(AppOptions options, QObject* parent = nullptr);
    ~AppContext() override;

    const AppOptions& options() const { return options_; }
    RunStore& store() { return *store_; }
    MetricRegistry& metrics() { return metrics_; }
    TelemetrySampler* sampler() { return sampler_.get(); }
    const MonitorClock& clock() const { return clock_; }
    EngineWorker& worker() { return *worker_; }

    // The run the sampler's points go to (0: none); samples are stored relative to its start.
    void setSampledRun(int64_t runId, double startSeconds);

private:
    AppOptions options_;
    MonitorClock clock_;
    std::unique_ptr<RunStore> store_;
    MetricRegistry metrics_;
    std::unique_ptr<TelemetrySampler> sampler_;
    std::atomic<int64_t> sampledRun_{0};
    std::atomic<double> sampledRunStart_{0};
    QThread workerThread_;
    EngineWorker* worker_ = nullptr;
};

} // namespace lathe::gui
