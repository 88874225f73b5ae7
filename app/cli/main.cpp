// lathe-cli: the Lathe engine without a window. Errors are turned into one line and an exit status
// here, at the edge (0 ok, 1 user error, 2 internal error).

#include "CliContext.h"
#include "Verbs.h"
#include "core/BuildInfo.h"
#include "core/Error.h"
#include "core/Log.h"
#include "core/Paths.h"

#include <cstdio>
#include <iostream>
#include <map>
#include <spdlog/spdlog.h>

using namespace lathe;
using namespace lathe::cli;

int main(int argc, char** argv) {
    CLI::App app{"lathe-cli: load, run and measure language models (the Lathe engine without a window)"};
    app.require_subcommand(1);
    app.set_version_flag("--version", std::string(latheVersion()) + " (" + latheCommit() + ")");
    CommonFlags flags;
    app.add_option("--db", flags.db, "Run store database (default: lathe.db in the user data folder)");
    app.add_option("--device", flags.device, "Compute device: cpu or cuda:N")->capture_default_str();
    app.add_option("--threads", flags.threads, "CPU threads (0 = all)")->capture_default_str();
    app.add_flag("--json", flags.json, "Print one JSON object on stdout; human text goes to stderr");
    app.add_option("--log-level", flags.logLevel, "trace, debug, info, warn, error or off")
        ->capture_default_str();

    std::map<CLI::App*, VerbRunner> verbs;
    auto add = [&](VerbRunner (*adder)(CLI::App&, const CommonFlags&)) {
        const size_t before = app.get_subcommands({}).size();
        VerbRunner runner = adder(app, flags);
        verbs[app.get_subcommands({}).at(before)] = std::move(runner);
    };
    add(addDevicesVerb);
    add(addInfoVerb);
    add(addTokenizeVerb);
    add(addGenerateVerb);
    add(addChatVerb);
    add(addBenchVerb);
    add(addEvalVerb);
    add(addQuantizeVerb);
    add(addPruneVerb);
    add(addRecipeVerb);
    add(addSynthVerb);
    add(addRunsVerb);

    try {
        app.parse(argc, argv);
    } catch (const CLI::CallForHelp& e) {
        return app.exit(e);
    } catch (const CLI::CallForAllHelp& e) {
        return app.exit(e);
    } catch (const CLI::CallForVersion& e) {
        return app.exit(e);
    } catch (const CLI::ParseError& e) {
        std::fprintf(stderr, "lathe-cli: %s (see lathe-cli --help)\n", e.what());
        return kExitUserError;
    }

    try {
        setupLogging(flags.logLevel, userDataDir() / "logs");
        for (CLI::App* sub : app.get_subcommands())
            if (auto it = verbs.find(sub); it != verbs.end()) return it->second();
        return kExitUserError;
    } catch (const Error& e) {
        std::fprintf(stderr, "lathe-cli: %s\n", e.what());
        return e.isUserError() ? kExitUserError : kExitInternalError;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "lathe-cli: internal error: %s\n", e.what());
        return kExitInternalError;
    }
}
