#include "GenerationReport.h"
#include "RecordedRun.h"
#include "SamplingFlags.h"
#include "Verbs.h"

#include <csignal>
#include <cstdio>
#include <iostream>
#include <unistd.h>

namespace lathe::cli {
namespace {

// Ctrl+C during a reply stops that reply; at the prompt it ends the chat.
CancelToken* activeReply = nullptr;

void onInterrupt(int) {
    if (activeReply)
        activeReply->cancel();
    else
        _exit(0);
}

} // namespace

VerbRunner addChatVerb(CLI::App& app, const CommonFlags& flags) {
    CLI::App* verb = app.add_subcommand("chat", "Chat with a model in the terminal, streaming replies");
    struct Args {
        std::string model, system;
        int context = 4096;
        SamplingFlags sampling;
    };
    auto args = std::make_shared<Args>();
    verb->add_option("MODEL", args->model, "A .gguf file or a Hugging Face model folder")->required();
    verb->add_option("--system", args->system, "System prompt");
    verb->add_option("-c,--ctx", args->context, "Context size in tokens")->capture_default_str();
    args->sampling.maxNewTokens = 512;
    args->sampling.addTo(*verb);
    return [&flags, args] {
        const GenerationRequest request = args->sampling.request();
        std::unique_ptr<Session> session = openSession(args->model, sessionOptions(flags, args->context));
        session->setSystemPrompt(args->system);
        nlohmann::json config = runConfig(flags, "chat", args->model, session->contextTokens(), request);
        config["system_prompt"] = args->system;
        RecordedRun run(openStoreForRecording(flags), *session, config);
        bool chatStarted = false;
        const bool interactive = isatty(STDIN_FILENO) != 0;
        if (interactive)
            std::cerr << "Chatting with " << args->model << " (" << session->chatTemplate().familyName()
                      << " template). /reset starts over, /exit or Ctrl+D quits, Ctrl+C stops a reply.\n";
        std::signal(SIGINT, onInterrupt);
        std::string line;
        for (;;) {
            if (interactive) std::cerr << "\n> " << std::flush;
            if (!std::getline(std::cin, line)) break;
            if (line.empty()) continue;
            if (line == "/exit" || line == "/quit") break;
            if (line == "/reset") {
                session->resetConversation();
                std::cerr << "(conversation cleared)\n";
                continue;
            }
            if (!chatStarted) {
                run.startChat(line.substr(0, 60));
                chatStarted = true;
            }
            run.addUserMessage(line);
            run.beginReply();
            CancelToken cancel;
            activeReply = &cancel;
            std::string replySoFar;
            const GenerationResult result = session->chat(
                line, request,
                [&](const TokenEvent& event) {
                    replySoFar += event.text;
                    run.streamReply(replySoFar);
                    if (!flags.json) {
                        std::fwrite(event.text.data(), 1, event.text.size(), stdout);
                        std::fflush(stdout);
                    }
                    return true;
                },
                cancel);
            activeReply = nullptr;
            run.endReply(result);
            if (flags.json) {
                printJson({{"user", line},
                           {"text", result.text},
                           {"tokens", result.tokens},
                           {"stop_reason", stopReasonName(result.stopReason)},
                           {"timings", timingsJson(result)}});
            } else {
                std::cout << std::endl;
                std::cerr << timingLine(result) << "\n";
            }
        }
        return kExitOk;
    };
}

} // namespace lathe::cli
