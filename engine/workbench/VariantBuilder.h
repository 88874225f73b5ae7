#pragma once
// Builds a compressed variant end to end, as both faces run it: apply the recipe (compress/Recipe), then
// measure the variant beside its parent (perplexity, KL(parent || variant), top-1 agreement, decode
// tokens/s, memory), and record it: a `compress` run with its metrics and, once everything succeeded,
// a variants row (parent model, path, recipe). A cancel or failure at any point removes the new file,
// marks the run cancelled/failed and adds no variant row.

#include "compress/Perplexity.h"
#include "compress/Recipe.h"
#include "workbench/Session.h"

#include <cstdint>
#include <filesystem>
#include <optional>

namespace lathe {

class RunStore;

struct VariantEvaluation {
    bool quality = true;           // perplexity and KL against the parent
    std::filesystem::path text;    // empty: the default evaluation text
    PerplexitySettings perplexity; // ctx 512, every chunk
    bool speed = true;             // tg tokens/s of parent and variant (lathe-cli bench's measure)
    int generatedTokens = 128;
    int repetitions = 3;
};

struct VariantMeasures {
    uint64_t fileBytes = 0;
    double perplexity = 0.0, perplexityError = 0.0;
    double tokensPerSecond = 0.0, tokensPerSecondSd = 0.0; // decode (tg)
    uint64_t peakRssBytes = 0;                             // while decoding, whole process
};

struct VariantResult {
    std::filesystem::path path;
    CompressionReport report;
    VariantMeasures parent, variant;
    double klDivergence = 0.0, klError = 0.0, top1Agreement = 0.0; // when quality was measured
    std::optional<int64_t> runId, variantId;                       // when a store was given
};

// store may be null (nothing recorded). Throws lathe::Error; Cancelled when `cancel` fires.
VariantResult buildVariant(const std::filesystem::path& parent, const Recipe& recipe,
                           const std::filesystem::path& output, const VariantEvaluation& evaluation,
                           const SessionOptions& options, RunStore* store, const ProgressFn& progress = {},
                           const CancelToken& cancel = {});

} // namespace lathe
