#include "core/TextFile.h"

#include "core/Error.h"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

namespace lathe {

std::string readTextFile(const std::filesystem::path& path, std::string_view what) {
    std::ifstream in(path, std::ios::binary);
    if (!in) fail(ErrorCategory::Io, "cannot read the {} {}: {}", what, path.string(), std::strerror(errno));
    std::ostringstream text;
    text << in.rdbuf();
    if (in.bad()) fail(ErrorCategory::Io, "cannot read the {} {}: read error", what, path.string());
    return text.str();
}

} // namespace lathe
