// NVML telemetry: without the NVIDIA driver it reports "no GPU telemetry" and reads nothing; with it,
// every GPU reports memory (used ≤ total) and the driver version.

#include "monitor/NvmlTelemetry.h"

#include <QtTest>
#include <cmath>
#include <dlfcn.h>

using namespace lathe;

class TestNvmlTelemetry : public QObject {
    Q_OBJECT
private slots:
    void availabilityMatchesTheDriver() {
        void* handle = dlopen("libnvidia-ml.so.1", RTLD_NOW | RTLD_LOCAL);
        const NvmlTelemetry nvml;
        if (!handle) {
            QVERIFY(!nvml.available());
            QVERIFY(nvml.unavailableReason().rfind("no GPU telemetry", 0) == 0);
            QVERIFY(nvml.read().empty());
            QCOMPARE(nvml.deviceCount(), 0);
            return;
        }
        dlclose(handle);
        if (!nvml.available()) QSKIP(nvml.unavailableReason().c_str());
        QVERIFY(nvml.deviceCount() > 0);
        QVERIFY(!nvml.driverVersion().empty());
        const auto readings = nvml.read();
        QCOMPARE(int(readings.size()), nvml.deviceCount());
        for (const GpuReading& r : readings) {
            QVERIFY(!r.name.empty());
            QVERIFY(r.memoryTotalBytes > 0);
            QVERIFY(r.memoryUsedBytes <= r.memoryTotalBytes);
            if (!std::isnan(r.utilizationPercent))
                QVERIFY(r.utilizationPercent >= 0 && r.utilizationPercent <= 100);
            qInfo("%s: %.0f%% busy, %.2f/%.2f GiB, %.1f W, %.0f C, SM %.0f MHz (driver %s, CUDA %s)",
                  r.name.c_str(), r.utilizationPercent, r.memoryUsedBytes / double(1 << 30),
                  r.memoryTotalBytes / double(1 << 30), r.powerWatts, r.temperatureC, r.smClockMHz,
                  nvml.driverVersion().c_str(), nvml.cudaDriverVersion().c_str());
        }
    }
};

QTEST_APPLESS_MAIN(TestNvmlTelemetry)
#include "TestNvmlTelemetry.moc"
