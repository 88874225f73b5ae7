#pragma once
// DependentLaunch: programmatic dependent launch (Hopper, sm_90 and later). A decode step is a chain
// of a few hundred small kernels, each waiting for the one before; the gap between two of them (the
// next grid's launch and ramp-up) is a large part of a small model's step. Launched with
// launchDependent, a kernel may be scheduled while the kernel before it is still running: its blocks
// start, do what reads only constant data (a mat-vec's weights), then wait in
// waitForPrecedingKernels() until the kernels before it have finished and their writes are visible.
//
// The contract for a kernel launched with launchDependent:
//  - it calls waitForPrecedingKernels() before it reads anything an earlier kernel may have written,
//    and before it writes anything an earlier kernel may still read; every block calls it (so the
//    kernel cannot finish before the ones it follows, which keeps the chain's order transitive);
//  - it calls allowDependentLaunch() once its own blocks no longer need the SM's room to themselves
//    (here: right after the wait), so the next kernel can be scheduled early.
// On older GPUs both device calls compile to nothing and launches are ordinary stream launches.
// setDependentLaunch(false) (LATHE_CUDA_PDL=0) turns it off for A/B runs.

#include <cuda_runtime.h>
#include <utility>

namespace lathe::kernels {

void setDependentLaunch(bool enabled);
bool dependentLaunchEnabled();

__device__ __forceinline__ void waitForPrecedingKernels() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
    asm volatile("griddepcontrol.wait;" ::: "memory");
#endif
}

__device__ __forceinline__ void allowDependentLaunch() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
    asm volatile("griddepcontrol.launch_dependents;" ::: "memory");
#endif
}

// Waits, then lets the next kernel be scheduled: the prologue of a kernel with nothing to do before
// its inputs are ready.
__device__ __forceinline__ void enterDependentKernel() {
    waitForPrecedingKernels();
    allowDependentLaunch();
}

// Moves the L2 lines of [p, p + bytes) towards the cache, a warp's lanes taking every 32nd line: for
// constant data (weights) read while the kernel before is still finishing.
// (32-bit offsets: a row is far below 2 GiB, and the 32-register mat-vec kernels have no room for more.)
__device__ __forceinline__ void prefetchToL2(const void* p, int bytes, int lane) {
#if defined(__CUDA_ARCH__)
    const char* base = static_cast<const char*>(p);
    for (int offset = lane * 128; offset < bytes; offset += 32 * 128)
        asm volatile("prefetch.global.L2 [%0];" ::"l"(base + offset));
#endif
}

// kernel<<<grid, block, 0, stream>>>(args...), marked as allowed to overlap the kernel before it
// when dependent launch is on. The kernel must follow the contract above.
template <typename... Params, typename... Args>
void launchDependent(void (*kernel)(Params...), dim3 grid, dim3 block, cudaStream_t stream, Args&&... args) {
    cudaLaunchAttribute attribute{};
    attribute.id = cudaLaunchAttributeProgrammaticStreamSerialization;
    attribute.val.programmaticStreamSerializationAllowed = 1;
    cudaLaunchConfig_t config{};
    config.gridDim = grid;
    config.blockDim = block;
    config.dynamicSmemBytes = 0;
    config.stream = stream;
    const bool dependent = dependentLaunchEnabled();
    config.attrs = dependent ? &attribute : nullptr;
    config.numAttrs = dependent ? 1 : 0;
    cudaLaunchKernelEx(&config, kernel, std::forward<Args>(args)...);
}

} // namespace lathe::kernels
