#include "core/Paths.h"

#include "core/Error.h"

#include <cstdlib>

namespace lathe {

std::filesystem::path userDataDir() {
    std::filesystem::path base;
    if (const char* xdg = std::getenv("XDG_DATA_HOME"); xdg && *xdg)
        base = xdg;
    else if (const char* home = std::getenv("HOME"); home && *home)
        base = std::filesystem::path(home) / ".local/share";
    else
        base = std::filesystem::temp_directory_path();
    std::filesystem::path dir = base / "lathe";
    std::error_code ec;
    std::filesystem::create_directories(dir, ec);
    if (ec) fail(ErrorCategory::Io, "cannot create data folder {}: {}", dir.string(), ec.message());
    return dir;
}

std::filesystem::path userModelDir() {
    return userDataDir() / "models";
}

std::filesystem::path defaultModelPath() {
    return userModelDir() / "SmolLM2-135M-Instruct.Q4_1.gguf";
}

} // namespace lathe
