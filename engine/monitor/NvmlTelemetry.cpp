#include "monitor/NvmlTelemetry.h"

#include <cmath>
#include <dlfcn.h>
#include <fmt/format.h>
#include <limits>

namespace lathe {
namespace {

// The NVML types and entry points used here, as declared in nvml.h (stable C ABI).
using NvmlReturn = int;
using NvmlDevice = void*;
struct NvmlUtilization {
    unsigned int gpu;
    unsigned int memory;
};
struct NvmlMemory {
    unsigned long long total;
    unsigned long long free;
    unsigned long long used;
};
constexpr NvmlReturn kNvmlSuccess = 0;
constexpr int kNvmlTemperatureGpu = 0; // NVML_TEMPERATURE_GPU
constexpr int kNvmlClockSm = 1;        // NVML_CLOCK_SM

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

template <typename Fn> Fn symbol(void* handle, const char* name) {
    return reinterpret_cast<Fn>(dlsym(handle, name));
}

} // namespace

struct NvmlTelemetry::Api {
    void* handle = nullptr;
    NvmlReturn (*init)() = nullptr;
    NvmlReturn (*shutdown)() = nullptr;
    const char* (*errorString)(NvmlReturn) = nullptr;
    NvmlReturn (*count)(unsigned int*) = nullptr;
    NvmlReturn (*handleByIndex)(unsigned int, NvmlDevice*) = nullptr;
    NvmlReturn (*name)(NvmlDevice, char*, unsigned int) = nullptr;
    NvmlReturn (*utilization)(NvmlDevice, NvmlUtilization*) = nullptr;
    NvmlReturn (*memory)(NvmlDevice, NvmlMemory*) = nullptr;
    NvmlReturn (*power)(NvmlDevice, unsigned int*) = nullptr;
    NvmlReturn (*temperature)(NvmlDevice, int, unsigned int*) = nullptr;
    NvmlReturn (*clock)(NvmlDevice, int, unsigned int*) = nullptr;
    NvmlReturn (*driverVersion)(char*, unsigned int) = nullptr;
    NvmlReturn (*cudaDriverVersion)(int*) = nullptr;
    std::vector<NvmlDevice> devices;
    bool initialised = false;

    ~Api() {
        if (initialised && shutdown) shutdown();
        if (handle) dlclose(handle);
    }
};

NvmlTelemetry::NvmlTelemetry() : api_(std::make_unique<Api>()) {
    Api& api = *api_;
    api.handle = dlopen("libnvidia-ml.so.1", RTLD_NOW | RTLD_LOCAL);
    if (!api.handle) {
        reason_ = "no GPU telemetry: NVML (libnvidia-ml.so.1) is not installed";
        return;
    }
    api.init = symbol<decltype(api.init)>(api.handle, "nvmlInit_v2");
    api.shutdown = symbol<decltype(api.shutdown)>(api.handle, "nvmlShutdown");
    api.errorString = symbol<decltype(api.errorString)>(api.handle, "nvmlErrorString");
    api.count = symbol<decltype(api.count)>(api.handle, "nvmlDeviceGetCount_v2");
    api.handleByIndex = symbol<decltype(api.handleByIndex)>(api.handle, "nvmlDeviceGetHandleByIndex_v2");
    api.name = symbol<decltype(api.name)>(api.handle, "nvmlDeviceGetName");
    api.utilization = symbol<decltype(api.utilization)>(api.handle, "nvmlDeviceGetUtilizationRates");
    api.memory = symbol<decltype(api.memory)>(api.handle, "nvmlDeviceGetMemoryInfo");
    api.power = symbol<decltype(api.power)>(api.handle, "nvmlDeviceGetPowerUsage");
    api.temperature = symbol<decltype(api.temperature)>(api.handle, "nvmlDeviceGetTemperature");
    api.clock = symbol<decltype(api.clock)>(api.handle, "nvmlDeviceGetClockInfo");
    api.driverVersion = symbol<decltype(api.driverVersion)>(api.handle, "nvmlSystemGetDriverVersion");
    api.cudaDriverVersion =
        symbol<decltype(api.cudaDriverVersion)>(api.handle, "nvmlSystemGetCudaDriverVersion");
    if (!api.init || !api.shutdown || !api.count || !api.handleByIndex) {
        reason_ = "no GPU telemetry: libnvidia-ml.so.1 lacks nvmlInit_v2 or the device entry points";
        return;
    }
    if (NvmlReturn rc = api.init(); rc != kNvmlSuccess) {
        reason_ = fmt::format("no GPU telemetry: NVML failed to initialise ({})",
                              api.errorString ? api.errorString(rc) : std::to_string(rc).c_str());
        return;
    }
    api.initialised = true;
    unsigned int count = 0;
    if (api.count(&count) != kNvmlSuccess || count == 0) {
        reason_ = "no GPU telemetry: NVML reports no GPU";
        return;
    }
    for (unsigned int i = 0; i < count; ++i) {
        NvmlDevice device = nullptr;
        if (api.handleByIndex(i, &device) != kNvmlSuccess) continue;
        char name[96] = {};
        if (!api.name || api.name(device, name, sizeof name) != kNvmlSuccess)
            std::snprintf(name, sizeof name, "GPU %u", i);
        api.devices.push_back(device);
        names_.emplace_back(name);
    }
    char version[96] = {};
    if (api.driverVersion && api.driverVersion(version, sizeof version) == kNvmlSuccess)
        driverVersion_ = version;
    int cuda = 0;
    if (api.cudaDriverVersion && api.cudaDriverVersion(&cuda) == kNvmlSuccess && cuda > 0)
        cudaDriverVersion_ = fmt::format("{}.{}", cuda / 1000, (cuda % 1000) / 10);
    available_ = !api.devices.empty();
    if (!available_) reason_ = "no GPU telemetry: NVML could not open any GPU";
}

NvmlTelemetry::~NvmlTelemetry() = default;

std::vector<GpuReading> NvmlTelemetry::read() const {
    std::vector<GpuReading> readings;
    if (!available_) return readings;
    const Api& api = *api_;
    for (size_t i = 0; i < api.devices.size(); ++i) {
        NvmlDevice device = api.devices[i];
        GpuReading r;
        r.index = int(i);
        r.name = names_[i];
        NvmlUtilization utilization{};
        r.utilizationPercent =
            api.utilization && api.utilization(device, &utilization) == kNvmlSuccess ? utilization.gpu : kNaN;
        NvmlMemory memory{};
        const bool haveMemory = api.memory && api.memory(device, &memory) == kNvmlSuccess;
        r.memoryUsedBytes = haveMemory ? double(memory.used) : kNaN;
        r.memoryTotalBytes = haveMemory ? double(memory.total) : kNaN;
        unsigned int value = 0;
        r.powerWatts = api.power && api.power(device, &value) == kNvmlSuccess ? value / 1000.0 : kNaN;
        r.temperatureC =
            api.temperature && api.temperature(device, kNvmlTemperatureGpu, &value) == kNvmlSuccess ? value
                                                                                                    : kNaN;
        r.smClockMHz = api.clock && api.clock(device, kNvmlClockSm, &value) == kNvmlSuccess ? value : kNaN;
        readings.push_back(r);
    }
    return readings;
}

} // namespace lathe
