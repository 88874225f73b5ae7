#include "VariantJob.h"

#include "core/Error.h"

#include <atomic>
#include <csignal>
#include <cstdio>
#include <fmt/format.h>
#include <iostream>

namespace lathe::cli {

namespace {

std::atomic<CancelToken*> activeJob{nullptr};

extern "C" void cancelOnInterrupt(int) {
    if (CancelToken* job = activeJob.load()) job->cancel();
}

// Ctrl-C cancels the job instead of killing the process, for the job's lifetime.
class InterruptCancels {
public:
    explicit InterruptCancels(CancelToken& token) {
        activeJob.store(&token);
        previous_ = std::signal(SIGINT, cancelOnInterrupt);
    }
    ~InterruptCancels() {
        std::signal(SIGINT, previous_);
        activeJob.store(nullptr);
    }

private:
    void (*previous_)(int) = SIG_DFL;
};

std::string mib(uint64_t bytes) {
    return fmt::format("{:.1f} MiB", double(bytes) / (1 << 20));
}

} // namespace

void addVariantEvaluationFlags(CLI::App& verb, VariantEvaluationFlags& flags, bool calibration) {
    verb.add_flag("--no-eval", flags.noEval, "Skip perplexity and KL against the parent");
    verb.add_flag("--no-bench", flags.noBench, "Skip the decode speed of parent and variant");
    verb.add_option("--text", flags.text, "Evaluation text (default: the GPL-3 text in resources/text)");
    verb.add_option("-c,--ctx", flags.contextTokens, "Evaluation chunk length (llama-perplexity's -c)")
        ->capture_default_str();
    verb.add_option("--chunks", flags.chunks, "Most evaluation chunks (0 = all)")->capture_default_str();
    if (calibration) {
        verb.add_option("--calib", flags.calibrationText,
                        "Calibration text (default: GPL-2 and LGPL-2.1 texts in resources/text)");
        verb.add_option("--calib-tokens", flags.calibrationTokens,
                        "Calibration tokens, in chunks of 512 (default: the recipe's, else 2048)");
    }
}

int runVariantJob(const CommonFlags& flags, const std::string& verbName, const std::string& model,
                  Recipe recipe, const std::string& output, const VariantEvaluationFlags& evaluationFlags) {
    if (!evaluationFlags.calibrationText.empty()) recipe.calibration.text = evaluationFlags.calibrationText;
    if (evaluationFlags.calibrationTokens > 0) recipe.calibration.tokens = evaluationFlags.calibrationTokens;
    recipe.validate();
    VariantEvaluation evaluation;
    evaluation.quality = !evaluationFlags.noEval;
    evaluation.speed = !evaluationFlags.noBench;
    evaluation.text = evaluationFlags.text;
    evaluation.perplexity.contextTokens = evaluationFlags.contextTokens;
    evaluation.perplexity.maxChunks = evaluationFlags.chunks;

    std::unique_ptr<RunStore> store = openStoreForRecording(flags);
    ProgressFn progress;
    if (stderrIsTerminal() && !flags.json)
        progress = [verbName](double fraction, std::string_view stage) {
            std::fprintf(stderr, "\r\033[K%s: %3d%% %.*s", verbName.c_str(), int(fraction * 100),
                         int(stage.size()), stage.data());
            if (fraction >= 1.0) std::fprintf(stderr, "\r\033[K");
            std::fflush(stderr);
        };
    CancelToken cancel;
    VariantResult r;
    {
        InterruptCancels interrupt(cancel);
        try {
            r = buildVariant(model, recipe, output, evaluation, sessionOptions(flags), store.get(), progress,
                             cancel);
        } catch (const Error&) {
            if (progress) std::fprintf(stderr, "\r\033[K");
            throw;
        }
    }
    const CompressionReport& c = r.report;
    if (flags.json) {
        nlohmann::json out = {{"run_id", r.runId ? nlohmann::json(*r.runId) : nlohmann::json()},
                              {"variant_id", r.variantId ? nlohmann::json(*r.variantId) : nlohmann::json()},
                              {"output", output},
                              {"recipe", recipe.toJson()},
                              {"input_bytes", c.inputBytes},
                              {"output_bytes", c.outputBytes},
                              {"sparsity", c.sparsity},
                              {"calibration_tokens", c.calibrationTokens},
                              {"seconds", c.seconds},
                              {"notes", c.notes}};
        if (evaluation.quality) {
            out["perplexity"] = r.variant.perplexity;
            out["perplexity_error"] = r.variant.perplexityError;
            out["base_perplexity"] = r.parent.perplexity;
            out["kl_divergence"] = r.klDivergence;
            out["top1_agreement"] = r.top1Agreement;
        }
        if (evaluation.speed) {
            out["tokens_per_second"] = r.variant.tokensPerSecond;
            out["tokens_per_second_sd"] = r.variant.tokensPerSecondSd;
            out["base_tokens_per_second"] = r.parent.tokensPerSecond;
            out["peak_rss_bytes"] = r.variant.peakRssBytes;
            out["base_peak_rss_bytes"] = r.parent.peakRssBytes;
        }
        printJson(out);
        return kExitOk;
    }
    std::cout << fmt::format("{} -> {}: {} ({} -> {}, {:.1f}%), sparsity {:.1f}%, {:.0f} s\n", model, output,
                             recipe.describe(), mib(c.inputBytes), mib(c.outputBytes),
                             100.0 * double(c.outputBytes) / double(c.inputBytes), 100.0 * c.sparsity,
                             c.seconds);
    if (evaluation.quality)
        std::cout << fmt::format(
            "PPL {:.4f} +/- {:.4f} (parent {:.4f}); KL(parent || variant) {:.5f} +/- {:.5f} "
            "nats; top-1 agreement {:.2f}%\n",
            r.variant.perplexity, r.variant.perplexityError, r.parent.perplexity, r.klDivergence, r.klError,
            100.0 * r.top1Agreement);
    if (evaluation.speed)
        std::cout << fmt::format("tg{} {:.1f} +/- {:.1f} tok/s (parent {:.1f}); peak RSS {} (parent {})\n",
                                 evaluation.generatedTokens, r.variant.tokensPerSecond,
                                 r.variant.tokensPerSecondSd, r.parent.tokensPerSecond,
                                 mib(r.variant.peakRssBytes), mib(r.parent.peakRssBytes));
    if (r.runId) std::cout << fmt::format("recorded as run {}, variant {}\n", *r.runId, *r.variantId);
    return kExitOk;
}

} // namespace lathe::cli
