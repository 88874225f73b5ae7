#pragma once
// CUDA devices as the runtime sees them (the driver-level listing for `lathe-cli devices` lives in
// backend/DeviceDiscovery; this adds what kernels are tuned by: L2 size, shared memory, SM count).

#include <cstdint>
#include <string>
#include <vector>

namespace lathe::cuda {

struct CudaDeviceInfo {
    int ordinal = 0;
    std::string name;
    uint64_t memoryBytes = 0;
    int multiprocessors = 0;
    int computeMajor = 0, computeMinor = 0;
    uint64_t l2Bytes = 0;
    uint64_t sharedPerBlockOptin = 0; // the most a block may use after cudaFuncSetAttribute
    double memoryBandwidthGBs = 0.0;  // peak from bus width and clock, for roofline shares (0 if unknown)
};

// The oldest architecture this build's kernels run on (CMAKE_CUDA_ARCHITECTURES starts at 80).
constexpr int kMinComputeMajor = 8;

// Every device the CUDA runtime reports; empty with `whyNone` set (no driver, no device, driver too
// old for this runtime) when there is none. Never throws.
std::vector<CudaDeviceInfo> listCudaDevices(std::string* whyNone);

// Why `device` cannot run this build's kernels, or empty when it can.
std::string unusableReason(const CudaDeviceInfo& device);

} // namespace lathe::cuda
