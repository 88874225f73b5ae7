#include "VariantJob.h"
#include "Verbs.h"
#include "core/Error.h"

#include <fstream>

namespace lathe::cli {

VerbRunner addRecipeVerb(CLI::App& app, const CommonFlags& flags) {
    CLI::App* verb = app.add_subcommand("recipe", "Compression recipes (JSON; see engine/compress/Recipe.h)");
    verb->require_subcommand(1);
    CLI::App* run = verb->add_subcommand(
        "run",
        "Apply a recipe to a model: a new model file, evaluated against its parent, recorded as a variant");
    struct Args {
        std::string file, model, output;
        VariantEvaluationFlags evaluation;
    };
    auto args = std::make_shared<Args>();
    run->add_option("FILE", args->file, "The recipe (JSON); it may name \"model\" and \"output\"")
        ->required();
    run->add_option("--model", args->model, "The parent .gguf (overrides the recipe's \"model\")");
    run->add_option("-o,--output", args->output, "The new .gguf (overrides the recipe's \"output\")");
    addVariantEvaluationFlags(*run, args->evaluation, true);
    return [&flags, args] {
        std::ifstream in(args->file);
        if (!in) fail(ErrorCategory::Io, "cannot read the recipe {}", args->file);
        nlohmann::json json;
        try {
            json = nlohmann::json::parse(in);
        } catch (const nlohmann::json::exception& e) {
            fail(ErrorCategory::InvalidArgument, "{} is not valid JSON: {}", args->file, e.what());
        }
        const Recipe recipe = Recipe::fromJson(json);
        // Paths inside the recipe are relative to the recipe's folder.
        const std::filesystem::path folder = std::filesystem::path(args->file).parent_path();
        auto fromRecipe = [&](const char* key) -> std::string {
            if (!json.contains(key) || !json[key].is_string()) return {};
            const std::filesystem::path p = json[key].get<std::string>();
            return (p.is_absolute() ? p : folder / p).string();
        };
        const std::string model = args->model.empty() ? fromRecipe("model") : args->model;
        const std::string output = args->output.empty() ? fromRecipe("output") : args->output;
        if (model.empty())
            fail(ErrorCategory::InvalidArgument, "recipe run: no model (--model or \"model\")");
        if (output.empty()) fail(ErrorCategory::InvalidArgument, "recipe run: no output (-o or \"output\")");
        return runVariantJob(flags, "recipe", model, recipe, output, args->evaluation);
    };
}

} // namespace lathe::cli
