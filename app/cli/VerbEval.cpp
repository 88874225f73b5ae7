#include "Verbs.h"
#include "compress/Perplexity.h"
#include "core/Error.h"
#include "core/TextFile.h"
#include "model/Transformer.h"
#include "workbench/ModelSummary.h"
#include "workbench/RunRecorder.h"

#include <cstdio>
#include <fmt/format.h>
#include <fstream>
#include <iostream>
#include <optional>
#include <sstream>

namespace lathe::cli {

VerbRunner addEvalVerb(CLI::App& app, const CommonFlags& flags) {
    CLI::App* verb =
        app.add_subcommand("eval", "Perplexity of a model over a text, as llama-perplexity computes it");
    struct Args {
        std::string model;
        std::string text = LATHE_DEFAULT_EVAL_TEXT;
        std::string base;
        std::string baseDevice;
        PerplexitySettings settings;
    };
    auto args = std::make_shared<Args>();
    verb->add_option("MODEL", args->model, "A .gguf file or a Hugging Face model folder")->required();
    verb->add_option("--text", args->text, "The text to score (default: the GPL-3 text in resources/text)")
        ->capture_default_str();
    verb->add_option("-c,--ctx", args->settings.contextTokens, "Tokens per chunk (llama-perplexity's -c)")
        ->capture_default_str();
    verb->add_option("--chunks", args->settings.maxChunks, "Most chunks to score (0 = all)")
        ->capture_default_str();
    verb->add_option("--base", args->base,
                     "The model MODEL was made from: adds its perplexity, the mean KL divergence "
                     "KL(base || MODEL) and the top-1 agreement on the same positions");
    verb->add_option("--base-device", args->baseDevice,
                     "Run the base on this device (cpu, cuda:N) instead of --device's; without --base the "
                     "base is MODEL itself, which measures one backend against another (say cuda:0 against "
                     "the cpu, whose arithmetic is llama.cpp's)");
    return [&flags, args] {
        const std::string text = readTextFile(args->text, "text");
        if (!args->baseDevice.empty() && args->base.empty()) args->base = args->model;
        std::unique_ptr<Session> session =
            openSession(args->model, sessionOptions(flags, args->settings.contextTokens));
        if (session->contextTokens() < args->settings.contextTokens)
            fail(ErrorCategory::InvalidArgument, "the model's context is {} tokens, shorter than --ctx {}",
                 session->contextTokens(), args->settings.contextTokens);
        const ModelSummary summary = summarizeModel(session->files());
        // As llama-perplexity: the model's own BOS rule, special-token text left as text.
        const std::vector<int32_t> tokens = session->tokenizer().encode(text, true, false);
        const bool addBos = session->tokenizer().spec().addBos;
        nlohmann::json config = {{"verb", "eval"},
                                 {"model", std::filesystem::absolute(args->model).string()},
                                 {"text", std::filesystem::absolute(args->text).string()},
                                 {"text_bytes", text.size()},
                                 {"text_tokens", tokens.size()},
                                 {"ctx", args->settings.contextTokens},
                                 {"chunks", args->settings.maxChunks},
                                 {"device", flags.device},
                                 {"threads", session->threads()}};
        if (!args->base.empty()) {
            config["base"] = std::filesystem::absolute(args->base).string();
            config["base_device"] = args->baseDevice.empty() ? flags.device : args->baseDevice;
        }
        std::unique_ptr<RunStore> store = openStoreForRecording(flags);
        std::unique_ptr<RunRecorder> recorder;
        if (store) recorder = std::make_unique<RunRecorder>(*store, RunKind::Eval, summary, config);

        ProgressFn progress;
        if (stderrIsTerminal() && !flags.json)
            progress = [](double fraction, std::string_view) {
                std::fprintf(stderr, "\r\033[Keval: %3d%%", int(fraction * 100));
                if (fraction >= 1.0) std::fprintf(stderr, "\r\033[K");
                std::fflush(stderr);
            };
        KvCache cache = session->transformer().makeCache(args->settings.contextTokens);
        const int32_t bos = addBos ? session->tokenizer().bosId() : -1;
        PerplexityResult r;
        std::optional<BaseComparison> comparison;
        try {
            if (args->base.empty()) {
                r = evaluatePerplexity(session->transformer(), cache, tokens, bos, args->settings, progress);
            } else {
                SessionOptions baseOptions = sessionOptions(flags, args->settings.contextTokens);
                if (!args->baseDevice.empty()) baseOptions.device = args->baseDevice;
                std::unique_ptr<Session> base = openSession(args->base, baseOptions);
                if (base->tokenizer().encode(text, true, false) != tokens)
                    fail(ErrorCategory::InvalidArgument,
                         "{} tokenizes the text differently from {}: not a base of the same vocabulary",
                         args->base, args->model);
                KvCache baseCache = base->transformer().makeCache(args->settings.contextTokens);
                comparison = compareWithBase(session->transformer(), cache, base->transformer(), baseCache,
                                             tokens, bos, args->settings, progress);
                r = comparison->model;
            }
        } catch (...) {
            if (recorder) recorder->finish(RunStatus::Failed);
            throw;
        }
        const std::vector<RunMetric> metrics = {{"perplexity", r.perplexity, ""},
                                                {"perplexity_error", r.perplexityError, ""},
                                                {"nll_per_token", r.meanNll, "nats"},
                                                {"chunks", double(r.chunks), ""},
                                                {"scored_tokens", double(r.scoredTokens), "tokens"}};
        std::vector<RunMetric> allMetrics = metrics;
        if (comparison) {
            allMetrics.push_back({"base_perplexity", comparison->base.perplexity, ""});
            allMetrics.push_back({"kl_divergence", comparison->meanKl, "nats"});
            allMetrics.push_back({"kl_divergence_error", comparison->klError, "nats"});
            allMetrics.push_back({"top1_agreement", comparison->top1Agreement, ""});
        }
        if (recorder) {
            recorder->addMetrics(allMetrics);
            recorder->finish(RunStatus::Done);
        }
        if (flags.json) {
            printJson({{"run_id", recorder ? nlohmann::json(recorder->runId()) : nlohmann::json()},
                       {"model", summary.name},
                       {"perplexity", r.perplexity},
                       {"perplexity_error", r.perplexityError},
                       {"nll_per_token", r.meanNll},
                       {"chunks", r.chunks},
                       {"scored_tokens", r.scoredTokens},
                       {"running_perplexity", r.runningPerplexity},
                       {"base_perplexity",
                        comparison ? nlohmann::json(comparison->base.perplexity) : nlohmann::json()},
                       {"kl_divergence", comparison ? nlohmann::json(comparison->meanKl) : nlohmann::json()},
                       {"top1_agreement",
                        comparison ? nlohmann::json(comparison->top1Agreement) : nlohmann::json()}});
            return kExitOk;
        }
        std::cout << fmt::format("{}: {} chunks of {} tokens, {} tokens scored\n", summary.name, r.chunks,
                                 args->settings.contextTokens, r.scoredTokens);
        std::cout << fmt::format("PPL = {:.4f} +/- {:.5f}\n", r.perplexity, r.perplexityError);
        if (comparison)
            std::cout << fmt::format(
                "base PPL = {:.4f} +/- {:.5f}; KL(base || model) = {:.6f} +/- {:.6f} nats; "
                "top-1 agreement {:.2f}%\n",
                comparison->base.perplexity, comparison->base.perplexityError, comparison->meanKl,
                comparison->klError, 100.0 * comparison->top1Agreement);
        if (recorder) std::cout << fmt::format("recorded as run {}\n", recorder->runId());
        return kExitOk;
    };
}

} // namespace lathe::cli
