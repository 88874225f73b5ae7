#include "core/Log.h"

#include "core/Error.h"

#include <spdlog/sinks/rotating_file_sink.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

namespace lathe {

void setupLogging(std::string_view level, const std::filesystem::path& logDir) {
    const spdlog::level::level_enum parsed = spdlog::level::from_str(std::string(level));
    if (parsed == spdlog::level::off && level != "off")
        fail(ErrorCategory::InvalidArgument, "unknown log level '{}' (trace, debug, info, warn, error, off)",
             level);

    std::vector<spdlog::sink_ptr> sinks;
    auto console = std::make_shared<spdlog::sinks::stderr_color_sink_mt>();
    console->set_level(parsed);
    sinks.push_back(console);
    std::string fileProblem;
    try {
        std::filesystem::create_directories(logDir);
        constexpr size_t kMaxBytes = 5 * 1024 * 1024;
        auto file = std::make_shared<spdlog::sinks::rotating_file_sink_mt>((logDir / "lathe.log").string(),
                                                                           kMaxBytes, 3);
        file->set_level(std::min(parsed, spdlog::level::info));
        sinks.push_back(file);
    } catch (const std::exception& e) {
        fileProblem = e.what();
    }
    auto logger = std::make_shared<spdlog::logger>("lathe", sinks.begin(), sinks.end());
    logger->set_level(spdlog::level::trace);
    logger->set_pattern("%Y-%m-%d %H:%M:%S.%e %^%l%$ %v");
    spdlog::set_default_logger(logger);
    if (!fileProblem.empty()) spdlog::warn("log file disabled: {}", fileProblem);
}

} // namespace lathe
