#pragma once
// Records one run in the run store from start to end: the run row is committed as 'running' when the
// recorder is made, and completed by finish(); a recorder destroyed unfinished (an exception on the
// way) marks its run 'failed'. Both faces use it, so a chat or bench run looks the same from either.

#include "decode/Generator.h"
#include "store/RunRecords.h"
#include "workbench/ModelSummary.h"

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

namespace lathe {

class RunStore;

// The models-table row for a summarised model file.
ModelRecord modelRecordOf(const ModelSummary& summary);

// Summary metrics of a generation: TTFT, prompt and decode tokens/s, token counts, ITL p50/p99.
std::vector<RunMetric> generationMetrics(const GenerationTimings& timings);

// The run config of a generation request, minus the prompt tokens (which can be long).
nlohmann::json generationConfig(const GenerationRequest& request);

class RunRecorder {
public:
    RunRecorder(RunStore& store, RunKind kind, const ModelSummary& model, const nlohmann::json& config);
    ~RunRecorder();
    RunRecorder(const RunRecorder&) = delete;
    RunRecorder& operator=(const RunRecorder&) = delete;

    int64_t runId() const { return runId_; }
    int64_t modelId() const { return modelId_; }
    void addMetrics(const std::vector<RunMetric>& metrics);
    void finish(RunStatus status, const std::string& error = {});
    void failWith(const std::string& error) { finish(RunStatus::Failed, error); }

private:
    RunStore& store_;
    int64_t modelId_ = 0;
    int64_t runId_ = 0;
    bool finished_ = false;
};

} // namespace lathe
