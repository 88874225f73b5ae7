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
        "quantize", "Round-to-nearest weight quantization of a GGUF model into a format llama.cpp loads");
    struct Args {
        std::string model, type, output;
    };
    auto args = std::make_shared<Args>();
    verb->add_option("MODEL", args->model, "A .gguf file")->required();
    verb->add_option("--type", args->type,
                     "q8_0 (8-bit g32), q4_0 (4-bit g32), q4_1 (4-bit g32 with minimum) or f16")
        ->required();
    verb->add_option("-o,--output", args->output, "The new .gguf file")->required();
    return [&flags, args] {
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
