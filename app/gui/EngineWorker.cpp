#include "EngineWorker.h"

#include "core/Error.h"
#include "monitor/EngineMetrics.h"
#include "monitor/MetricRegistry.h"
#include "store/Environment.h"
#include "store/RunStore.h"
#include "workbench/ModelSummary.h"
#include "workbench/RunRecorder.h"
#include "workbench/Session.h"

#include <chrono>
#include <spdlog/spdlog.h>

namespace lathe::gui {
namespace {

using Clock = std::chrono::steady_clock;

const char* stopReasonText(StopReason reason) {
    switch (reason) {
    case StopReason::EndOfGeneration:
        return "end of generation";
    case StopReason::StopString:
        return "stop string";
    case StopReason::MaxTokens:
        return "max tokens";
    case StopReason::Cancelled:
        return "stopped";
    case StopReason::ContextFull:
        return "context full";
    }
    return "unknown";
}

QString qs(const std::string& text) {
    return QString::fromStdString(text);
}

} // namespace

EngineWorker::EngineWorker(RunStore& store, MetricRegistry& metrics, const MonitorClock& clock, int threads)
    : store_(store), metrics_(metrics), clock_(clock), threads_(threads) {
    qRegisterMetaType<LoadedModel>();
    qRegisterMetaType<ReplyOutcome>();
    qRegisterMetaType<BenchOutcome>();
    qRegisterMetaType<VariantOutcome>();
}

EngineWorker::~EngineWorker() = default;

void EngineWorker::stop() {
    std::lock_guard lock(cancelMutex_);
    cancel_.cancel();
}

CancelToken EngineWorker::beginJob(CancelToken token) {
    busy_ = true;
    std::lock_guard lock(cancelMutex_);
    cancel_ = std::move(token);
    return cancel_;
}

void EngineWorker::endJob() {
    busy_ = false;
    emit stateChanged(session_ ? tr("Ready") : tr("No model loaded"));
}

void EngineWorker::loadModel(const QString& path) {
    const CancelToken cancel = beginJob();
    emit stateChanged(tr("Loading model"));
    try {
        session_.reset(); // release the old model's memory before mapping the new one
        SessionOptions options;
        options.threads = threads_;
        session_ = Session::open(
            path.toStdString(), options,
            [this](double fraction, std::string_view stage) {
                emit loadProgress(fraction, QString::fromUtf8(stage.data(), qsizetype(stage.size())));
            },
            cancel);
        if (environment_.is_null()) environment_ = captureEnvironment();
        LoadedModel model;
        model.path = path;
        model.name = qs(summarizeModel(session_->files()).name);
        if (model.name.isEmpty()) model.name = qs(session_->files().path.filename().string());
        model.device = qs(session_->options().device);
        model.threads = threads_ > 0 ? threads_ : int(std::thread::hardware_concurrency());
        model.contextTokens = session_->contextTokens();
        model.chatTemplate = QString::fromUtf8(session_->chatTemplate().familyName());
        emit modelLoaded(model);
    } catch (const std::exception& e) {
        session_.reset();
        emit loadFailed(path, qs(e.what()));
    }
    endJob();
}

void EngineWorker::persistPartial(qint64 messageId, const std::string& text, const MessageStats& stats,
                                  bool complete) {
    try {
        store_.updateMessage(messageId, text, stats, complete);
    } catch (const std::exception& e) {
        spdlog::warn("could not save reply {}: {}", messageId, e.what());
    }
}

void EngineWorker::generateReply(const ReplyJob& job) {
    const CancelToken cancel = beginJob();
    ReplyOutcome outcome;
    outcome.id = job.id;
    outcome.messageId = job.messageId;
    if (!session_) {
        outcome.error = tr("No model is loaded. Pick one on the Models page.");
        persistPartial(job.messageId, "", {}, true);
        emit replyFinished(outcome);
        endJob();
        return;
    }
    emit stateChanged(tr("Generating"));
    try {
        outcome.runId = store_.beginRun(RunKind::Chat, job.modelId, job.config, environment_);
    } catch (const std::exception& e) {
        spdlog::warn("could not record the run: {}", e.what());
    }
    emit runStarted(job.id, outcome.runId);
    emit replyStarted(job.id, outcome.runId);

    std::string text;
    const Clock::time_point start = Clock::now();
    Clock::time_point lastSave = start, lastRate = start;
    int tokensAtLastRate = 0;
    double lastTokenAt = -1;
    TimeSeries& liveRate = metrics_.series(metric::kDecodeTokensPerS);
    TimeSeries& itlSeries = metrics_.series(metric::kItlMs, 4096);
    Histogram& itlHistogram = metrics_.histogram(metric::kItlMs);
    const TokenCallback onToken = [&](const TokenEvent& event) {
        if (lastTokenAt >= 0) {
            const double gapMs = (event.secondsSinceStart - lastTokenAt) * 1e3;
            itlSeries.append(clock_.now(), gapMs);
            itlHistogram.observe(gapMs);
        }
        lastTokenAt = event.secondsSinceStart;
        if (!event.text.empty()) {
            text += event.text;
            emit replyText(job.id, qs(event.text));
        }
        const Clock::time_point now = Clock::now();
        if (now - lastRate >= std::chrono::milliseconds(500)) {
            const double seconds = std::chrono::duration<double>(now - lastRate).count();
            liveRate.append(clock_.now(), (event.index + 1 - tokensAtLastRate) / seconds);
            tokensAtLastRate = event.index + 1;
            lastRate = now;
        }
        if (now - lastSave >= std::chrono::seconds(1)) {
            MessageStats partial;
            partial.tokenCount = event.index + 1;
            persistPartial(job.messageId, text, partial, false);
            lastSave = now;
        }
        return !cancel.isCancelled();
    };

    RunStatus status = RunStatus::Done;
    std::string error;
    try {
        const GenerationResult result = session_->reply(job.messages, job.request, onToken, cancel);
        const GenerationTimings& t = result.timings;
        outcome.text = qs(result.text);
        outcome.ttftMs = t.timeToFirstTokenSeconds * 1e3;
        outcome.tokensPerSecond = t.decodeTokensPerSecond();
        outcome.tokens = t.generatedTokens;
        outcome.stopReason = QString::fromUtf8(stopReasonText(result.stopReason));
        outcome.cancelled = result.stopReason == StopReason::Cancelled;
        if (outcome.cancelled) status = RunStatus::Cancelled;
        metrics_.series(metric::kTtftMs).append(clock_.now(), outcome.ttftMs);
        metrics_.histogram(metric::kTtftMs).observe(outcome.ttftMs);
        persistPartial(job.messageId, result.text,
                       {outcome.ttftMs, outcome.tokensPerSecond, outcome.tokens, 0}, true);
        if (outcome.runId > 0) {
            store_.addMetrics(outcome.runId, generationMetrics(t));
            std::vector<RunSample> gaps;
            double at = t.timeToFirstTokenSeconds;
            for (double gap : t.interTokenSeconds) {
                at += gap;
                gaps.push_back({metric::kItlMs, at, gap * 1e3});
            }
            if (!gaps.empty()) store_.appendSamples(outcome.runId, gaps);
        }
    } catch (const Error& e) {
        outcome.cancelled = e.category() == ErrorCategory::Cancelled;
        status = outcome.cancelled ? RunStatus::Cancelled : RunStatus::Failed;
        if (!outcome.cancelled) outcome.error = qs(e.what()), error = e.what();
        outcome.text = qs(text);
        persistPartial(job.messageId, text, {}, true);
    } catch (const std::exception& e) {
        status = RunStatus::Failed;
        error = e.what();
        outcome.error = qs(e.what());
        outcome.text = qs(text);
        persistPartial(job.messageId, text, {}, true);
    }
    if (outcome.runId > 0) {
        try {
            store_.finishRun(outcome.runId, status, error);
        } catch (const std::exception& e) {
            spdlog::warn("could not finish run {}: {}", outcome.runId, e.what());
        }
    }
    emit runEnded(outcome.runId);
    emit replyFinished(outcome);
    endJob();
}

void EngineWorker::runBench(const BenchJob& job) {
    const CancelToken cancel = beginJob();
    BenchOutcome outcome;
    outcome.id = job.id;
    if (!session_) {
        outcome.error = tr("No model is loaded.");
        emit benchFinished(outcome);
        endJob();
        return;
    }
    emit stateChanged(tr("Benchmarking"));
    const nlohmann::json config = {{"prompt_tokens", job.settings.promptTokens},
                                   {"generated_tokens", job.settings.generatedTokens},
                                   {"repetitions", job.settings.repetitions},
                                   {"threads", threads_},
                                   {"device", session_->options().device},
                                   {"model_path", session_->files().path.string()},
                                   {"sampling", "greedy"}};
    try {
        outcome.runId = store_.beginRun(RunKind::Bench, job.modelId, config, environment_);
    } catch (const std::exception& e) {
        spdlog::warn("could not record the benchmark run: {}", e.what());
    }
    emit runStarted(job.id, outcome.runId);
    RunStatus status = RunStatus::Done;
    std::string error;
    try {
        outcome.result = runBenchmark(
            *session_, job.settings,
            [&](double fraction, std::string_view stage) {
                emit benchProgress(job.id, fraction,
                                   QString::fromUtf8(stage.data(), qsizetype(stage.size())));
            },
            cancel);
        const BenchResult& r = outcome.result;
        for (double gap : r.interTokenMs)
            metrics_.series(metric::kItlMs, 4096).append(clock_.now(), gap);
        metrics_.series(metric::kDecodeTokensPerS).append(clock_.now(), mean(r.decodeTokensPerSecond));
        metrics_.series(metric::kTtftMs).append(clock_.now(), mean(r.ttftMs));
        if (outcome.runId > 0)
            store_.addMetrics(outcome.runId,
                              std::vector<RunMetric>{
                                  {"pp_tokens_per_s", mean(r.promptTokensPerSecond), "tok/s"},
                                  {"pp_tokens_per_s_sd", stddev(r.promptTokensPerSecond), "tok/s"},
                                  {metric::kDecodeTokensPerS, mean(r.decodeTokensPerSecond), "tok/s"},
                                  {"decode_tokens_per_s_sd", stddev(r.decodeTokensPerSecond), "tok/s"},
                                  {metric::kTtftMs, mean(r.ttftMs), "ms"},
                                  {"itl_p50_ms", percentile(r.interTokenMs, 50), "ms"},
                                  {"itl_p99_ms", percentile(r.interTokenMs, 99), "ms"},
                                  {"prompt_tokens", double(r.promptTokens), "tokens"},
                                  {"generated_tokens", double(r.generatedTokens), "tokens"},
                              });
        // Every gap of every repetition, on one time axis, for the Runs page's overlays.
        std::vector<RunSample> gaps;
        double at = 0;
        for (double gap : r.interTokenMs) {
            at += gap / 1e3;
            gaps.push_back({metric::kItlMs, at, gap});
        }
        if (outcome.runId > 0 && !gaps.empty()) store_.appendSamples(outcome.runId, gaps);
    } catch (const Error& e) {
        outcome.cancelled = e.category() == ErrorCategory::Cancelled;
        status = outcome.cancelled ? RunStatus::Cancelled : RunStatus::Failed;
        if (!outcome.cancelled) outcome.error = qs(e.what()), error = e.what();
    } catch (const std::exception& e) {
        status = RunStatus::Failed;
        outcome.error = qs(e.what());
        error = e.what();
    }
    if (outcome.runId > 0) {
        try {
            store_.finishRun(outcome.runId, status, error);
        } catch (const std::exception& e) {
            spdlog::warn("could not finish run {}: {}", outcome.runId, e.what());
        }
    }
    emit runEnded(outcome.runId);
    emit benchFinished(outcome);
    endJob();
}

void EngineWorker::buildVariant(const VariantJob& job) {
    const CancelToken cancel = beginJob(job.cancel);
    VariantOutcome outcome;
    outcome.id = job.id;
    emit stateChanged(tr("Optimizing"));
    SessionOptions options;
    options.threads = threads_;
    if (session_) options.device = session_->options().device;
    // The engine may report once per tensor; the page needs a few updates a second, and every
    // change of stage.
    std::mutex progressMutex;
    Clock::time_point lastReport;
    std::string lastStage;
    const ProgressFn progress = [&](double fraction, std::string_view stage) {
        std::lock_guard lock(progressMutex);
        const Clock::time_point now = Clock::now();
        if (stage == lastStage && now - lastReport < std::chrono::milliseconds(100) && fraction < 1.0) return;
        lastReport = now;
        lastStage = stage;
        emit variantProgress(job.id, fraction, QString::fromUtf8(stage.data(), qsizetype(stage.size())));
    };
    progress(0.0, "opening the model");
    try {
        outcome.result = lathe::buildVariant(job.parent.toStdString(), job.recipe, job.output.toStdString(),
                                             job.evaluation, options, &store_, progress, cancel);
    } catch (const Error& e) {
        outcome.cancelled = e.category() == ErrorCategory::Cancelled;
        if (!outcome.cancelled) outcome.error = qs(e.what());
    } catch (const std::exception& e) {
        outcome.error = qs(e.what());
    }
    emit variantFinished(outcome);
    endJob();
}

} // namespace lathe::gui
