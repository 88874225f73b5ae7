// DependentLaunch: the process-wide switch (see DependentLaunch.cuh).

#include "kernels/DependentLaunch.cuh"

#include <atomic>

namespace lathe::kernels {
namespace {
std::atomic<bool> enabled{false};
}

void setDependentLaunch(bool on) {
    enabled.store(on, std::memory_order_relaxed);
}

bool dependentLaunchEnabled() {
    return enabled.load(std::memory_order_relaxed);
}

} // namespace lathe::kernels
