#pragma once
// The rows of the run store as plain structs: what RunStore takes and returns. Times are Unix epoch
// milliseconds (UTC) so that they sort, filter and export without time-zone questions.

#include "monitor/SeriesSample.h"

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

namespace lathe {

// Stored as text — never rename a value's name.
enum class RunKind { Chat, Bench, Eval, Compress, Train };
// Stored as text — never rename a value's name.
enum class RunStatus { Running, Done, Failed, Cancelled, Interrupted };

const char* runKindName(RunKind kind);
const char* runStatusName(RunStatus status);
RunKind parseRunKind(const std::string& name);     // throws Error(InvalidArgument) for an unknown name
RunStatus parseRunStatus(const std::string& name); // throws Error(InvalidArgument) for an unknown name

int64_t nowEpochMs();

struct ModelRecord {
    int64_t id = 0;
    std::string path;
    std::string name;
    std::string format;       // "gguf", "huggingface"
    std::string architecture; // "llama"
    uint64_t parameterCount = 0;
    uint64_t fileBytes = 0;
    nlohmann::json summary; // ModelSummary::toJson(), or any extra fields
    int64_t createdMs = 0;
};

struct VariantRecord {
    int64_t id = 0;
    int64_t modelId = 0;   // the model this variant was made from
    std::string path;      // where the variant's file was written
    nlohmann::json recipe; // the compression recipe that made it
    int64_t createdMs = 0;
};

struct RunRecord {
    int64_t id = 0;
    RunKind kind = RunKind::Chat;
    std::optional<int64_t> modelId;
    std::optional<int64_t> variantId;
    std::string modelName; // filled by queries from the models table
    RunStatus status = RunStatus::Running;
    nlohmann::json config;      // every knob of the run: decoding, device, threads …
    nlohmann::json environment; // captureEnvironment()
    int64_t startedMs = 0;
    std::optional<int64_t> endedMs;
    std::string error; // empty unless failed
};

struct RunMetric {
    std::string name; // "decode_tokens_per_s"
    double value = 0;
    std::string unit; // "tok/s"
};

// A time-series point of a run: what the Sampler produces, kept as it is.
using RunSample = SeriesSample;

struct RunFilter {
    std::optional<RunKind> kind;
    std::optional<int64_t> modelId;
    std::optional<RunStatus> status;
    std::optional<int64_t> startedFromMs; // inclusive
    std::optional<int64_t> startedToMs;   // exclusive
};

// Columns listRuns can sort by (whitelisted: the column name goes into the SQL text).
enum class RunSortColumn { Id, Started, Ended, Kind, Status, Model };

struct RunQuery {
    RunFilter filter;
    RunSortColumn sortBy = RunSortColumn::Started;
    bool descending = true;
    int64_t offset = 0;
    int64_t limit = 100;
};

struct ConfigDifference {
    std::string key;                 // JSON pointer into config, "/sampling/temperature"
    std::optional<nlohmann::json> a; // absent when the key is missing from run a
    std::optional<nlohmann::json> b;
};

struct MetricPair {
    std::string name;
    std::string unit;
    std::optional<double> a;
    std::optional<double> b;
};

struct RunComparison {
    RunRecord a;
    RunRecord b;
    std::vector<ConfigDifference> configDifferences;
    std::vector<ConfigDifference> environmentDifferences;
    std::vector<MetricPair> metrics; // union of both runs' metric names, sorted by name
};

struct ChatRecord {
    int64_t id = 0;
    std::string title;
    std::optional<int64_t> modelId;
    int64_t createdMs = 0;
    int64_t updatedMs = 0;
};

// Per-message generation figures; zero for user messages.
struct MessageStats {
    double ttftMs = 0;
    double tokensPerSecond = 0;
    int64_t tokenCount = 0;
    int64_t acceptedTokenCount = 0; // speculative decoding: draft tokens the target accepted
};

struct MessageRecord {
    int64_t id = 0;
    int64_t chatId = 0;
    std::string role; // "system", "user", "assistant"
    std::string content;
    MessageStats stats;
    bool complete = true; // false while a reply streams (or when it was cut off)
    int64_t createdMs = 0;
    int64_t updatedMs = 0;
};

} // namespace lathe
