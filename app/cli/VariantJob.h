#pragma once
// What `quantize --method`, `prune` and `recipe run` share: build the variant (workbench/VariantBuilder)
// with a progress bar on a terminal, Ctrl-C as cancel (nothing is left behind: no file, no variant row,
// the run marked cancelled), and the result printed as text or JSON.

#include "CliContext.h"
#include "compress/Recipe.h"
#include "workbench/VariantBuilder.h"

#include <CLI/CLI.hpp>
#include <memory>
#include <string>

namespace lathe::cli {

// Flags of the evaluation that follows compression.
struct VariantEvaluationFlags {
    bool noEval = false, noBench = false;
    std::string text;
    int contextTokens = 512;
    int chunks = 0;
    int calibrationTokens = 0; // 0: the recipe's (2048 by default)
    std::string calibrationText;
};
void addVariantEvaluationFlags(CLI::App& verb, VariantEvaluationFlags& flags, bool calibration);

int runVariantJob(const CommonFlags& flags, const std::string& verbName, const std::string& model,
                  Recipe recipe, const std::string& output, const VariantEvaluationFlags& evaluation);

} // namespace lathe::cli
