// Host-side bookkeeping of the CUDA backend, checked without a GPU: the device pool's size classes and
// reuse (against a fake raw allocator), the graph cache's keying and eviction, and the KV mirror's
// choice of blocks to re-read, driven by a real model/KvCache through fork, copy on write and truncate.

#include "GpuTest.h"
#include "backend/cuda/DevicePool.h"
#include "backend/cuda/GraphCache.h"
#include "backend/cuda/KvMirror.h"
#include "model/KvCache.h"

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

ModelConfig tinyConfig() {
    ModelConfig c;
    c.nLayers = 2;
    c.nEmbd = 8;
    c.nHeads = 2;
    c.nHeadsKv = 1;
    c.headDim = 4;
    return c;
}

bool sameSet(std::vector<int> a, std::vector<int> b) {
    std::sort(a.begin(), a.end());
    std::sort(b.begin(), b.end());
    return a == b;
}

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

TEST_CASE(kvMirrorUploadsNewBlocksOnlyOnce) {
    KvCache cache(tinyConfig(), 64, 4);
    KvMirror mirror;
    int slot = cache.append(7, 6); // 2 blocks
    CHECK(sameSet(mirror.syncForStore(7, cache.blockTable(7), slot, cache.length(7)), cache.blockTable(7)));
    slot = cache.append(7, 1); // same blocks, next slot
    CHECK(mirror.syncForStore(7, cache.blockTable(7), slot, cache.length(7)).empty());
    CHECK(mirror.syncForRead(7, cache.blockTable(7), cache.length(7)).empty());
    slot = cache.append(7, 2); // crosses into a third block
    CHECK(mirror.syncForStore(7, cache.blockTable(7), slot, cache.length(7)) ==
          std::vector<int>{cache.blockTable(7)[2]});
}

TEST_CASE(kvMirrorReReadsCopyOnWriteBlocks) {
    KvCache cache(tinyConfig(), 64, 4);
    KvMirror mirror;
    int slot = cache.append(1, 6);
    mirror.syncForStore(1, cache.blockTable(1), slot, cache.length(1));
    cache.fork(1, 2);
    // The fork shares both blocks; appending to it copies the shared last block on the host.
    slot = cache.append(2, 1);
    const std::vector<int>& table = cache.blockTable(2);
    CHECK(table[1] != cache.blockTable(1)[1]);
    const std::vector<int> upload = mirror.syncForStore(2, table, slot, cache.length(2));
    CHECK(std::find(upload.begin(), upload.end(), table[1]) != upload.end());
}

TEST_CASE(kvMirrorReReadsReshapedSequence) {
    KvCache cache(tinyConfig(), 64, 4);
    KvMirror mirror;
    int slot = cache.append(1, 10);
    mirror.syncForStore(1, cache.blockTable(1), slot, cache.length(1));
    cache.truncate(1, 5); // a rejected speculation
    slot = cache.append(1, 1);
    // The next stored slot (5) is not where the mirror left the sequence (10): everything is re-read.
    CHECK(sameSet(mirror.syncForStore(1, cache.blockTable(1), slot, cache.length(1)), cache.blockTable(1)));
    mirror.forget(1);
    CHECK(sameSet(mirror.syncForRead(1, cache.blockTable(1), cache.length(1)), cache.blockTable(1)));
}

int main() {
    return lathe::gputest::runAll();
}
