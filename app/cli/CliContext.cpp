#include "CliContext.h"

#include "core/Paths.h"
#include "core/ThreadPool.h"
#include "workbench/RunRecorder.h"

#include <cstdio>
#include <iostream>
#include <unistd.h>

namespace lathe::cli {

SessionOptions sessionOptions(const CommonFlags& flags, int contextTokens) {
    SessionOptions options;
    options.device = flags.device;
    options.threads = flags.threads;
    options.contextTokens = contextTokens;
    return options;
}

bool stderrIsTerminal() {
    return isatty(STDERR_FILENO) != 0;
}

std::unique_ptr<Session> openSession(const std::string& modelPath, const SessionOptions& options) {
    ProgressFn progress;
    if (stderrIsTerminal()) {
        progress = [](double fraction, std::string_view stage) {
            std::fprintf(stderr, "\r\033[Kloading: %3d%% %.*s", int(fraction * 100), int(stage.size()),
                         stage.data());
            if (fraction >= 1.0) std::fprintf(stderr, "\r\033[K");
            std::fflush(stderr);
        };
    }
    return Session::open(modelPath, options, progress);
}

nlohmann::json runConfig(const CommonFlags& flags, const std::string& verb, const std::string& model,
                         int contextTokens, const GenerationRequest& request) {
    nlohmann::json config = generationConfig(request);
    config["verb"] = verb;
    config["model"] = std::filesystem::absolute(model).string();
    config["device"] = flags.device;
    config["threads"] = flags.threads > 0 ? flags.threads : ThreadPool::hardwareThreads();
    config["context"] = contextTokens;
    return config;
}

std::filesystem::path storePath(const CommonFlags& flags) {
    return flags.db.empty() ? userDataDir() / "lathe.db" : std::filesystem::path(flags.db);
}

std::unique_ptr<RunStore> openStoreForRecording(const CommonFlags& flags) {
    try {
        return RunStore::open(storePath(flags));
    } catch (const Error& e) {
        std::fprintf(stderr, "lathe-cli: warning: this run is not recorded: %s\n", e.what());
        return nullptr;
    }
}

void printJson(const nlohmann::json& value) {
    std::cout << value.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << std::endl;
}

} // namespace lathe::cli
