#include "backend/cuda/CudaDevices.h"

#include <cuda_runtime.h>
#include <fmt/format.h>

namespace lathe::cuda {

std::vector<CudaDeviceInfo> listCudaDevices(std::string* whyNone) {
    std::vector<CudaDeviceInfo> devices;
    int count = 0;
    if (const cudaError_t rc = cudaGetDeviceCount(&count); rc != cudaSuccess || count == 0) {
        if (whyNone)
            *whyNone = rc == cudaSuccess ? "the CUDA runtime reports no device"
                                         : fmt::format("the CUDA runtime found no usable device: {}",
                                                       cudaGetErrorString(rc));
        cudaGetLastError(); // clear the sticky-free error so later calls start clean
        return devices;
    }
    for (int ordinal = 0; ordinal < count; ++ordinal) {
        cudaDeviceProp prop{};
        if (cudaGetDeviceProperties(&prop, ordinal) != cudaSuccess) continue;
        CudaDeviceInfo info;
        info.ordinal = ordinal;
        info.name = prop.name;
        info.memoryBytes = prop.totalGlobalMem;
        info.multiprocessors = prop.multiProcessorCount;
        info.computeMajor = prop.major;
        info.computeMinor = prop.minor;
        info.l2Bytes = uint64_t(prop.l2CacheSize);
        info.sharedPerBlockOptin = prop.sharedMemPerBlockOptin;
        int clockKHz = 0;
        if (cudaDeviceGetAttribute(&clockKHz, cudaDevAttrMemoryClockRate, ordinal) == cudaSuccess &&
            clockKHz > 0)
            info.memoryBandwidthGBs = 2.0 * clockKHz * 1e3 * (prop.memoryBusWidth / 8.0) / 1e9; // DDR
        devices.push_back(info);
    }
    if (devices.empty() && whyNone) *whyNone = "the CUDA runtime could not read any device's properties";
    return devices;
}

std::string unusableReason(const CudaDeviceInfo& device) {
    if (device.computeMajor < kMinComputeMajor)
        return fmt::format("compute capability {}.{} is older than {}.0, the oldest this build targets",
                           device.computeMajor, device.computeMinor, kMinComputeMajor);
    return {};
}

} // namespace lathe::cuda
