#pragma once
// What compute devices this machine offers, and why a GPU is unusable when it is. The CUDA driver is
// probed with dlopen at run time, so a binary built with CUDA still starts where there is no driver.

#include <cstdint>
#include <string>
#include <vector>

namespace lathe {

enum class DeviceKind { Cpu, Cuda };

struct ComputeDevice {
    std::string id; // "cpu", "cuda:0"
    DeviceKind kind = DeviceKind::Cpu;
    std::string name; // CPU model or GPU name
    uint64_t memoryBytes = 0;
    int cores = 0;                     // CPU: hardware threads; GPU: multiprocessors when known
    std::string computeCapability;     // GPU only, e.g. "9.0"
    std::vector<std::string> features; // CPU SIMD extensions found at run time
    std::string kernels;               // CPU: the kernel set the backend runs (cpuKernelSet)
    bool usable = true;
    std::string unusableReason; // set when usable is false
};

struct DeviceReport {
    std::vector<ComputeDevice> devices; // the CPU first
    std::string gpuAbsentReason;        // why no GPU is usable, empty when one is
};

DeviceReport discoverDevices();

// Parses a --device value ("cpu", "cpu:0", "cuda:N") and checks it exists and is usable; returns the
// device or throws lathe::Error (InvalidArgument for a bad spelling, Device for an absent device).
ComputeDevice selectDevice(const DeviceReport& report, const std::string& spec);

} // namespace lathe
