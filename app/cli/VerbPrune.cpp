#include "VariantJob.h"
#include "Verbs.h"
#include "core/Error.h"

namespace lathe::cli {

VerbRunner addPruneVerb(CLI::App& app, const CommonFlags& flags) {
    CLI::App* verb = app.add_subcommand(
        "prune",
        "Prune the transformer blocks' matrices (a variant: evaluated against its parent and recorded)");
    struct Args {
        std::string model, method, pattern, output, storage = "q8_0", unit = "query";
        double sparsity = -1.0, damp = 0.01;
        VariantEvaluationFlags evaluation;
    };
    auto args = std::make_shared<Args>();
    verb->add_option("MODEL", args->model, "A .gguf file")->required();
    verb->add_option(
            "--method", args->method,
            "magnitude, wanda, sparsegpt (weights), channels (whole FFN channels) or heads (whole attention "
            "heads); channels and heads shrink the matrices")
        ->required();
    verb->add_option(
        "--sparsity", args->sparsity,
        "Share removed: of each row's weights, or of each layer's FFN channels or attention heads "
        "(default 0.5; channels and heads 0.25)");
    verb->add_option("--unit", args->unit,
                     "heads: 'query' removes query heads from every KV group, 'group' whole KV groups (a KV "
                     "head and the query heads that read it)")
        ->capture_default_str();
    verb->add_option("--pattern", args->pattern,
                     "N:M semi-structured pattern, e.g. 2:4 (instead of --sparsity)");
    verb->add_option("--damp", args->damp, "SparseGPT damping, share of mean(diag H)")->capture_default_str();
    verb->add_option("--storage", args->storage, "Format of the pruned matrices: q8_0, f16, bf16 or f32")
        ->capture_default_str();
    verb->add_option("-o,--output", args->output, "The new .gguf file")->required();
    addVariantEvaluationFlags(*verb, args->evaluation, true);
    return [&flags, args] {
        std::string method = args->method;
        if (method == "channels") method = "ffn_channels";
        if (method == "heads") method = "attn_heads";
        const bool structured = method == "ffn_channels" || method == "attn_heads";
        nlohmann::json step = {{"method", method}, {"damp", args->damp}, {"unit", args->unit}};
        if (!args->pattern.empty()) {
            if (structured)
                fail(ErrorCategory::InvalidArgument,
                     "prune: --pattern applies to weight pruning, not channels or heads");
            step["pattern"] = args->pattern;
        } else {
            step["sparsity"] = args->sparsity >= 0.0 ? args->sparsity : (structured ? 0.25 : 0.5);
        }
        const Recipe recipe = Recipe::fromJson({{"steps", {step}}, {"storage", args->storage}});
        return runVariantJob(flags, "prune", args->model, recipe, args->output, args->evaluation);
    };
}

} // namespace lathe::cli
