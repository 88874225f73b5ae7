// Host-side bookkeeping of the CUDA backend, checked without a GPU: the device pool's size classes and
// reuse (against a fake raw allocator), and the graph cache's keying and eviction.

#include "GpuTest.h"
#include "backend/cuda/DevicePool.h"
#include "backend/cuda/GraphCache.h"

#include <algorithm>
#include <cstdlib>
#include <set>

using namespace lathe;
using namespace lathe::cuda;

namespace {

struct FakeDevice {
    std::set<void*> live;
    size_t allocations = 0, limit = SIZE_MAX, used = 0;
    std::map<void*, size_t> sizes;
    DevicePool pool() {
        return DevicePool(
            [this](size_t n) -> void* {
                if (used + n > limit) return nullptr;
                void* p = std::malloc(n);
                live.insert(p);
                sizes[p] = n;
                used += n;
                ++allocations;
                return p;
            },
            [this](void* p) {
                live.erase(p);
                used -= sizes[p];
                std::free(p);
            });
    }
};

} // namespace

TEST_CASE(poolSizeClasses) {
    CHECK(DevicePool::sizeClass(0) == 256);
    CHECK(DevicePool::sizeClass(1) == 256);
    CHECK(DevicePool::sizeClass(257) == 512);
    CHECK(DevicePool::sizeClass((1u << 20) + 1) == (2u << 20));
    CHECK(DevicePool::sizeClass(5u << 20) == (8u << 20));
    CHECK(DevicePool::sizeClass((64u << 20) + 1) == (66u << 20));
}

TEST_CASE(poolReusesReleasedBuffers) {
    FakeDevice device;
    {
        DevicePool pool = device.pool();
        void* a = pool.acquire(1000);
        CHECK(pool.bytesInUse() == 1024);
        pool.release(a);
        CHECK(pool.bytesInUse() == 0 && pool.bytesCached() == 1024);
        void* b = pool.acquire(900); // same 1024-byte class: the cached buffer comes back
        CHECK(b == a);
        CHECK(device.allocations == 1);
        void* c = pool.acquire(5000);
        CHECK(c != a && device.allocations == 2);
        pool.release(b);
        pool.release(c);
        pool.trim();
        CHECK(device.live.empty() && pool.bytesCached() == 0);
        void* d = pool.acquire(10);
        (void)d; // still in use when the pool dies: its destructor must free it
    }
    CHECK(device.live.empty());
}

TEST_CASE(poolTrimsCacheWhenDeviceIsFull) {
    FakeDevice device;
    device.limit = 4096;
    DevicePool pool = device.pool();
    void* a = pool.acquire(3000); // class 3072
    pool.release(a);
    void* b = pool.acquire(2048); // 3072 cached + 2048 > limit: cache trimmed, then allocated
    CHECK(b != nullptr && pool.bytesCached() == 0 && device.used == 2048);
    bool threw = false;
    try {
        pool.acquire(8192);
    } catch (const std::exception&) {
        threw = true;
    }
    CHECK(threw);
    pool.release(b);
}

TEST_CASE(graphCacheCapturesOncePerKey) {
    std::vector<void*> destroyed;
    GraphCache cache(2, [&](void* e) { destroyed.push_back(e); });
    int token1, token2, token3;
    const DecodeGraphKey k1{1, 1, 64}, k2{1, 2, 64}, k3{4, 1, 64};
    CHECK(cache.find(k1) == nullptr);
    cache.insert(k1, &token1);
    CHECK(cache.find(k1) == &token1);
    CHECK(cache.find(DecodeGraphKey{1, 1, 64}) == &token1); // equal key, equal graph
    CHECK(cache.find(k2) == nullptr);                       // a new split bucket needs a capture
    cache.insert(k2, &token2);
    cache.find(k1); // k1 is now the most recent; k2 is evicted next
    cache.insert(k3, &token3);
    CHECK(cache.size() == 2 && destroyed.size() == 1 && destroyed[0] == &token2);
    CHECK(cache.hits() == 3 && cache.misses() == 2);
    cache.clear();
    CHECK(destroyed.size() == 3);
}

TEST_CASE(graphSplitBuckets) {
    CHECK(graphSplitBucket(1) == 1);
    CHECK(graphSplitBucket(3) == 4);
    CHECK(graphSplitBucket(8) == 8);
    CHECK(graphSplitBucket(9) == 16);
}

int main() {
    return lathe::gputest::runAll();
}
