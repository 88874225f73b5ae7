#pragma once
// Each lathe-cli verb registers its subcommand and returns the function that runs it.

#include "CliContext.h"

#include <CLI/CLI.hpp>
#include <functional>

namespace lathe::cli {

using VerbRunner = std::function<int()>;

VerbRunner addDevicesVerb(CLI::App& app, const CommonFlags& flags);
VerbRunner addInfoVerb(CLI::App& app, const CommonFlags& flags);
VerbRunner addTokenizeVerb(CLI::App& app, const CommonFlags& flags);
VerbRunner addGenerateVerb(CLI::App& app, const CommonFlags& flags);
VerbRunner addChatVerb(CLI::App& app, const CommonFlags& flags);
VerbRunner addBenchVerb(CLI::App& app, const CommonFlags& flags);
VerbRunner addEvalVerb(CLI::App& app, const CommonFlags& flags);
VerbRunner addQuantizeVerb(CLI::App& app, const CommonFlags& flags);
VerbRunner addPruneVerb(CLI::App& app, const CommonFlags& flags);
VerbRunner addRecipeVerb(CLI::App& app, const CommonFlags& flags);
VerbRunner addSynthVerb(CLI::App& app, const CommonFlags& flags);
VerbRunner addRunsVerb(CLI::App& app, const CommonFlags& flags);

} // namespace lathe::cli
