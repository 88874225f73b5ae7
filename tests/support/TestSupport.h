#pragma once
// Shared helpers for Lathe's Qt Test suites: temporary folders, the real default model, fixtures.

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace lathe::test {

// Path of the real default model (SmolLM2-135M-Instruct Q4_1), from $LATHE_DEFAULT_MODEL or the
// user's model folder; nullopt when it is not there (tests then QSKIP with that message).
std::optional<std::filesystem::path> defaultModelPath();
inline constexpr const char* kNoDefaultModel =
    "default model not found: run installer/fetch-default-model.sh or set LATHE_DEFAULT_MODEL";

// n values drawn from N(0, scale²) by a generator seeded with `seed` (the same values on every run).
std::vector<float> normalValues(size_t n, uint32_t seed, float scale = 1.0f);

// Folder of committed fixtures (tests/data).
std::filesystem::path testDataDir();

// A fresh temporary folder removed when the object dies.
class TempDir {
public:
    TempDir();
    ~TempDir();
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;
    const std::filesystem::path& path() const { return path_; }
    std::filesystem::path file(const std::string& name) const { return path_ / name; }

private:
    std::filesystem::path path_;
};

std::string readFileText(const std::filesystem::path& path);
void writeFileBytes(const std::filesystem::path& path, const std::string& bytes);

} // namespace lathe::test
