#pragma once
// GraphCache: instantiated CUDA graphs of the decode step, keyed by what fixes a graph's topology and
// launch parameters. Per-step data (token ids, positions, block tables, masks) lives in device
// buffers at fixed addresses that the graph reads, so a step whose key was seen before replays its
// graph; only a new key (batch size, attention split bucket, KV pool growth) triggers a capture.
// Executable graphs are opaque here (destroyed through the injected function), which keeps the
// keying and eviction logic testable without a GPU.

#include <cstddef>
#include <cstdint>
#include <functional>
#include <list>
#include <unordered_map>

namespace lathe::cuda {

struct DecodeGraphKey {
    int nTokens = 0;          // rows of the step
    int attentionSplits = 0;  // bucketed (graphSplitBucket), so context growth rarely changes it
    int64_t kvPoolBlocks = 0; // the device KV pool's size (its address changes when it grows)
    uint64_t launches = 0;    // StepRecorder's signature of every value the step's launches pass
    bool operator==(const DecodeGraphKey&) const = default;
};

struct DecodeGraphKeyHash {
    size_t operator()(const DecodeGraphKey& k) const {
        uint64_t h = uint64_t(k.nTokens) * 0x9e3779b97f4a7c15ull;
        h ^= uint64_t(k.attentionSplits) + 0x7f4a7c159e3779b9ull + (h << 6) + (h >> 2);
        h ^= uint64_t(k.kvPoolBlocks) + 0x94d049bb133111ebull + (h << 6) + (h >> 2);
        h ^= k.launches + 0x9e3779b97f4a7c15ull + (h << 6) + (h >> 2);
        return size_t(h);
    }
};

// Next power of two >= splits: a graph captured for 8 splits serves contexts up to 8 * chunk slots.
int graphSplitBucket(int splits);

class GraphCache {
public:
    using Destroy = std::function<void(void* exec)>;
    GraphCache(size_t capacity, Destroy destroy) : capacity_(capacity), destroy_(std::move(destroy)) {}
    ~GraphCache();
    GraphCache(const GraphCache&) = delete;
    GraphCache& operator=(const GraphCache&) = delete;

    // The cached graph for key (marking it most recently used), or null: the caller captures.
    void* find(const DecodeGraphKey& key);
    // Adds a freshly instantiated graph, evicting the least recently used beyond capacity.
    void insert(const DecodeGraphKey& key, void* exec);
    void clear();

    size_t size() const { return entries_.size(); }
    size_t hits() const { return hits_; }
    size_t misses() const { return misses_; }

private:
    using Lru = std::list<std::pair<DecodeGraphKey, void*>>;
    size_t capacity_;
    Destroy destroy_;
    Lru lru_; // front: most recent
    std::unordered_map<DecodeGraphKey, Lru::iterator, DecodeGraphKeyHash> entries_;
    size_t hits_ = 0;
    size_t misses_ = 0;
};

} // namespace lathe::cuda
