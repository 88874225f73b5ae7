#include "backend/cpu/CpuFeatures.h"

#include <cstdlib>
#include <cstring>

namespace lathe {

bool cpuHasAvx2() {
    static const bool available = [] {
        const char* forced = std::getenv("LATHE_CPU_KERNELS");
        if (forced && std::strcmp(forced, "scalar") == 0) return false;
#if defined(__x86_64__)
        __builtin_cpu_init();
        return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
               __builtin_cpu_supports("f16c");
#else
        return false;
#endif
    }();
    return available;
}

} // namespace lathe
