#pragma once
// The run store: one SQLite file recording models, runs (with config, environment, summary metrics and
// time series) and chats message by message. WAL journal, foreign keys on, a busy timeout and
// BEGIN IMMEDIATE with retry, so the CLI and the desktop app can write the same file at once.
// Every write is one short transaction: killing the process at any moment loses nothing committed.
// Thread-safe: one mutex serialises calls on the one connection (the sampler thread appends samples
// while the UI thread streams a reply).
//
// Errors are lathe::Error: Io for disk full, read-only files, locks held too long; InvalidArgument for
// a reference to a missing row (a run for a model id that does not exist); InvalidFile for a file that
// is not a Lathe database. After an error the store stays usable and earlier commits stay intact.

#include "store/RunRecords.h"

#include <cstdint>
#include <filesystem>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace SQLite {
class Database;
}

namespace lathe {

struct RunStoreOptions {
    int busyTimeoutMs = 10000;
    // Largest database size in pages (0: unlimited). A user may cap the store's size; tests use it to
    // simulate a full disk where no small file system can be mounted.
    int64_t maxPageCount = 0;
};

class RunStore {
public:
    // Creates the file and its folders if needed, migrates the schema, and marks every run whose
    // owning process is gone as 'interrupted'. A read-only file opens for reading (writes then throw).
    static std::unique_ptr<RunStore> open(const std::filesystem::path& path,
                                          const RunStoreOptions& options = {});
    ~RunStore();
    RunStore(const RunStore&) = delete;
    RunStore& operator=(const RunStore&) = delete;

    const std::filesystem::path& path() const { return path_; }
    bool isReadOnly() const { return readOnly_; }
    // Runs found cut off at open and marked 'interrupted'.
    const std::vector<int64_t>& interruptedAtOpen() const { return interruptedAtOpen_; }

    // Models and variants. registerModel returns the existing id for a known path (and refreshes its fields).
    int64_t registerModel(const ModelRecord& model);
    std::optional<ModelRecord> getModel(int64_t id);
    std::vector<ModelRecord> listModels();
    // With runId, the run that made the variant is linked to it in the same transaction.
    int64_t registerVariant(int64_t modelId, const std::string& path, const nlohmann::json& recipe,
                            std::optional<int64_t> runId = {});
    std::optional<VariantRecord> getVariant(int64_t id);

    // Runs. beginRun commits the row as 'running' before returning.
    int64_t beginRun(RunKind kind, std::optional<int64_t> modelId, const nlohmann::json& config,
                     const nlohmann::json& environment, std::optional<int64_t> variantId = {});
    void finishRun(int64_t runId, RunStatus status, const std::string& error = {});
    void addMetric(int64_t runId, const RunMetric& metric); // replaces a metric of the same name
    void addMetrics(int64_t runId, std::span<const RunMetric> metrics);
    void appendSamples(int64_t runId, std::span<const RunSample> samples); // one transaction
    void deleteRun(int64_t runId);

    std::optional<RunRecord> getRun(int64_t runId);
    std::vector<RunRecord> listRuns(const RunQuery& query);
    int64_t countRuns(const RunFilter& filter);
    std::vector<RunMetric> metrics(int64_t runId);
    std::vector<std::string> sampleSeries(int64_t runId);
    // One series in time order; empty series name means all series (ordered by series, then t).
    std::vector<RunSample> samples(int64_t runId, const std::string& series, int64_t offset, int64_t limit);
    int64_t countSamples(int64_t runId, const std::string& series);
    // Throws Error(InvalidArgument) when either run does not exist.
    RunComparison compareRuns(int64_t a, int64_t b);

    // Chats. addMessage commits before returning; updateMessage rewrites one row (cheap enough for a
    // streaming reply every second).
    int64_t createChat(const std::string& title, std::optional<int64_t> modelId = {});
    void renameChat(int64_t chatId, const std::string& title);
    void deleteChat(int64_t chatId); // its messages go with it
    std::optional<ChatRecord> getChat(int64_t chatId);
    // Newest first; `search` matches titles and message text (case-insensitive for ASCII), empty = all.
    std::vector<ChatRecord> listChats(const std::string& search, int64_t offset, int64_t limit);
    int64_t addMessage(int64_t chatId, const std::string& role, const std::string& content,
                       const MessageStats& stats = {}, bool complete = true);
    void updateMessage(int64_t messageId, const std::string& content, const MessageStats& stats,
                       bool complete);
    std::vector<MessageRecord> messages(int64_t chatId, int64_t offset = 0, int64_t limit = -1);

private:
    RunStore() = default;
    void markInterruptedRuns();
    RunRecord readRun(int64_t runId); // caller holds mutex_; throws when absent

    std::filesystem::path path_;
    std::unique_ptr<SQLite::Database> db_;
    bool readOnly_ = false;
    std::vector<int64_t> interruptedAtOpen_;
    std::mutex mutex_;
};

} // namespace lathe
