#pragma once
// Which SIMD kernels this processor can run, decided once at first use. LATHE_CPU_KERNELS=scalar in
// the environment forces the scalar reference kernels (to compare the two paths on one machine).

namespace lathe {

// AVX2 with FMA and F16C (Haswell and later, Zen): the kernels of Avx2Kernels.h.
bool cpuHasAvx2();

} // namespace lathe
