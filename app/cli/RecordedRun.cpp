#include "RecordedRun.h"

#include <cstdio>

namespace lathe::cli {

template <typename Fn> void RecordedRun::guarded(const char* what, Fn&& fn) {
    if (!store_) return;
    try {
        fn();
    } catch (const std::exception& e) {
        std::fprintf(stderr, "lathe-cli: warning: could not %s, recording stops: %s\n", what, e.what());
        recorder_.reset(); // its destructor tries to close the run as failed
        store_.reset();
    }
}

RecordedRun::RecordedRun(std::unique_ptr<RunStore> store, const Session& session,
                         const nlohmann::json& config)
    : store_(std::move(store)) {
    guarded("start recording the run", [&] {
        recorder_ =
            std::make_unique<RunRecorder>(*store_, RunKind::Chat, summarizeModel(session.files()), config);
    });
}

RecordedRun::~RecordedRun() {
    if (recorder_) finish(RunStatus::Done);
}

std::optional<int64_t> RecordedRun::runId() const {
    if (!recorder_) return std::nullopt;
    return recorder_->runId();
}

void RecordedRun::recordGeneration(const GenerationResult& result) {
    ++generations_;
    guarded("save the run's metrics", [&] {
        std::vector<RunMetric> metrics = generationMetrics(result.timings);
        // For a multi-turn chat the run's metrics describe its latest reply; the messages keep each one's.
        metrics.push_back({"replies", double(generations_), "count"});
        recorder_->addMetrics(metrics);
    });
}

void RecordedRun::finish(RunStatus status, const std::string& error) {
    guarded("close the run", [&] {
        if (recorder_) recorder_->finish(status, error);
    });
    recorder_.reset();
}

void RecordedRun::startChat(const std::string& title) {
    guarded("create the chat", [&] {
        chatId_ = store_->createChat(title,
                                     recorder_ ? std::optional<int64_t>(recorder_->modelId()) : std::nullopt);
    });
}

void RecordedRun::addUserMessage(const std::string& text) {
    guarded("save the message", [&] {
        if (chatId_) store_->addMessage(*chatId_, "user", text);
    });
}

void RecordedRun::beginReply() {
    guarded("save the reply", [&] {
        if (chatId_) replyId_ = store_->addMessage(*chatId_, "assistant", "", {}, /*complete=*/false);
    });
    lastSave_ = std::chrono::steady_clock::now();
}

void RecordedRun::streamReply(const std::string& textSoFar) {
    const auto now = std::chrono::steady_clock::now();
    if (!replyId_ || now - lastSave_ < std::chrono::seconds(1)) return;
    lastSave_ = now;
    guarded("save the reply", [&] { store_->updateMessage(*replyId_, textSoFar, {}, /*complete=*/false); });
}

void RecordedRun::endReply(const GenerationResult& result) {
    recordGeneration(result);
    if (!replyId_) return;
    MessageStats stats;
    stats.ttftMs = result.timings.timeToFirstTokenSeconds * 1e3;
    stats.tokensPerSecond = result.timings.decodeTokensPerSecond();
    stats.tokenCount = result.timings.generatedTokens;
    guarded("save the reply",
            [&] { store_->updateMessage(*replyId_, result.text, stats, /*complete=*/true); });
    replyId_.reset();
}

} // namespace lathe::cli
