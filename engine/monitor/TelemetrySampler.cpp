#include "monitor/TelemetrySampler.h"

#include "monitor/EngineMetrics.h"
#include "monitor/MetricRegistry.h"
#include "monitor/NvmlTelemetry.h"
#include "monitor/ProcessStats.h"

#include <chrono>
#include <cmath>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

namespace lathe {
namespace {

double wallSeconds() {
    using namespace std::chrono;
    return duration<double>(steady_clock::now().time_since_epoch()).count();
}

} // namespace

TelemetrySampler::TelemetrySampler(MetricRegistry& registry, TelemetrySamplerOptions options)
    : registry_(registry), options_(options), startWall_(wallSeconds()) {
    if (!(options_.rateHz > 0)) options_.rateHz = 4.0;
    if (options_.gpu) nvml_ = std::make_unique<NvmlTelemetry>();
}

TelemetrySampler::~TelemetrySampler() {
    stop();
}

void TelemetrySampler::setSink(Sink sink) {
    sink_ = std::move(sink);
}

void TelemetrySampler::start() {
    if (thread_.joinable()) return;
    stopping_ = false;
    thread_ = std::thread([this] { run(); });
}

void TelemetrySampler::stop() {
    if (!thread_.joinable()) return;
    {
        std::lock_guard lock(mutex_);
        stopping_ = true;
    }
    wake_.notify_all();
    thread_.join();
}

bool TelemetrySampler::gpuTelemetryAvailable() const {
    return nvml_ && nvml_->available();
}

std::string TelemetrySampler::gpuTelemetryStatus() const {
    if (!nvml_) return "no GPU telemetry: disabled";
    if (!nvml_->available()) return nvml_->unavailableReason();
    return fmt::format("{} GPU{} through NVML", nvml_->deviceCount(), nvml_->deviceCount() == 1 ? "" : "s");
}

void TelemetrySampler::record(const std::string& series, double t, double value) {
    if (std::isnan(value)) return;
    registry_.gauge(series).set(value);
    registry_.series(series, options_.seriesCapacity).append(t, value);
    if (sink_) pending_.push_back({series, t, value});
}

void TelemetrySampler::sampleOnce() {
    const double wall = wallSeconds();
    const double cpu = processCpuSeconds();
    const double t = wall - startWall_;
    // CPU % needs two readings; the first sample only sets the baseline.
    if (lastWall_ >= 0 && wall > lastWall_)
        record(metric::kProcessCpuPercent, t, 100.0 * (cpu - lastCpu_) / (wall - lastWall_));
    lastWall_ = wall;
    lastCpu_ = cpu;
    record(metric::kProcessRssBytes, t, double(processRssBytes()));
    if (nvml_ && nvml_->available()) {
        for (const GpuReading& g : nvml_->read()) {
            const std::string prefix = fmt::format("gpu{}.", g.index);
            record(prefix + "utilization_percent", t, g.utilizationPercent);
            record(prefix + "memory_used_bytes", t, g.memoryUsedBytes);
            record(prefix + "memory_total_bytes", t, g.memoryTotalBytes);
            record(prefix + "power_w", t, g.powerWatts);
            record(prefix + "temperature_c", t, g.temperatureC);
            record(prefix + "sm_clock_mhz", t, g.smClockMHz);
        }
    }
    ++sampleCount_;
    if (t - lastFlushT_ >= options_.sinkIntervalSeconds) {
        flushSink();
        lastFlushT_ = t;
    }
}

void TelemetrySampler::flushSink() {
    if (!sink_ || pending_.empty()) return;
    try {
        sink_(pending_);
    } catch (const std::exception& e) {
        // Telemetry must never stop a run: the points are dropped and the next batch tries again.
        spdlog::warn("sampler: could not store {} samples: {}", pending_.size(), e.what());
    }
    pending_.clear();
}

void TelemetrySampler::run() {
    const auto period = std::chrono::duration<double>(1.0 / options_.rateHz);
    auto next = std::chrono::steady_clock::now();
    std::unique_lock lock(mutex_);
    while (!stopping_) {
        lock.unlock();
        sampleOnce();
        ownCpuSeconds_ = threadCpuSeconds();
        lock.lock();
        // Absolute deadlines keep the rate exact; after a stall the sampler skips ahead rather than bursting.
        next += std::chrono::duration_cast<std::chrono::steady_clock::duration>(period);
        if (next < std::chrono::steady_clock::now()) next = std::chrono::steady_clock::now();
        wake_.wait_until(lock, next, [this] { return stopping_; });
    }
    lock.unlock();
    flushSink();
    ownCpuSeconds_ = threadCpuSeconds();
}

} // namespace lathe
