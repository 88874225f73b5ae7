#pragma once
// The first CUDA device the GPU suites can run on, or nothing with the reason printed as a skip.

#include "backend/cuda/CudaDevices.h"

#include <cstdio>
#include <optional>
#include <string>
#include <vector>

namespace lathe::gputest {

inline std::optional<cuda::CudaDeviceInfo> usableDevice() {
    std::string whyNone;
    const std::vector<cuda::CudaDeviceInfo> devices = cuda::listCudaDevices(&whyNone);
    if (devices.empty()) {
        std::printf("SKIP: no CUDA device: %s\n", whyNone.c_str());
        return std::nullopt;
    }
    if (const std::string reason = cuda::unusableReason(devices.front()); !reason.empty()) {
        std::printf("SKIP: %s: %s\n", devices.front().name.c_str(), reason.c_str());
        return std::nullopt;
    }
    std::printf("device: %s (sm_%d%d, %d SMs)\n", devices.front().name.c_str(), devices.front().computeMajor,
                devices.front().computeMinor, devices.front().multiprocessors);
    return devices.front();
}

} // namespace lathe::gputest
