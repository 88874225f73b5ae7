#include "workbench/RunRecorder.h"

#include "core/Statistics.h"
#include "store/Environment.h"
#include "store/RunStore.h"

#include <algorithm>
#include <cmath>
#include <spdlog/spdlog.h>

namespace lathe {

ModelRecord modelRecordOf(const ModelSummary& summary) {
    ModelRecord record;
    // Absolute, so that the CLI and the app register one file once whatever the working folder.
    record.path = std::filesystem::absolute(summary.path).lexically_normal().string();
    record.name =
        summary.name.empty() ? std::filesystem::path(summary.path).filename().string() : summary.name;
    record.format = summary.format;
    record.architecture = summary.config.architecture;
    record.parameterCount = summary.parameterCount;
    record.fileBytes = summary.fileBytes;
    record.summary = summary.toJson();
    return record;
}

std::vector<RunMetric> generationMetrics(const GenerationTimings& t) {
    std::vector<RunMetric> metrics = {
        {"prompt_tokens", double(t.promptTokens), "tokens"},
        {"reused_prompt_tokens", double(t.reusedPromptTokens), "tokens"},
        {"generated_tokens", double(t.generatedTokens), "tokens"},
        {"ttft_ms", t.timeToFirstTokenSeconds * 1e3, "ms"},
        {"prompt_tokens_per_s", t.promptTokensPerSecond(), "tok/s"},
        {"decode_tokens_per_s", t.decodeTokensPerSecond(), "tok/s"},
    };
    if (!t.interTokenSeconds.empty()) {
        metrics.push_back({"itl_p50_ms", percentile(t.interTokenSeconds, 50) * 1e3, "ms"});
        metrics.push_back({"itl_p99_ms", percentile(t.interTokenSeconds, 99) * 1e3, "ms"});
    }
    return metrics;
}

nlohmann::json generationConfig(const GenerationRequest& request) {
    const SamplingParams& s = request.sampling;
    return {{"max_new_tokens", request.maxNewTokens},
            {"stop_strings", request.stopStrings},
            {"stop_at_end_of_generation", request.stopAtEndOfGeneration},
            {"sampling",
             {{"temperature", s.temperature},
              {"top_k", s.topK},
              {"top_p", s.topP},
              {"min_p", s.minP},
              {"repeat_penalty", s.repeatPenalty},
              {"repeat_last_n", s.repeatLastN},
              {"seed", s.seed}}}};
}

RunRecorder::RunRecorder(RunStore& store, RunKind kind, const ModelSummary& model,
                         const nlohmann::json& config)
    : store_(store) {
    modelId_ = store_.registerModel(modelRecordOf(model));
    runId_ = store_.beginRun(kind, modelId_, config, captureEnvironment());
}

RunRecorder::~RunRecorder() {
    if (finished_) return;
    try {
        store_.finishRun(runId_, RunStatus::Failed, "the run ended without a result");
    } catch (const std::exception& e) {
        spdlog::error("could not close run {}: {}", runId_, e.what());
    }
}

void RunRecorder::addMetrics(const std::vector<RunMetric>& metrics) {
    store_.addMetrics(runId_, metrics);
}

void RunRecorder::finish(RunStatus status, const std::string& error) {
    store_.finishRun(runId_, status, error);
    finished_ = true;
}

} // namespace lathe
