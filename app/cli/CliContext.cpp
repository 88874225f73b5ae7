#include "CliContext.h"

#include <unistd.h>

#include <cstdio>
#include <iostream>

namespace lathe::cli {

SessionOptions sessionOptions(const CommonFlags& flags, int contextTokens) {
    SessionOptions options;
    options.device = flags.device;
    options.threads = flags.threads;
    options.contextTokens = contextTokens;
    return options;
}

bool stderrIsTerminal() { return isatty(STDERR_FILENO) != 0; }

std::unique_ptr<Session> openSession(const std::string& modelPath, const SessionOptions& options) {
    ProgressFn progress;
    if (stderrIsTerminal()) {
        progress = [](double fraction, std::string_view stage) {
            std::fprintf(stderr, "\r\033[Kloading: %3d%% %.*s", int(fraction * 100), int(stage.size()), stage.data());
            if (fraction >= 1.0) std::fprintf(stderr, "\r\033[K");
            std::fflush(stderr);
        };
    }
    return Session::open(modelPath, options, progress);
}

void printJson(const nlohmann::json& value) {
    std::cout << value.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << std::endl;
}

} // namespace lathe::cli
