#pragma once
// A whole file read as bytes into a string (config.json, tokenizer.json, texts for evaluation and
// calibration).

#include <filesystem>
#include <string>
#include <string_view>

namespace lathe {

// Throws lathe::Error (Io) "cannot read the <what> <path>: <reason>" when the file cannot be opened
// or read.
std::string readTextFile(const std::filesystem::path& path, std::string_view what);

} // namespace lathe
