#include "backend/DeviceDiscovery.h"

#include "backend/cpu/CpuFeatures.h"
#include "core/Error.h"

#include <dlfcn.h>
#include <fstream>
#include <regex>
#include <thread>
#include <unistd.h>

namespace lathe {
namespace {

std::string cpuModelName() {
    std::ifstream in("/proc/cpuinfo");
    std::string line;
    while (std::getline(in, line)) {
        if (line.rfind("model name", 0) == 0) {
            const size_t colon = line.find(':');
            if (colon != std::string::npos) return line.substr(line.find_first_not_of(" \t", colon + 1));
        }
    }
    return "unknown CPU";
}

std::vector<std::string> cpuFeatures() {
    std::vector<std::string> found;
#if defined(__x86_64__) || defined(__i386__)
    __builtin_cpu_init();
    if (__builtin_cpu_supports("sse4.2")) found.emplace_back("sse4.2");
    if (__builtin_cpu_supports("avx")) found.emplace_back("avx");
    if (__builtin_cpu_supports("avx2")) found.emplace_back("avx2");
    if (__builtin_cpu_supports("fma")) found.emplace_back("fma");
    if (__builtin_cpu_supports("avx512f")) found.emplace_back("avx512f");
    if (__builtin_cpu_supports("avx512bw")) found.emplace_back("avx512bw");
    if (__builtin_cpu_supports("avx512vnni")) found.emplace_back("avx512vnni");
#endif
    return found;
}

ComputeDevice cpuDevice() {
    ComputeDevice cpu;
    cpu.id = "cpu";
    cpu.kind = DeviceKind::Cpu;
    cpu.name = cpuModelName();
    cpu.cores = int(std::max(1u, std::thread::hardware_concurrency()));
    const long pages = sysconf(_SC_PHYS_PAGES);
    const long pageSize = sysconf(_SC_PAGE_SIZE);
    if (pages > 0 && pageSize > 0) cpu.memoryBytes = uint64_t(pages) * uint64_t(pageSize);
    cpu.features = cpuFeatures();
    cpu.kernels = cpuKernelSet();
    return cpu;
}

// The few CUDA driver API entry points needed to list devices (signatures from cuda.h).
struct CudaDriver {
    using InitFn = int (*)(unsigned);
    using CountFn = int (*)(int*);
    using GetFn = int (*)(int*, int);
    using NameFn = int (*)(char*, int, int);
    using TotalMemFn = int (*)(size_t*, int);
    using AttributeFn = int (*)(int*, int, int);
    void* handle = nullptr;
    InitFn init = nullptr;
    CountFn count = nullptr;
    GetFn get = nullptr;
    NameFn name = nullptr;
    TotalMemFn totalMem = nullptr;
    AttributeFn attribute = nullptr;
};

constexpr int kAttrMultiprocessors = 16; // CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT
constexpr int kAttrComputeMajor = 75;    // CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR
constexpr int kAttrComputeMinor = 76;    // CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR

void probeCuda(DeviceReport& report) {
    CudaDriver cuda;
    cuda.handle = dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL);
    if (!cuda.handle) {
        report.gpuAbsentReason = "no NVIDIA driver: libcuda.so.1 is not installed";
        return;
    }
    cuda.init = reinterpret_cast<CudaDriver::InitFn>(dlsym(cuda.handle, "cuInit"));
    cuda.count = reinterpret_cast<CudaDriver::CountFn>(dlsym(cuda.handle, "cuDeviceGetCount"));
    cuda.get = reinterpret_cast<CudaDriver::GetFn>(dlsym(cuda.handle, "cuDeviceGet"));
    cuda.name = reinterpret_cast<CudaDriver::NameFn>(dlsym(cuda.handle, "cuDeviceGetName"));
    cuda.totalMem = reinterpret_cast<CudaDriver::TotalMemFn>(dlsym(cuda.handle, "cuDeviceTotalMem_v2"));
    cuda.attribute = reinterpret_cast<CudaDriver::AttributeFn>(dlsym(cuda.handle, "cuDeviceGetAttribute"));
    if (!cuda.init || !cuda.count || !cuda.get || !cuda.name || !cuda.totalMem || !cuda.attribute) {
        report.gpuAbsentReason = "the NVIDIA driver (libcuda.so.1) lacks the CUDA driver API entry points";
        return;
    }
    if (int rc = cuda.init(0); rc != 0) {
        report.gpuAbsentReason = fmt::format("the CUDA driver failed to initialise (CUresult {})", rc);
        return;
    }
    int count = 0;
    if (int rc = cuda.count(&count); rc != 0 || count == 0) {
        report.gpuAbsentReason = "the NVIDIA driver is installed but reports no CUDA device";
        return;
    }
    for (int ordinal = 0; ordinal < count; ++ordinal) {
        int device = 0;
        if (cuda.get(&device, ordinal) != 0) continue;
        ComputeDevice gpu;
        gpu.id = fmt::format("cuda:{}", ordinal);
        gpu.kind = DeviceKind::Cuda;
        char name[256] = {};
        if (cuda.name(name, sizeof name - 1, device) == 0) gpu.name = name;
        size_t bytes = 0;
        if (cuda.totalMem(&bytes, device) == 0) gpu.memoryBytes = bytes;
        int sms = 0, major = 0, minor = 0;
        cuda.attribute(&sms, kAttrMultiprocessors, device);
        cuda.attribute(&major, kAttrComputeMajor, device);
        cuda.attribute(&minor, kAttrComputeMinor, device);
        gpu.cores = sms;
        gpu.computeCapability = fmt::format("{}.{}", major, minor);
#ifndef LATHE_HAVE_CUDA
        gpu.usable = false;
        gpu.unusableReason = "this build of Lathe has no CUDA backend (built with LATHE_CUDA=OFF)";
#else
        gpu.usable = major >= 8;
        if (!gpu.usable)
            gpu.unusableReason = fmt::format(
                "compute capability {}.{} is older than 8.0, the oldest this build targets", major, minor);
#endif
        report.devices.push_back(gpu);
    }
    bool anyUsable = false;
    for (const ComputeDevice& d : report.devices)
        if (d.kind == DeviceKind::Cuda && d.usable) anyUsable = true;
    if (!anyUsable) report.gpuAbsentReason = report.devices.back().unusableReason;
}

} // namespace

DeviceReport discoverDevices() {
    DeviceReport report;
    report.devices.push_back(cpuDevice());
    probeCuda(report);
    return report;
}

ComputeDevice selectDevice(const DeviceReport& report, const std::string& spec) {
    static const std::regex pattern("^(cpu|cuda)(:([0-9]+))?$");
    std::smatch match;
    if (!std::regex_match(spec, match, pattern))
        fail(ErrorCategory::InvalidArgument, "unknown device '{}': expected cpu or cuda:N", spec);
    const std::string kind = match[1];
    const int ordinal = match[3].matched ? std::stoi(match[3]) : 0;
    if (kind == "cpu") {
        if (ordinal != 0)
            fail(ErrorCategory::InvalidArgument, "device '{}': this machine has one CPU device, cpu", spec);
        return report.devices.front();
    }
    const std::string id = fmt::format("cuda:{}", ordinal);
    for (const ComputeDevice& d : report.devices) {
        if (d.id != id) continue;
        if (!d.usable)
            fail(ErrorCategory::Device, "device {} ({}) is unusable: {}", id, d.name, d.unusableReason);
        return d;
    }
    fail(ErrorCategory::Device, "device {} is not available: {}", id,
         report.gpuAbsentReason.empty() ? "no such CUDA device" : report.gpuAbsentReason);
}

} // namespace lathe
