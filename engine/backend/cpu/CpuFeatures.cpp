#include "backend/cpu/CpuFeatures.h"

#include <cstdlib>
#include <cstring>

#if defined(__x86_64__)
#include <cpuid.h>
#endif

namespace lathe {
namespace {

#if defined(__x86_64__)
// The register states the operating system saves (XCR0's low half), or 0 without OSXSAVE (CPUID.1 ECX
// bit 27), where xgetbv itself would fault.
unsigned enabledRegisterStates() {
    unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
    if (!__get_cpuid(1, &eax, &ebx, &ecx, &edx) || !(ecx & (1u << 27))) return 0;
    unsigned xcrLow = 0, xcrHigh = 0;
    __asm__("xgetbv" : "=a"(xcrLow), "=d"(xcrHigh) : "c"(0));
    return xcrLow;
}

// AVX2, FMA and F16C from CPUID, and the operating system's consent to the 256-bit register state
// (XCR0 bits 1 and 2), read directly: clang's __builtin_cpu_supports knows no "f16c".
bool detectAvx2() {
    unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
    if (!__get_cpuid(1, &eax, &ebx, &ecx, &edx)) return false;
    const bool fma = ecx & (1u << 12), avx = ecx & (1u << 28), f16c = ecx & (1u << 29);
    if (!(fma && avx && f16c) || (enabledRegisterStates() & 0x6) != 0x6) return false;
    if (!__get_cpuid_count(7, 0, &eax, &ebx, &ecx, &edx)) return false;
    return ebx & (1u << 5);
}

// AVX-512 F (leaf 7 EBX bit 16), BW (30), VL (31) and VNNI (ECX bit 11), with the opmask and both
// halves of the 512-bit registers enabled in XCR0 (bits 5, 6, 7) beside the AVX state.
bool detectAvx512() {
    if ((enabledRegisterStates() & 0xe6) != 0xe6) return false;
    unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
    if (!__get_cpuid_count(7, 0, &eax, &ebx, &ecx, &edx)) return false;
    const bool f = ebx & (1u << 16), bw = ebx & (1u << 30), vl = ebx & (1u << 31), vnni = ecx & (1u << 11);
    return f && bw && vl && vnni;
}
#else
bool detectAvx2() {
    return false;
}
bool detectAvx512() {
    return false;
}
#endif

// LATHE_CPU_KERNELS, or "" when unset.
const char* kernelCap() {
    const char* forced = std::getenv("LATHE_CPU_KERNELS");
    return forced ? forced : "";
}

} // namespace

bool cpuHasAvx2() {
    static const bool available = std::strcmp(kernelCap(), "scalar") != 0 && detectAvx2();
    return available;
}

bool cpuHasAvx512() {
    static const bool available = cpuHasAvx2() && std::strcmp(kernelCap(), "avx2") != 0 && detectAvx512();
    return available;
}

const char* cpuKernelSet() {
    return cpuHasAvx512() ? "avx512" : cpuHasAvx2() ? "avx2" : "scalar";
}

} // namespace lathe
