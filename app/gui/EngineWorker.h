#pragma once
// The engine worker: a QObject living in its own QThread that owns the Session. The GUI thread
// calls its slots through queued invocations only, and it answers with signals the GUI connects
// with Qt::QueuedConnection. Stopping is an atomic cancel flag (stop() may be called from any
// thread); the token callback returns false once it is set, so a reply ends within one token.
//
// Replies are persisted here, not in the GUI thread: the assistant message is rewritten at least
// once a second while it streams and once more when it ends, so killing the app keeps the
// partial reply, however busy the UI is.

#include "AppContext.h"
#include "Benchmark.h"
#include "compress/Recipe.h"
#include "core/Cancel.h"
#include "decode/Generator.h"
#include "store/RunRecords.h"
#include "tokenizer/ChatTemplate.h"
#include "workbench/VariantBuilder.h"

#include <QObject>
#include <QString>
#include <atomic>
#include <memory>
#include <mutex>
#include <optional>
#include <vector>

namespace lathe {
class MetricRegistry;
class RunStore;
class Session;
} // namespace lathe

namespace lathe::gui {

struct LoadedModel {
    QString path;
    QString name;
    QString device;
    int threads = 0;
    int contextTokens = 0;
    QString chatTemplate;
};

struct ReplyJob {
    quint64 id = 0;
    qint64 chatId = 0;
    qint64 messageId = 0; // the assistant message to fill (created, empty and incomplete, by the caller)
    std::optional<int64_t> modelId;
    std::vector<ChatMessage> messages; // the conversation so far, system message first if any
    GenerationRequest request;
    nlohmann::json config; // recorded with the run
};

struct ReplyOutcome {
    quint64 id = 0;
    qint64 runId = 0;
    qint64 messageId = 0;
    QString text;
    double ttftMs = 0;
    double tokensPerSecond = 0;
    qint64 tokens = 0;
    QString stopReason; // "end of generation", "stopped", "max tokens", …
    bool cancelled = false;
    QString error; // empty on success
};

struct BenchJob {
    quint64 id = 0;
    std::optional<int64_t> modelId;
    BenchSettings settings;
};

struct BenchOutcome {
    quint64 id = 0;
    qint64 runId = 0;
    BenchResult result;
    bool cancelled = false;
    QString error;
};

// A compressed variant of `parent` built by the Optimize page. The page keeps a copy of `cancel`, so a
// cancel pressed while the job still waits behind another one is not lost.
struct VariantJob {
    quint64 id = 0;
    QString parent; // the model file the recipe is applied to
    Recipe recipe;
    QString output;
    VariantEvaluation evaluation;
    CancelToken cancel;
};

struct VariantOutcome {
    quint64 id = 0;
    VariantResult result; // filled on success
    bool cancelled = false;
    QString error; // empty on success and on cancel
};

class EngineWorker : public QObject {
    Q_OBJECT
public:
    EngineWorker(RunStore& store, MetricRegistry& metrics, const MonitorClock& clock, int threads);
    ~EngineWorker() override;

    // Thread-safe: cancels whatever runs now (a load, a reply, a benchmark, a variant build).
    void stop();
    // Thread-safe.
    bool isBusy() const { return busy_.load(); }

    // The worker-thread entry points; call them through post() (queued).
    void loadModel(const QString& path);
    void generateReply(const ReplyJob& job);
    void runBench(const BenchJob& job);
    // Applies the recipe, measures the variant beside its parent and records it in the store.
    void buildVariant(const VariantJob& job);

    // Runs `work` on the worker thread (queued) with a fresh cancel token installed.
    template <typename Work> void post(Work work) {
        QMetaObject::invokeMethod(this, std::move(work), Qt::QueuedConnection);
    }

signals:
    void stateChanged(const QString& state); // "Idle", "Loading 40 %", "Generating"
    void loadProgress(double fraction, const QString& stage);
    void modelLoaded(const lathe::gui::LoadedModel& model);
    void loadFailed(const QString& path, const QString& error);
    void runStarted(quint64 jobId, qint64 runId);
    void runEnded(qint64 runId);
    void replyStarted(quint64 jobId, qint64 runId);
    void replyText(quint64 jobId, const QString& text); // one token's text
    void replyFinished(const lathe::gui::ReplyOutcome& outcome);
    void benchProgress(quint64 jobId, double fraction, const QString& stage);
    void benchFinished(const lathe::gui::BenchOutcome& outcome);
    void variantProgress(quint64 jobId, double fraction, const QString& stage);
    void variantFinished(const lathe::gui::VariantOutcome& outcome);

private:
    CancelToken beginJob(CancelToken token = {});
    void endJob();
    void persistPartial(qint64 messageId, const std::string& text, const MessageStats& stats, bool complete);

    RunStore& store_;
    MetricRegistry& metrics_;
    const MonitorClock& clock_;
    int threads_;
    std::unique_ptr<Session> session_;
    nlohmann::json environment_;
    std::atomic<bool> busy_{false};
    mutable std::mutex cancelMutex_;
    CancelToken cancel_;
};

} // namespace lathe::gui

Q_DECLARE_METATYPE(lathe::gui::LoadedModel)
Q_DECLARE_METATYPE(lathe::gui::ReplyOutcome)
Q_DECLARE_METATYPE(lathe::gui::BenchOutcome)
Q_DECLARE_METATYPE(lathe::gui::VariantOutcome)
