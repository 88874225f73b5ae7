#include "Verbs.h"

#include <fmt/format.h>
#include <iostream>

namespace lathe::cli {

VerbRunner addTokenizeVerb(CLI::App& app, const CommonFlags& flags) {
    CLI::App* verb = app.add_subcommand("tokenize", "Print the token ids of a text");
    struct Args {
        std::string model, text;
        bool noSpecial = false, noBos = false;
    };
    auto args = std::make_shared<Args>();
    verb->add_option("MODEL", args->model, "A .gguf file or a Hugging Face model folder")->required();
    verb->add_option("TEXT", args->text, "The text to tokenize")->required();
    verb->add_flag("--no-special", args->noSpecial,
                   "Treat special-token text like <|im_start|> as plain text");
    verb->add_flag("--no-bos", args->noBos, "Do not add the model's BOS/EOS tokens");
    return [&flags, args] {
        const ModelFiles files = openModelFiles(args->model);
        const Tokenizer tokenizer(files.tokenizer);
        const std::vector<int32_t> ids = tokenizer.encode(args->text, !args->noBos, !args->noSpecial);
        if (flags.json) {
            nlohmann::json pieces = nlohmann::json::array();
            for (int32_t id : ids)
                pieces.push_back(tokenizer.tokenText(id));
            printJson({{"tokens", ids}, {"pieces", pieces}});
            return kExitOk;
        }
        for (int32_t id : ids)
            std::cout << fmt::format("{:>7} {:?}\n", id, tokenizer.tokenText(id));
        std::cout << ids.size() << " tokens\n";
        return kExitOk;
    };
}

} // namespace lathe::cli
