#pragma once
// Logging setup: spdlog to stderr and to a rotating file in the user's data folder.

#include <filesystem>
#include <string_view>

namespace lathe {

// level: trace, debug, info, warn, error, off. Safe to call more than once (later calls reconfigure).
// The file sink is skipped (with a warning on the console) when the folder is not writable.
void setupLogging(std::string_view level, const std::filesystem::path& logDir);

} // namespace lathe
