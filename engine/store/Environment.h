#pragma once
// What a run records about the machine and the build, so that two runs can be told apart later:
// CPU model, cores, RAM, OS, GPUs (names, memory, driver and CUDA versions), Lathe version and commit.

#include <nlohmann/json.hpp>

namespace lathe {

// Probes the devices (DeviceDiscovery) and NVML when present; never throws and never needs a GPU.
// Keys: lathe{version, commit}, os{name, release, machine}, cpu{model, cores, features}, ram_bytes,
// gpus[{id, name, memory_bytes, compute_capability, usable}], nvidia_driver, cuda_driver,
// gpu_status (why there is no GPU, when there is none).
nlohmann::json captureEnvironment();

} // namespace lathe
