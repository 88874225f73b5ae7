#include "TestSupport.h"

#include "core/Error.h"
#include "core/Paths.h"
#include "core/TextFile.h"

#include <cstdlib>
#include <fstream>
#include <random>
#include <sstream>

namespace lathe::test {

std::vector<float> normalValues(size_t n, uint32_t seed, float scale) {
    std::mt19937 rng(seed);
    std::normal_distribution<float> normal(0.0f, scale);
    std::vector<float> v(n);
    for (float& x : v)
        x = normal(rng);
    return v;
}

std::optional<std::filesystem::path> defaultModelPath() {
    if (const char* env = std::getenv("LATHE_DEFAULT_MODEL"); env && *env) {
        if (std::filesystem::exists(env)) return std::filesystem::path(env);
        return std::nullopt;
    }
    const std::filesystem::path path = lathe::defaultModelPath();
    if (std::filesystem::exists(path)) return path;
    return std::nullopt;
}

std::filesystem::path testDataDir() {
    return LATHE_TEST_DATA_DIR;
}

TempDir::TempDir() {
    std::random_device rd;
    for (int attempt = 0; attempt < 100; ++attempt) {
        path_ = std::filesystem::temp_directory_path() / ("lathe-test-" + std::to_string(rd()));
        if (std::filesystem::create_directory(path_)) return;
    }
    fail(ErrorCategory::Io, "cannot create a temporary folder");
}

TempDir::~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
}

std::string readFileText(const std::filesystem::path& path) {
    return readTextFile(path, "test file");
}

void writeFileBytes(const std::filesystem::path& path, const std::string& bytes) {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out.write(bytes.data(), std::streamsize(bytes.size()));
    if (!out) fail(ErrorCategory::Io, "cannot write {}", path.string());
}

} // namespace lathe::test
