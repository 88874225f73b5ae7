#include "AppContext.h"

#include "EngineWorker.h"
#include "core/Paths.h"
#include "monitor/TelemetrySampler.h"
#include "store/RunStore.h"

#include <spdlog/spdlog.h>
#include <vector>

namespace lathe::gui {

AppContext::AppContext(AppOptions options, QObject* parent) : QObject(parent), options_(std::move(options)) {
    const std::filesystem::path dbPath = options_.dbPath.isEmpty()
                                             ? userDataDir() / "lathe.db"
                                             : std::filesystem::path(options_.dbPath.toStdString());
    store_ = RunStore::open(dbPath);
    if (!store_->interruptedAtOpen().empty())
        spdlog::info("{} run(s) were cut off last time and are now marked interrupted",
                     store_->interruptedAtOpen().size());

    if (options_.sampler) {
        sampler_ = std::make_unique<TelemetrySampler>(metrics_);
        sampler_->setSink([this](std::span<const SeriesSample> samples) {
            const int64_t runId = sampledRun_.load();
            if (runId <= 0) return;
            const double start = sampledRunStart_.load();
            std::vector<RunSample> relative;
            relative.reserve(samples.size());
            for (const SeriesSample& s : samples)
                if (s.t >= start) relative.push_back({s.series, s.t - start, s.value});
            if (!relative.empty()) store_->appendSamples(runId, relative);
        });
        sampler_->start();
    }

    worker_ = new EngineWorker(*store_, metrics_, clock_, options_.threads);
    worker_->moveToThread(&workerThread_);
    connect(&workerThread_, &QThread::finished, worker_, &QObject::deleteLater);
    connect(
        worker_, &EngineWorker::runStarted, this,
        [this](quint64, qint64 runId) { setSampledRun(runId, clock_.now()); }, Qt::QueuedConnection);
    connect(
        worker_, &EngineWorker::runEnded, this, [this](qint64) { setSampledRun(0, 0); },
        Qt::QueuedConnection);
    workerThread_.setObjectName("lathe-engine");
    workerThread_.start();
}

AppContext::~AppContext() {
    worker_->stop();
    workerThread_.quit();
    workerThread_.wait();
    if (sampler_) sampler_->stop();
}

void AppContext::setSampledRun(int64_t runId, double startSeconds) {
    sampledRunStart_ = startSeconds;
    sampledRun_ = runId;
}

} // namespace lathe::gui
