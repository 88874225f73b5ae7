#include "Verbs.h"
#include "workbench/Benchmark.h"
#include "workbench/ModelSummary.h"
#include "workbench/RunRecorder.h"

#include <cstdio>
#include <fmt/format.h>
#include <iostream>

namespace lathe::cli {

VerbRunner addBenchVerb(CLI::App& app, const CommonFlags& flags) {
    CLI::App* verb =
        app.add_subcommand("bench", "Measure prompt (pp) and generation (tg) speed like llama-bench");
    struct Args {
        std::string model;
        BenchSettings settings;
        bool noBandwidth = false;
    };
    auto args = std::make_shared<Args>();
    verb->add_option("MODEL", args->model, "A .gguf file or a Hugging Face model folder")->required();
    verb->add_option("-p,--prompt-tokens", args->settings.promptTokens,
                     "pp N: prompt tokens in one batch (0 = skip)")
        ->capture_default_str();
    verb->add_option("-n,--gen-tokens", args->settings.generatedTokens,
                     "tg N: single-token decode steps (0 = skip)")
        ->capture_default_str();
    verb->add_option("-r,--repetitions", args->settings.repetitions, "Repetitions after one warm-up")
        ->capture_default_str();
    verb->add_flag("--no-bandwidth", args->noBandwidth,
                   "Skip measuring the memory bandwidth (and the roofline)");
    return [&flags, args] {
        args->settings.measureBandwidth = !args->noBandwidth;
        const int context = std::max(args->settings.promptTokens, args->settings.generatedTokens) + 16;
        std::unique_ptr<Session> session =
            openSession(args->model, sessionOptions(flags, std::max(context, 16)));
        const ModelSummary summary = summarizeModel(session->files());
        nlohmann::json config = {{"verb", "bench"},
                                 {"model", std::filesystem::absolute(args->model).string()},
                                 {"device", flags.device},
                                 {"threads", session->threads()},
                                 {"prompt_tokens", args->settings.promptTokens},
                                 {"generated_tokens", args->settings.generatedTokens},
                                 {"repetitions", args->settings.repetitions}};
        std::unique_ptr<RunStore> store = openStoreForRecording(flags);
        std::unique_ptr<RunRecorder> recorder;
        if (store) recorder = std::make_unique<RunRecorder>(*store, RunKind::Bench, summary, config);

        ProgressFn progress;
        if (stderrIsTerminal() && !flags.json)
            progress = [](double fraction, std::string_view stage) {
                std::fprintf(stderr, "\r\033[Kbench: %3d%% %.*s", int(fraction * 100), int(stage.size()),
                             stage.data());
                if (fraction >= 1.0) std::fprintf(stderr, "\r\033[K");
                std::fflush(stderr);
            };
        const BenchResult r = runBenchmark(session->transformer(), session->files(), session->threads(),
                                           args->settings, progress, {});
        const std::vector<RunMetric> metrics = r.metrics();
        if (recorder) {
            recorder->addMetrics(metrics);
            recorder->finish(RunStatus::Done);
        }
        if (flags.json) {
            nlohmann::json m = nlohmann::json::object();
            for (const RunMetric& metric : metrics)
                m[metric.name] = metric.value;
            printJson({{"run_id", recorder ? nlohmann::json(recorder->runId()) : nlohmann::json()},
                       {"model", summary.name},
                       {"threads", session->threads()},
                       {"pp_values", r.promptTokensPerSecond.values},
                       {"tg_values", r.decodeTokensPerSecond.values},
                       {"metrics", m}});
            return kExitOk;
        }
        std::cout << fmt::format("model {} ({:.1f} MiB), {} threads, {} repetitions after a warm-up\n",
                                 summary.name, double(summary.fileBytes) / (1 << 20), session->threads(),
                                 r.settings.repetitions);
        std::cout << fmt::format("{:<8} {:>18}\n", "test", "tokens/s");
        if (r.settings.promptTokens > 0)
            std::cout << fmt::format("{:<8} {:>10.2f} ± {:<6.2f}\n",
                                     fmt::format("pp{}", r.settings.promptTokens),
                                     r.promptTokensPerSecond.mean, r.promptTokensPerSecond.stddev);
        if (r.settings.generatedTokens > 0) {
            std::cout << fmt::format("{:<8} {:>10.2f} ± {:<6.2f}\n",
                                     fmt::format("tg{}", r.settings.generatedTokens),
                                     r.decodeTokensPerSecond.mean, r.decodeTokensPerSecond.stddev);
            std::cout << fmt::format("inter-token latency p50 {:.2f} ms, p99 {:.2f} ms\n", r.interTokenP50Ms,
                                     r.interTokenP99Ms);
        }
        if (!r.ttftMs.values.empty()) std::cout << fmt::format("TTFT {:.1f} ms\n", r.ttftMs.mean);
        std::cout << fmt::format("peak memory {:.1f} MiB\n", double(r.peakRssBytes) / (1 << 20));
        if (r.bandwidthBytesPerSecond > 0)
            std::cout << fmt::format(
                "memory bandwidth {:.1f} GB/s; decode reads {:.1f} MiB per token: roofline "
                "{:.1f} tok/s, decode at {:.0f}% of it\n",
                r.bandwidthBytesPerSecond / 1e9, double(r.weightBytes) / (1 << 20),
                r.decodeRooflineTokensPerSecond, r.decodeRooflineShare * 100);
        if (recorder) std::cerr << "recorded as run " << recorder->runId() << "\n";
        return kExitOk;
    };
}

} // namespace lathe::cli
