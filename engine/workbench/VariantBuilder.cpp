#include "workbench/VariantBuilder.h"

#include "compress/Calibration.h"
#include "core/Error.h"
#include "core/TextFile.h"
#include "model/KvCache.h"
#include "model/Transformer.h"
#include "store/RunStore.h"
#include "workbench/Benchmark.h"
#include "workbench/ModelSummary.h"
#include "workbench/RunRecorder.h"

#include <fmt/format.h>
#include <fstream>
#include <malloc.h>
#include <sstream>

namespace lathe {

namespace {

// Lets the next peak-RSS reading (VmHWM) start from the current resident size, so each model's bench
// reports its own peak (plus the process's own baseline). Where the kernel does not allow it, the reading
// stays the process's lifetime peak.
void resetPeakRss() {
    malloc_trim(0); // hand back what calibration and evaluation freed, or it would count as the model's
    std::ofstream clear("/proc/self/clear_refs");
    if (clear) clear << "5";
}

// Decode speed and memory of one model on its own (the other one closed).
void measureSpeed(const std::filesystem::path& path, const SessionOptions& options,
                  const VariantEvaluation& evaluation, VariantMeasures& out, const ProgressFn& progress,
                  const CancelToken& cancel) {
    resetPeakRss();
    std::unique_ptr<Session> session = Session::open(path, options, {}, cancel);
    BenchSettings settings;
    settings.promptTokens = 0;
    settings.generatedTokens = evaluation.generatedTokens;
    settings.repetitions = evaluation.repetitions;
    settings.measureBandwidth = false;
    const BenchResult r = runBenchmark(session->transformer(), session->files(), session->threads(), settings,
                                       progress, cancel);
    out.tokensPerSecond = r.decodeTokensPerSecond.mean;
    out.tokensPerSecondSd = r.decodeTokensPerSecond.stddev;
    out.peakRssBytes = r.peakRssBytes;
}

} // namespace

VariantResult buildVariant(const std::filesystem::path& parent, const Recipe& recipe,
                           const std::filesystem::path& output, const VariantEvaluation& evaluation,
                           const SessionOptions& options, RunStore* store, const ProgressFn& progress,
                           const CancelToken& cancel) {
    recipe.validate();
    const ModelSummary summary = summarizeModel(openModelFiles(parent));
    nlohmann::json config = {{"verb", "recipe"},
                             {"method", recipe.steps.size() == 1
                                            ? std::string(compressMethodName(recipe.steps[0].method))
                                            : std::string("recipe")},
                             {"recipe", recipe.toJson()},
                             {"model", std::filesystem::absolute(parent).string()},
                             {"output", std::filesystem::absolute(output).string()},
                             {"threads", options.threads},
                             {"evaluation",
                              {{"quality", evaluation.quality},
                               {"text", evaluation.text.string()},
                               {"ctx", evaluation.perplexity.contextTokens},
                               {"chunks", evaluation.perplexity.maxChunks},
                               {"speed", evaluation.speed},
                               {"tg", evaluation.generatedTokens}}}};
    std::unique_ptr<RunRecorder> recorder;
    if (store) recorder = std::make_unique<RunRecorder>(*store, RunKind::Compress, summary, config);

    // Shares of the job: compression 60%, quality 25%, speed 15%.
    auto part = [&](double base, double share) {
        return [&progress, base, share](double f, std::string_view stage) {
            reportProgress(progress, base + share * f, stage);
        };
    };
    VariantResult result;
    result.path = output;
    bool written = false;
    try {
        const bool measure = evaluation.quality || evaluation.speed;
        result.report =
            applyRecipe(parent, recipe, output, options.threads, part(0.0, measure ? 0.6 : 1.0), cancel);
        written = true;
        result.parent.fileBytes = result.report.inputBytes;
        result.variant.fileBytes = result.report.outputBytes;
        if (evaluation.quality) {
            const std::filesystem::path textPath =
                evaluation.text.empty() ? defaultEvaluationText() : evaluation.text;
            const std::string text = readTextFile(textPath, "evaluation text");
            SessionOptions sessionOptions = options;
            sessionOptions.contextTokens = evaluation.perplexity.contextTokens;
            std::unique_ptr<Session> base = Session::open(parent, sessionOptions, {}, cancel);
            std::unique_ptr<Session> variant = Session::open(output, sessionOptions, {}, cancel);
            const std::vector<int32_t> tokens = base->tokenizer().encode(text, true, false);
            const int32_t bos = base->tokenizer().spec().addBos ? base->tokenizer().bosId() : -1;
            KvCache baseCache = base->transformer().makeCache(evaluation.perplexity.contextTokens);
            KvCache variantCache = variant->transformer().makeCache(evaluation.perplexity.contextTokens);
            const BaseComparison c =
                compareWithBase(variant->transformer(), variantCache, base->transformer(), baseCache, tokens,
                                bos, evaluation.perplexity, part(0.6, 0.25), cancel);
            result.parent.perplexity = c.base.perplexity;
            result.parent.perplexityError = c.base.perplexityError;
            result.variant.perplexity = c.model.perplexity;
            result.variant.perplexityError = c.model.perplexityError;
            result.klDivergence = c.meanKl;
            result.klError = c.klError;
            result.top1Agreement = c.top1Agreement;
        }
        if (evaluation.speed) {
            measureSpeed(parent, options, evaluation, result.parent, part(0.85, 0.075), cancel);
            measureSpeed(output, options, evaluation, result.variant, part(0.925, 0.075), cancel);
        }
        cancel.throwIfCancelled();
        if (recorder) {
            std::vector<RunMetric> metrics = {
                {"input_bytes", double(result.report.inputBytes), "B"},
                {"output_bytes", double(result.report.outputBytes), "B"},
                {"size_ratio", double(result.report.outputBytes) / double(result.report.inputBytes), ""},
                {"changed_tensors", double(result.report.changedTensors), ""},
                {"kept_tensors", double(result.report.keptTensors), ""},
                {"sparsity", result.report.sparsity, ""},
                {"calibration_tokens", double(result.report.calibrationTokens), "tokens"},
                {"compress_seconds", result.report.seconds, "s"}};
            if (evaluation.quality) {
                metrics.push_back({"perplexity", result.variant.perplexity, ""});
                metrics.push_back({"perplexity_error", result.variant.perplexityError, ""});
                metrics.push_back({"base_perplexity", result.parent.perplexity, ""});
                metrics.push_back({"kl_divergence", result.klDivergence, "nats"});
                metrics.push_back({"kl_divergence_error", result.klError, "nats"});
                metrics.push_back({"top1_agreement", result.top1Agreement, ""});
            }
            if (evaluation.speed) {
                metrics.push_back({"decode_tokens_per_s", result.variant.tokensPerSecond, "tok/s"});
                metrics.push_back({"decode_tokens_per_s_sd", result.variant.tokensPerSecondSd, "tok/s"});
                metrics.push_back({"base_decode_tokens_per_s", result.parent.tokensPerSecond, "tok/s"});
                metrics.push_back({"peak_rss_bytes", double(result.variant.peakRssBytes), "B"});
                metrics.push_back({"base_peak_rss_bytes", double(result.parent.peakRssBytes), "B"});
            }
            recorder->addMetrics(metrics);
            result.runId = recorder->runId();
            result.variantId =
                store->registerVariant(recorder->modelId(), std::filesystem::absolute(output).string(),
                                       recipe.toJson(), recorder->runId());
            recorder->finish(RunStatus::Done);
        }
        reportProgress(progress, 1.0, "done");
        return result;
    } catch (const Error& e) {
        std::error_code ignored;
        if (written) std::filesystem::remove(output, ignored);
        if (recorder)
            recorder->finish(e.category() == ErrorCategory::Cancelled ? RunStatus::Cancelled
                                                                      : RunStatus::Failed,
                             e.what());
        throw;
    } catch (const std::exception& e) {
        std::error_code ignored;
        if (written) std::filesystem::remove(output, ignored);
        if (recorder) recorder->finish(RunStatus::Failed, e.what());
        throw;
    }
}

} // namespace lathe
