#include "Verbs.h"
#include "workbench/ModelSummary.h"

#include <iostream>

namespace lathe::cli {

VerbRunner addInfoVerb(CLI::App& app, const CommonFlags& flags) {
    CLI::App* verb =
        app.add_subcommand("info", "Show a model's architecture, shapes, tensor types, tokenizer, template");
    auto model = std::make_shared<std::string>();
    verb->add_option("MODEL", *model, "A .gguf file or a Hugging Face model folder")->required();
    return [&flags, model] {
        const ModelSummary summary = summarizeModel(openModelFiles(*model));
        if (flags.json)
            printJson(summary.toJson());
        else
            std::cout << summary.toText();
        return kExitOk;
    };
}

} // namespace lathe::cli
