#pragma once
// State shared by every lathe-cli verb: the common flags and how results are printed
// (--json: one JSON object on stdout, human text on stderr).

#include "store/RunStore.h"
#include "workbench/Session.h"

#include <nlohmann/json.hpp>
#include <string>

namespace lathe::cli {

struct CommonFlags {
    std::string db; // run store; empty: the user data folder's lathe.db
    std::string device = "cpu";
    int threads = 0;
    bool json = false;
    std::string logLevel = "warn";
};

// Exit statuses (DESIGN.md): 0 success, 1 user error, 2 internal error.
inline constexpr int kExitOk = 0;
inline constexpr int kExitUserError = 1;
inline constexpr int kExitInternalError = 2;

SessionOptions sessionOptions(const CommonFlags& flags, int contextTokens = 4096);
// Loads a model, showing progress on stderr when it is a terminal.
std::unique_ptr<Session> openSession(const std::string& modelPath, const SessionOptions& options);
// The run-store config of a generation verb: the verb, model, device, threads, context and decoding.
nlohmann::json runConfig(const CommonFlags& flags, const std::string& verb, const std::string& model,
                         int contextTokens, const GenerationRequest& request);
std::filesystem::path storePath(const CommonFlags& flags);
// Opens the run store for recording; when it cannot be opened (read-only, disk full) the verb still
// runs: the problem is printed once on stderr and nullptr returned.
std::unique_ptr<RunStore> openStoreForRecording(const CommonFlags& flags);
void printJson(const nlohmann::json& value);
bool stderrIsTerminal();

} // namespace lathe::cli
