#pragma once
// GPU telemetry through NVML, loaded at run time with dlopen("libnvidia-ml.so.1") so that Lathe starts
// and runs on machines without an NVIDIA driver. Without NVML, available() is false and
// unavailableReason() says why: "no GPU telemetry" is a state, not an error. Never throws.

#include <memory>
#include <string>
#include <vector>

namespace lathe {

struct GpuReading {
    int index = 0;
    std::string name;
    // NaN when the driver does not report the figure for this device.
    double utilizationPercent = 0;
    double memoryUsedBytes = 0;
    double memoryTotalBytes = 0;
    double powerWatts = 0;
    double temperatureC = 0;
    double smClockMHz = 0;
};

class NvmlTelemetry {
public:
    NvmlTelemetry(); // loads and initialises NVML; failure leaves the object unavailable
    ~NvmlTelemetry();
    NvmlTelemetry(const NvmlTelemetry&) = delete;
    NvmlTelemetry& operator=(const NvmlTelemetry&) = delete;

    bool available() const { return available_; }
    const std::string& unavailableReason() const { return reason_; }
    int deviceCount() const { return int(names_.size()); }
    const std::vector<std::string>& deviceNames() const { return names_; }
    const std::string& driverVersion() const { return driverVersion_; }         // "550.54.15"
    const std::string& cudaDriverVersion() const { return cudaDriverVersion_; } // "12.4"

    std::vector<GpuReading> read() const;

private:
    struct Api;
    std::unique_ptr<Api> api_;
    bool available_ = false;
    std::string reason_;
    std::vector<std::string> names_;
    std::string driverVersion_;
    std::string cudaDriverVersion_;
};

} // namespace lathe
