#include "VariantJob.h"
#include "Verbs.h"
#include "compress/RtnQuantizer.h"
#include "core/Error.h"
#include "io/GgufReader.h"
#include "io/ModelFiles.h"
#include "workbench/ModelSummary.h"
#include "workbench/RunRecorder.h"

#include <cstdio>
#include <fmt/format.h>
#include <iostream>
#include <optional>

namespace lathe::cli {

VerbRunner addQuantizeVerb(CLI::App& app, const CommonFlags& flags) {
    CLI::App* verb = app.add_subcommand(
        "quantize", "Quantize a GGUF model's weights: --type for plain RTN into a llama.cpp block format, or "
                    "--method rtn|awq|gptq|smoothquant for grouped, calibrated quantization (a variant: "
                    "evaluated against its parent and recorded)");
    struct Args {
        std::string model, type, output, method;
        int bits = 4, group = 128;
        bool symmetric = false, noActOrder = false;
        double damp = 0.01, alpha = 0.5;
        VariantEvaluationFlags evaluation;
    };
    auto args = std::make_shared<Args>();
    verb->add_option("MODEL", args->model, "A .gguf file")->required();
    verb->add_option(
        "--type", args->type,
        "Whole-model RTN: q8_0 (8-bit g32), q4_0 (4-bit g32), q4_1 (4-bit g32 with minimum) or f16");
    verb->add_option("--method", args->method,
                     "rtn, awq, gptq or smoothquant (W8A8) of the transformer blocks' matrices");
    verb->add_option("--bits", args->bits, "3, 4 or 8 (--method)")->capture_default_str();
    verb->add_option("--group", args->group, "Group size: 32, 64, 128, or 0 for per channel (--method)")
        ->capture_default_str();
    verb->add_flag("--sym", args->symmetric, "Symmetric grid (zero exact; 8-bit is always symmetric)");
    verb->add_option("--damp", args->damp, "GPTQ damping, share of mean(diag H)")->capture_default_str();
    verb->add_flag("--no-act-order", args->noActOrder, "GPTQ: columns in stored order");
    verb->add_option("--alpha", args->alpha, "SmoothQuant migration strength")->capture_default_str();
    verb->add_option("-o,--output", args->output, "The new .gguf file")->required();
    addVariantEvaluationFlags(*verb, args->evaluation, true);
    return [&flags, args] {
        if (args->method.empty() == args->type.empty())
            fail(ErrorCategory::InvalidArgument, "quantize: give either --type or --method");
        if (!args->method.empty()) {
            nlohmann::json step = {{"method", args->method}};
            if (args->method == "smoothquant") {
                step["alpha"] = args->alpha;
            } else {
                step["bits"] = args->bits;
                step["group"] = args->group;
                step["symmetric"] = args->symmetric || args->bits == 8;
                step["damp"] = args->damp;
                step["act_order"] = !args->noActOrder;
            }
            if (args->method != "rtn" && args->method != "awq" && args->method != "gptq" &&
                args->method != "smoothquant")
                fail(ErrorCategory::InvalidArgument,
                     "quantize: unknown method '{}' (rtn, awq, gptq, smoothquant)", args->method);
            const Recipe recipe = Recipe::fromJson({{"steps", {step}}});
            return runVariantJob(flags, "quantize", args->model, recipe, args->output, args->evaluation);
        }
        const std::optional<DType> parsed = dtypeFromName(args->type);
        if (!parsed)
            fail(ErrorCategory::InvalidArgument, "unknown type '{}': expected q8_0, q4_0, q4_1 or f16",
                 args->type);
        const DType format = *parsed;
        if (std::filesystem::exists(args->output) && std::filesystem::equivalent(args->output, args->model))
            fail(ErrorCategory::InvalidArgument, "the output {} is the model itself", args->output);
        const GgufFile source = GgufFile::open(args->model);
        const ModelSummary summary = summarizeModel(openModelFiles(args->model));
        nlohmann::json config = {{"verb", "quantize"},
                                 {"method", "rtn"},
                                 {"model", std::filesystem::absolute(args->model).string()},
                                 {"type", dtypeName(format)},
                                 {"output", std::filesystem::absolute(args->output).string()}};
        std::unique_ptr<RunStore> store = openStoreForRecording(flags);
        std::unique_ptr<RunRecorder> recorder;
        if (store) recorder = std::make_unique<RunRecorder>(*store, RunKind::Compress, summary, config);
        ProgressFn progress;
        if (stderrIsTerminal() && !flags.json)
            progress = [](double fraction, std::string_view stage) {
                std::fprintf(stderr, "\r\033[Kquantize: %3d%% %.*s", int(fraction * 100), int(stage.size()),
                             stage.data());
                if (fraction >= 1.0) std::fprintf(stderr, "\r\033[K");
                std::fflush(stderr);
            };
        RtnQuantizeResult r;
        try {
            r = quantizeRtn(source, format, args->output, progress);
        } catch (...) {
            if (recorder) recorder->finish(RunStatus::Failed);
            throw;
        }
        const double inputBytes = double(std::filesystem::file_size(args->model));
        if (recorder) {
            recorder->addMetrics({{"input_bytes", inputBytes, "B"},
                                  {"output_bytes", double(r.outputBytes), "B"},
                                  {"quantized_tensors", double(r.quantizedTensors), ""},
                                  {"kept_tensors", double(r.keptTensors), ""}});
            recorder->finish(RunStatus::Done);
        }
        if (flags.json) {
            printJson({{"run_id", recorder ? nlohmann::json(recorder->runId()) : nlohmann::json()},
                       {"output", args->output},
                       {"type", dtypeName(format)},
                       {"output_bytes", r.outputBytes},
                       {"quantized_tensors", r.quantizedTensors},
                       {"kept_tensors", r.keptTensors}});
            return kExitOk;
        }
        std::cout << fmt::format("{} ({:.1f} MiB) -> {} as {} ({:.1f} MiB): {} tensors re-encoded, {} kept\n",
                                 args->model, inputBytes / (1 << 20), args->output, dtypeName(format),
                                 double(r.outputBytes) / (1 << 20), r.quantizedTensors, r.keptTensors);
        return kExitOk;
    };
}

} // namespace lathe::cli
