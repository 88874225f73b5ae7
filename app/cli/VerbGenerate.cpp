#include "GenerationReport.h"
#include "RecordedRun.h"
#include "SamplingFlags.h"
#include "Verbs.h"

#include <cstdio>
#include <iostream>

namespace lathe::cli {

VerbRunner addGenerateVerb(CLI::App& app, const CommonFlags& flags) {
    CLI::App* verb = app.add_subcommand("generate", "Continue a prompt (or answer it as a chat with --chat)");
    struct Args {
        std::string model, prompt, system;
        bool chat = false;
        int context = 4096;
        SamplingFlags sampling;
    };
    auto args = std::make_shared<Args>();
    verb->add_option("MODEL", args->model, "A .gguf file or a Hugging Face model folder")->required();
    verb->add_option("-p,--prompt", args->prompt, "The prompt text")->required();
    verb->add_flag("--chat", args->chat, "Wrap the prompt in the model's chat template as a user message");
    verb->add_option("--system", args->system, "System prompt (with --chat)");
    verb->add_option("-c,--ctx", args->context, "Context size in tokens")->capture_default_str();
    args->sampling.addTo(*verb);
    return [&flags, args] {
        const GenerationRequest request = args->sampling.request();
        std::unique_ptr<Session> session = openSession(args->model, sessionOptions(flags, args->context));
        nlohmann::json config = runConfig(flags, "generate", args->model, session->contextTokens(), request);
        config["chat_template"] = args->chat;
        config["system_prompt"] = args->system;
        RecordedRun run(openStoreForRecording(flags), *session, config);
        TokenCallback stream = [&flags](const TokenEvent& event) {
            if (!flags.json) {
                std::fwrite(event.text.data(), 1, event.text.size(), stdout);
                std::fflush(stdout);
            }
            return true;
        };
        GenerationResult result;
        if (args->chat) {
            session->setSystemPrompt(args->system);
            result = session->chat(args->prompt, request, stream);
        } else {
            result = session->complete(args->prompt, request, stream);
        }
        run.recordGeneration(result);
        run.finish(result.stopReason == StopReason::Cancelled ? RunStatus::Cancelled : RunStatus::Done);
        if (flags.json) {
            printJson({{"run_id", run.runId() ? nlohmann::json(*run.runId()) : nlohmann::json()},
                       {"prompt_tokens", session->lastPromptTokens()},
                       {"tokens", result.tokens},
                       {"text", result.text},
                       {"stop_reason", stopReasonName(result.stopReason)},
                       {"seed", request.sampling.seed},
                       {"timings", timingsJson(result)}});
        } else {
            std::cout << std::endl;
            std::cerr << timingLine(result) << "\n";
        }
        return kExitOk;
    };
}

} // namespace lathe::cli
