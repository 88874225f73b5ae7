// lathe-cli synth: writes a random-weight GGUF with the exact shapes of a named real model, so that
// GPU and CPU speed can be measured at realistic sizes without downloading weights.

#include "Verbs.h"
#include "core/Error.h"
#include "io/SyntheticModel.h"

#include <chrono>
#include <fmt/format.h>
#include <iostream>

namespace lathe::cli {

VerbRunner addSynthVerb(CLI::App& app, const CommonFlags& flags) {
    struct Options {
        std::string preset;
        std::string dtype = "q4_0";
        std::string output;
        uint64_t seed = 1;
    };
    auto options = std::make_shared<Options>();
    CLI::App* sub =
        app.add_subcommand("synth", "Write a random-weight GGUF shaped like a real model (for benchmarks)");
    sub->add_option("preset,--like", options->preset,
                    fmt::format("Model shape: {}", fmt::join(syntheticModelPresets(), ", ")))
        ->required();
    sub->add_option("--type,--dtype", options->dtype, "Weight format: f16, q8_0 or q4_0")
        ->capture_default_str();
    sub->add_option("-o,--output", options->output, "Output file (default: <preset>-<dtype>.synthetic.gguf)");
    sub->add_option("--seed", options->seed, "Random seed of the weights")->capture_default_str();
    return [options, &flags] {
        const std::optional<SyntheticModelShape> shape = syntheticModelShape(options->preset);
        if (!shape)
            fail(ErrorCategory::InvalidArgument, "unknown preset '{}': expected one of {}", options->preset,
                 fmt::join(syntheticModelPresets(), ", "));
        const std::optional<DType> dtype = dtypeFromName(options->dtype);
        if (!dtype)
            fail(ErrorCategory::InvalidArgument, "unknown dtype '{}': expected f16, q8_0 or q4_0",
                 options->dtype);
        const std::string output =
            options->output.empty() ? fmt::format("{}-{}.synthetic.gguf", options->preset, dtypeName(*dtype))
                                    : options->output;
        const auto start = std::chrono::steady_clock::now();
        const uint64_t bytes = writeSyntheticModel(output, *shape, *dtype, options->seed);
        const double seconds =
            std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
        if (flags.json) {
            printJson({{"path", output},
                       {"preset", options->preset},
                       {"dtype", std::string(dtypeName(*dtype))},
                       {"bytes", bytes},
                       {"seconds", seconds}});
        } else {
            std::cout << fmt::format("wrote {} ({} {}, {:.2f} GiB in {:.1f} s)\n", output, options->preset,
                                     dtypeName(*dtype), double(bytes) / (1 << 30), seconds);
        }
        return kExitOk;
    };
}

} // namespace lathe::cli
