#pragma once
// DevicePool: a caching allocator for device memory. cudaMalloc/cudaFree synchronise the device and
// cost tens of microseconds, so buffers released by one op are kept, by size class, for the next op
// that needs one as large. The raw allocator is injected, which keeps the bookkeeping testable on a
// machine without a GPU; CudaBackend passes cudaMalloc/cudaFree.

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <unordered_map>

namespace lathe::cuda {

class DevicePool {
public:
    using RawAlloc = std::function<void*(size_t bytes)>; // returns null when the device is full
    using RawFree = std::function<void(void*)>;

    DevicePool(RawAlloc alloc, RawFree free) : alloc_(std::move(alloc)), free_(std::move(free)) {}
    ~DevicePool();
    DevicePool(const DevicePool&) = delete;
    DevicePool& operator=(const DevicePool&) = delete;

    // A buffer of at least `bytes` (rounded up to its size class). Reuses a cached one when it can;
    // on a failed raw allocation it frees the cache and retries once, then throws lathe::Error (Device).
    void* acquire(size_t bytes);
    void release(void* pointer); // the pointer must come from acquire()
    void trim();                 // returns every cached buffer to the raw allocator

    // Size classes: multiples of 256 bytes up to 1 MiB, then powers of two up to 64 MiB, then 2 MiB steps.
    static size_t sizeClass(size_t bytes);

    size_t bytesInUse() const { return bytesInUse_; }
    size_t bytesCached() const { return bytesCached_; }
    size_t rawAllocations() const { return rawAllocations_; }

private:
    RawAlloc alloc_;
    RawFree free_;
    std::multimap<size_t, void*> cached_;     // size class -> free buffer
    std::unordered_map<void*, size_t> inUse_; // buffer -> size class
    size_t bytesInUse_ = 0;
    size_t bytesCached_ = 0;
    size_t rawAllocations_ = 0;
};

// RAII lease of one pool buffer.
class PoolBuffer {
public:
    PoolBuffer() = default;
    PoolBuffer(DevicePool& pool, size_t bytes) : pool_(&pool), pointer_(pool.acquire(bytes)) {}
    ~PoolBuffer() { reset(); }
    PoolBuffer(PoolBuffer&& other) noexcept : pool_(other.pool_), pointer_(other.pointer_) {
        other.pointer_ = nullptr;
    }
    PoolBuffer& operator=(PoolBuffer&& other) noexcept {
        if (this != &other) {
            reset();
            pool_ = other.pool_;
            pointer_ = other.pointer_;
            other.pointer_ = nullptr;
        }
        return *this;
    }
    void reset() {
        if (pointer_) pool_->release(pointer_);
        pointer_ = nullptr;
    }
    template <typename T = void> T* get() const { return static_cast<T*>(pointer_); }

private:
    DevicePool* pool_ = nullptr;
    void* pointer_ = nullptr;
};

} // namespace lathe::cuda
