#include "backend/cuda/DevicePool.h"

#include "core/Error.h"

namespace lathe::cuda {
namespace {

constexpr size_t kSmallStep = 256;
constexpr size_t kSmallLimit = size_t(1) << 20;
constexpr size_t kPowerLimit = size_t(64) << 20;
constexpr size_t kLargeStep = size_t(2) << 20;

size_t roundUp(size_t n, size_t step) {
    return (n + step - 1) / step * step;
}

} // namespace

DevicePool::~DevicePool() {
    trim();
    for (auto& [pointer, size] : inUse_)
        free_(pointer);
}

size_t DevicePool::sizeClass(size_t bytes) {
    if (bytes == 0) bytes = 1;
    if (bytes <= kSmallLimit) return roundUp(bytes, kSmallStep);
    if (bytes <= kPowerLimit) {
        size_t size = kSmallLimit;
        while (size < bytes)
            size *= 2;
        return size;
    }
    return roundUp(bytes, kLargeStep);
}

void* DevicePool::acquire(size_t bytes) {
    const size_t size = sizeClass(bytes);
    void* pointer = nullptr;
    if (auto it = cached_.find(size); it != cached_.end()) {
        pointer = it->second;
        cached_.erase(it);
        bytesCached_ -= size;
    } else {
        pointer = alloc_(size);
        if (!pointer && !cached_.empty()) {
            trim();
            pointer = alloc_(size);
        }
        if (!pointer)
            fail(ErrorCategory::Device, "device memory exhausted: cannot allocate {} bytes ({} in use)", size,
                 bytesInUse_);
        ++rawAllocations_;
    }
    inUse_.emplace(pointer, size);
    bytesInUse_ += size;
    return pointer;
}

void DevicePool::release(void* pointer) {
    const auto it = inUse_.find(pointer);
    if (it == inUse_.end())
        fail(ErrorCategory::Internal, "device pool: release of a pointer it did not hand out");
    const size_t size = it->second;
    inUse_.erase(it);
    bytesInUse_ -= size;
    cached_.emplace(size, pointer);
    bytesCached_ += size;
}

void DevicePool::trim() {
    for (auto& [size, pointer] : cached_)
        free_(pointer);
    cached_.clear();
    bytesCached_ = 0;
}

} // namespace lathe::cuda
