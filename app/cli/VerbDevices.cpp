#include "Verbs.h"
#include "backend/DeviceDiscovery.h"

#include <fmt/format.h>
#include <iostream>

namespace lathe::cli {

VerbRunner addDevicesVerb(CLI::App& app, const CommonFlags& flags) {
    app.add_subcommand("devices", "List compute devices (and why a GPU is unusable)");
    return [&flags] {
        const DeviceReport report = discoverDevices();
        if (flags.json) {
            nlohmann::json devices = nlohmann::json::array();
            for (const ComputeDevice& d : report.devices)
                devices.push_back({{"id", d.id},
                                   {"name", d.name},
                                   {"memory_bytes", d.memoryBytes},
                                   {"cores", d.cores},
                                   {"compute_capability", d.computeCapability},
                                   {"features", d.features},
                                   {"kernels", d.kernels},
                                   {"usable", d.usable},
                                   {"unusable_reason", d.unusableReason}});
            printJson({{"devices", devices}, {"gpu_absent_reason", report.gpuAbsentReason}});
            return kExitOk;
        }
        for (const ComputeDevice& d : report.devices) {
            std::string detail =
                d.kind == DeviceKind::Cpu
                    ? fmt::format("{} threads, {:.1f} GiB RAM, SIMD: {}; kernels: {}", d.cores,
                                  double(d.memoryBytes) / (1 << 30), fmt::join(d.features, " "), d.kernels)
                    : fmt::format("{:.1f} GiB, compute {}, {} SMs", double(d.memoryBytes) / (1 << 30),
                                  d.computeCapability, d.cores);
            std::cout << fmt::format("{:<8}{} ({}){}\n", d.id, d.name, detail,
                                     d.usable ? "" : " — unusable: " + d.unusableReason);
        }
        if (!report.gpuAbsentReason.empty())
            std::cout << "GPU: none usable — " << report.gpuAbsentReason << "\n";
        return kExitOk;
    };
}

} // namespace lathe::cli
