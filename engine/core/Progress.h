#pragma once
// Progress reports of long jobs: a fraction in [0, 1] and the stage being worked on.

#include <functional>
#include <string_view>

namespace lathe {

using ProgressFn = std::function<void(double fraction, std::string_view stage)>;

inline void reportProgress(const ProgressFn& progress, double fraction, std::string_view stage) {
    if (progress) progress(fraction, stage);
}

} // namespace lathe
