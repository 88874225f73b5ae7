#include "backend/cpu/CpuFeatures.h"

#include <cstdlib>
#include <cstring>

#if defined(__x86_64__)
#include <cpuid.h>
#endif

namespace lathe {
namespace {

#if defined(__x86_64__)
// AVX2, FMA and F16C from CPUID, and the operating system's consent to the 256-bit register state
// (XCR0 bits 1 and 2), read directly: clang's __builtin_cpu_supports knows no "f16c".
bool detectAvx2() {
    unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
    if (!__get_cpuid(1, &eax, &ebx, &ecx, &edx)) return false;
    const bool fma = ecx & (1u << 12), osxsave = ecx & (1u << 27), avx = ecx & (1u << 28),
               f16c = ecx & (1u << 29);
    if (!(fma && osxsave && avx && f16c)) return false;
    unsigned xcrLow = 0, xcrHigh = 0;
    __asm__("xgetbv" : "=a"(xcrLow), "=d"(xcrHigh) : "c"(0));
    if ((xcrLow & 0x6) != 0x6) return false;
    if (!__get_cpuid_count(7, 0, &eax, &ebx, &ecx, &edx)) return false;
    return ebx & (1u << 5);
}
#else
bool detectAvx2() {
    return false;
}
#endif

} // namespace

bool cpuHasAvx2() {
    static const bool available = [] {
        const char* forced = std::getenv("LATHE_CPU_KERNELS");
        if (forced && std::strcmp(forced, "scalar") == 0) return false;
        return detectAvx2();
    }();
    return available;
}

} // namespace lathe
