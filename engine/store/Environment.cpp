#include "store/Environment.h"

#include "backend/DeviceDiscovery.h"
#include "core/BuildInfo.h"
#include "monitor/NvmlTelemetry.h"

#include <sys/utsname.h>

namespace lathe {

nlohmann::json captureEnvironment() {
    nlohmann::json env;
    env["lathe"] = {{"version", latheVersion()}, {"commit", latheCommit()}};
    utsname os{};
    if (uname(&os) == 0) env["os"] = {{"name", os.sysname}, {"release", os.release}, {"machine", os.machine}};

    const DeviceReport report = discoverDevices();
    nlohmann::json gpus = nlohmann::json::array();
    for (const ComputeDevice& d : report.devices) {
        if (d.kind == DeviceKind::Cpu) {
            env["cpu"] = {
                {"model", d.name}, {"cores", d.cores}, {"features", d.features}, {"kernels", d.kernels}};
            env["ram_bytes"] = d.memoryBytes;
        } else {
            gpus.push_back({{"id", d.id},
                            {"name", d.name},
                            {"memory_bytes", d.memoryBytes},
                            {"compute_capability", d.computeCapability},
                            {"usable", d.usable}});
        }
    }
    env["gpus"] = gpus;
    if (!report.gpuAbsentReason.empty()) env["gpu_status"] = report.gpuAbsentReason;

    const NvmlTelemetry nvml;
    if (nvml.available()) {
        env["nvidia_driver"] = nvml.driverVersion();
        env["cuda_driver"] = nvml.cudaDriverVersion();
    }
    return env;
}

} // namespace lathe
