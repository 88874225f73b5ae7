#pragma once
// Which SIMD kernels this processor can run, decided once at first use. LATHE_CPU_KERNELS in the
// environment caps the choice: "scalar" forces the scalar reference kernels, "avx2" the AVX2 kernels
// on a processor that has AVX-512 too (to compare the paths on one machine).

namespace lathe {

// AVX2 with FMA and F16C (Haswell and later, Zen): the kernels of Avx2Kernels.h.
bool cpuHasAvx2();

// AVX-512 F, BW, VL and VNNI with the operating system's consent to the 512-bit state (Ice Lake,
// Sapphire Rapids, Zen 4 and later), on top of cpuHasAvx2(): the kernels of Avx512Kernels.h.
bool cpuHasAvx512();

// The kernel set the CPU backend runs: "avx512", "avx2" or "scalar" (recorded with every run).
const char* cpuKernelSet();

} // namespace lathe
