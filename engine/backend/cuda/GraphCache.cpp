#include "backend/cuda/GraphCache.h"

namespace lathe::cuda {

int graphSplitBucket(int splits) {
    int bucket = 1;
    while (bucket < splits)
        bucket *= 2;
    return bucket;
}

GraphCache::~GraphCache() {
    clear();
}

void* GraphCache::find(const DecodeGraphKey& key) {
    const auto it = entries_.find(key);
    if (it == entries_.end()) {
        ++misses_;
        return nullptr;
    }
    ++hits_;
    lru_.splice(lru_.begin(), lru_, it->second);
    return it->second->second;
}

void GraphCache::insert(const DecodeGraphKey& key, void* exec) {
    if (const auto it = entries_.find(key); it != entries_.end()) {
        destroy_(it->second->second);
        lru_.erase(it->second);
        entries_.erase(it);
    }
    lru_.emplace_front(key, exec);
    entries_[key] = lru_.begin();
    while (entries_.size() > capacity_) {
        destroy_(lru_.back().second);
        entries_.erase(lru_.back().first);
        lru_.pop_back();
    }
}

void GraphCache::clear() {
    for (auto& [key, exec] : lru_)
        destroy_(exec);
    lru_.clear();
    entries_.clear();
}

} // namespace lathe::cuda
