#pragma once
// A generate or chat run of lathe-cli as the run store sees it: the run row, its metrics, and for chat
// the conversation, message by message (a streaming reply is saved at least every second). Store
// failures (a full disk, a read-only database) become one warning: the conversation goes on unrecorded.

#include "store/RunStore.h"
#include "workbench/RunRecorder.h"
#include "workbench/Session.h"

#include <chrono>
#include <memory>
#include <optional>
#include <string>

namespace lathe::cli {

class RecordedRun {
public:
    // store may be null (recording unavailable): every call then does nothing.
    RecordedRun(std::unique_ptr<RunStore> store, const Session& session, const nlohmann::json& config);
    ~RecordedRun();

    std::optional<int64_t> runId() const;
    void recordGeneration(const GenerationResult& result); // adds the metrics of one generation
    void finish(RunStatus status, const std::string& error = {});

    void startChat(const std::string& title);
    void addUserMessage(const std::string& text);
    void beginReply();
    void streamReply(const std::string& textSoFar); // saves when a second has passed since the last save
    void endReply(const GenerationResult& result);

private:
    template <typename Fn> void guarded(const char* what, Fn&& fn);

    std::unique_ptr<RunStore> store_;
    std::unique_ptr<RunRecorder> recorder_;
    std::optional<int64_t> chatId_;
    std::optional<int64_t> replyId_;
    std::chrono::steady_clock::time_point lastSave_;
    int generations_ = 0;
};

} // namespace lathe::cli
