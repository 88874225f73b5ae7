// Host-side bookkeeping of the CUDA backend, checked without a GPU: the device pool's size classes and
// reuse (against a fake raw allocator), and the graph cache's keying and eviction.

#include "GpuTest.h"
#include "backend/cuda/DevicePool.h"
#include "backend/cuda/DeviceWeights.h"
#include "backend/cuda/GraphCache.h"
#include "core/Half.h"
#include "io/Quants.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
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

// The device layout (kernels/WeightLayout.h) read back by hand: every element decodes to what io's
// reference dequantizer gives for the stored row, and each row is padded to 16 bytes with zeros.
TEST_CASE(quantizedRowsPackIntoSplitLayout) {
    const int64_t rows = 3, cols = 96; // 3 blocks: an 18-byte row of Q4_0 blocks is not 16-aligned
    std::vector<float> values(size_t(rows * cols));
    for (size_t i = 0; i < values.size(); ++i)
        values[i] = float(int(i * 37 % 101) - 50) / 7.0f;
    for (DType format : {DType::Q4_0, DType::Q4_1, DType::Q8_0}) {
        const uint64_t stride = rowBytes(format, uint64_t(cols));
        std::vector<uint8_t> stored(size_t(rows) * stride);
        for (int64_t r = 0; r < rows; ++r)
            quantizeRow(format, values.data() + r * cols, stored.data() + r * stride, cols);
        const std::vector<uint8_t> packed = packRowsForDevice(format, stored.data(), stride, rows, cols);
        const int64_t deviceRow = deviceRowBytes(format, cols);
        CHECK(deviceRow % 16 == 0 && int64_t(packed.size()) == rows * deviceRow);
        const int quantBytes = format == DType::Q8_0 ? 32 : 16, scaleBytes = format == DType::Q4_1 ? 4 : 2;
        CHECK(deviceRow == (3 * (quantBytes + scaleBytes) + 15) / 16 * 16);
        std::vector<float> expected(static_cast<size_t>(cols));
        for (int64_t r = 0; r < rows; ++r) {
            dequantizeRow(format, stored.data() + r * stride, expected.data(), cols);
            const uint8_t* row = packed.data() + r * deviceRow;
            for (int64_t b = 0; b < cols / 32; ++b) {
                const uint8_t* q = row + b * quantBytes;
                const uint8_t* scale = row + 3 * quantBytes + b * scaleBytes;
                uint16_t dBits, mBits = 0;
                std::memcpy(&dBits, scale, 2);
                if (format == DType::Q4_1) std::memcpy(&mBits, scale + 2, 2);
                const float d = fp16ToFloat(dBits), m = fp16ToFloat(mBits);
                for (int i = 0; i < 32; ++i) {
                    float v;
                    if (format == DType::Q8_0)
                        v = float(int8_t(q[i])) * d;
                    else {
                        const int nibble = i < 16 ? q[i] & 0x0f : q[i - 16] >> 4;
                        v = format == DType::Q4_0 ? float(nibble - 8) * d : float(nibble) * d + m;
                    }
                    CHECK(v == expected[size_t(b * 32 + i)]);
                }
            }
            for (int64_t pad = 3 * (quantBytes + scaleBytes); pad < deviceRow; ++pad)
                CHECK(row[pad] == 0);
        }
    }
    CHECK(!packsOnUpload(DType::F16) && deviceRowBytes(DType::F16, cols) == cols * 2);
}

int main() {
    return lathe::gputest::runAll();
}
