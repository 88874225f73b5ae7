#include "Benchmark.h"

#include "workbench/Session.h"

#include <algorithm>
#include <cmath>
#include <fmt/format.h>
#include <numeric>

namespace lathe::gui {

BenchResult runBenchmark(Session& session, const BenchSettings& settings, const ProgressFn& progress,
                         const CancelToken& cancel) {
    if (settings.promptTokens < 2 || settings.generatedTokens < 1 || settings.repetitions < 1)
        fail(ErrorCategory::InvalidArgument,
             "benchmark needs at least 2 prompt tokens, 1 generated token and 1 "
             "repetition, got {}, {}, {}",
             settings.promptTokens, settings.generatedTokens, settings.repetitions);
    BenchResult result;
    GenerationRequest request;
    request.maxNewTokens = settings.generatedTokens;
    request.sampling = SamplingParams::greedy();
    request.stopAtEndOfGeneration = false; // always generate exactly M tokens
    for (int rep = 0; rep < settings.repetitions; ++rep) {
        cancel.throwIfCancelled();
        // Each repetition starts with a different word so the KV cache cannot reuse the previous prompt.
        std::string prompt = fmt::format("Run {} of the benchmark.", rep + 1);
        while (int(session.tokenize(prompt).size()) < settings.promptTokens)
            prompt += " the lathe turns";
        reportProgress(progress, double(rep) / settings.repetitions,
                       fmt::format("repetition {} of {}", rep + 1, settings.repetitions));
        int generated = 0;
        const GenerationResult run = session.complete(
            prompt, request,
            [&](const TokenEvent& event) {
                generated = event.index + 1;
                reportProgress(progress,
                               (rep + double(generated) / settings.generatedTokens) / settings.repetitions,
                               fmt::format("repetition {} of {}: {} / {} tokens", rep + 1,
                                           settings.repetitions, generated, settings.generatedTokens));
                return !cancel.isCancelled();
            },
            cancel);
        cancel.throwIfCancelled();
        const GenerationTimings& t = run.timings;
        result.promptTokens = t.promptTokens;
        result.generatedTokens = t.generatedTokens;
        result.promptTokensPerSecond.push_back(t.promptTokensPerSecond());
        result.decodeTokensPerSecond.push_back(t.decodeTokensPerSecond());
        result.ttftMs.push_back(t.timeToFirstTokenSeconds * 1e3);
        for (double gap : t.interTokenSeconds)
            result.interTokenMs.push_back(gap * 1e3);
    }
    reportProgress(progress, 1.0, "done");
    return result;
}

} // namespace lathe::gui
