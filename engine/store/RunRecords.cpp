#include "store/RunRecords.h"

#include "core/Error.h"

#include <array>
#include <chrono>

namespace lathe {
namespace {

constexpr std::array kKindNames = {"chat", "bench", "eval", "compress", "train"};
constexpr std::array kStatusNames = {"running", "done", "failed", "cancelled", "interrupted"};

template <typename Enum, size_t N>
Enum parseName(const std::array<const char*, N>& names, const std::string& name, const char* what) {
    for (size_t i = 0; i < N; ++i)
        if (name == names[i]) return Enum(i);
    fail(ErrorCategory::InvalidArgument, "unknown run {} '{}': expected one of {}", what, name,
         fmt::join(names, ", "));
}

} // namespace

const char* runKindName(RunKind kind) {
    return kKindNames.at(size_t(kind));
}
const char* runStatusName(RunStatus status) {
    return kStatusNames.at(size_t(status));
}
RunKind parseRunKind(const std::string& name) {
    return parseName<RunKind>(kKindNames, name, "kind");
}
RunStatus parseRunStatus(const std::string& name) {
    return parseName<RunStatus>(kStatusNames, name, "status");
}

int64_t nowEpochMs() {
    using namespace std::chrono;
    return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

} // namespace lathe
