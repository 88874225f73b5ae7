#include "model/KvCache.h"

#include "core/Error.h"

#include <algorithm>
#include <atomic>
#include <climits>
#include <utility>

namespace lathe {

KvCache::KvCache(const ModelConfig& config, int capacityTokens, int blockTokens)
    : nLayers_(config.nLayers), nHeadsKv_(config.nHeadsKv), headDim_(config.headDim),
      blockTokens_(blockTokens) {
    if (nLayers_ <= 0 || nHeadsKv_ <= 0 || headDim_ <= 0)
        fail(ErrorCategory::InvalidArgument,
             "KV cache: bad model shape (layers {}, kv heads {}, head dim {})", nLayers_, nHeadsKv_,
             headDim_);
    if (blockTokens <= 0)
        fail(ErrorCategory::InvalidArgument, "KV cache: block size {} must be positive", blockTokens);
    if (capacityTokens <= 0)
        fail(ErrorCategory::InvalidArgument, "KV cache: capacity {} tokens must be positive", capacityTokens);
    const int blocks = (capacityTokens + blockTokens - 1) / blockTokens;
    blockFloatsPerLayer_ = size_t(2) * size_t(nHeadsKv_) * size_t(blockTokens_) * size_t(headDim_);
    storageFloats_ = size_t(blocks) * size_t(nLayers_) * blockFloatsPerLayer_;
    static std::atomic<uint64_t> nextInstance{1};
    instanceId_ = nextInstance++;
    refCounts_.assign(size_t(blocks), 0);
    freeList_.reserve(size_t(blocks));
    // Highest id first so that allocation hands out blocks in ascending order.
    for (int b = blocks - 1; b >= 0; --b)
        freeList_.push_back(b);
}

float* KvCache::storage() const {
    if (!storage_) {
        storage_.reset(static_cast<float*>(std::calloc(storageFloats_, sizeof(float))));
        if (!storage_)
            fail(ErrorCategory::Io, "KV cache: cannot allocate {:.1f} MiB for {} blocks",
                 double(storageFloats_) * 4 / 1048576, capacityBlocks());
    }
    return storage_.get();
}

std::vector<std::pair<int, int>> KvCache::takeBlockCopies() {
    std::vector<std::pair<int, int>> copies;
    copies.swap(blockCopies_);
    return copies;
}

const KvCache::Sequence& KvCache::sequenceOf(int32_t seqId) const {
    auto it = sequences_.find(seqId);
    if (it == sequences_.end()) fail(ErrorCategory::InvalidArgument, "KV cache: no sequence {}", seqId);
    return it->second;
}

int KvCache::length(int32_t seqId) const {
    auto it = sequences_.find(seqId);
    return it == sequences_.end() ? 0 : it->second.length;
}

const std::vector<int>& KvCache::blockTable(int32_t seqId) const {
    return sequenceOf(seqId).blocks;
}

int KvCache::allocateBlock() {
    if (freeList_.empty()) fail(ErrorCategory::Internal, "KV cache: allocation past the checked capacity");
    const int block = freeList_.back();
    freeList_.pop_back();
    refCounts_[size_t(block)] = 1;
    return block;
}

void KvCache::releaseBlock(int blockId) {
    int& count = refCounts_[size_t(blockId)];
    if (count <= 0) fail(ErrorCategory::Internal, "KV cache: block {} released twice", blockId);
    if (--count == 0) freeList_.push_back(blockId);
}

void KvCache::copyBlock(int fromBlock, int toBlock) {
    if (logsBlockCopies_) blockCopies_.emplace_back(fromBlock, toBlock);
    if (!storage_) return; // no row was ever written on the host
    const size_t blockFloats = size_t(nLayers_) * blockFloatsPerLayer_;
    std::copy_n(storage_.get() + size_t(fromBlock) * blockFloats, blockFloats,
                storage_.get() + size_t(toBlock) * blockFloats);
}

size_t KvCache::offsetOf(int layer, int blockId, int kvHead, int slotInBlock, bool isValue) const {
    const size_t perHead = size_t(blockTokens_) * size_t(headDim_);
    return (size_t(blockId) * size_t(nLayers_) + size_t(layer)) * blockFloatsPerLayer_ +
           (isValue ? size_t(nHeadsKv_) * perHead : 0) + size_t(kvHead) * perHead +
           size_t(slotInBlock) * size_t(headDim_);
}

void KvCache::fork(int32_t srcSeqId, int32_t dstSeqId) {
    if (srcSeqId == dstSeqId) return;
    Sequence copy = sequenceOf(srcSeqId);
    for (int block : copy.blocks)
        ++refCounts_[size_t(block)];
    removeSequence(dstSeqId);
    sequences_[dstSeqId] = std::move(copy);
}

void KvCache::truncate(int32_t seqId, int newLength) {
    auto it = sequences_.find(seqId);
    const int current = it == sequences_.end() ? 0 : it->second.length;
    if (newLength < 0 || newLength > current)
        fail(ErrorCategory::InvalidArgument, "KV cache: cannot truncate sequence {} of {} tokens to {}",
             seqId, current, newLength);
    if (it == sequences_.end()) return;
    Sequence& seq = it->second;
    const size_t keep = size_t((newLength + blockTokens_ - 1) / blockTokens_);
    while (seq.blocks.size() > keep) {
        releaseBlock(seq.blocks.back());
        seq.blocks.pop_back();
    }
    seq.length = newLength;
}

void KvCache::removeSequence(int32_t seqId) {
    auto it = sequences_.find(seqId);
    if (it == sequences_.end()) return;
    for (int block : it->second.blocks)
        releaseBlock(block);
    sequences_.erase(it);
}

void KvCache::clear() {
    sequences_.clear();
    std::fill(refCounts_.begin(), refCounts_.end(), 0);
    freeList_.clear();
    for (int b = capacityBlocks() - 1; b >= 0; --b)
        freeList_.push_back(b);
}

int KvCache::blocksNeeded(int32_t seqId, int count) const {
    if (count <= 0) return 0;
    auto it = sequences_.find(seqId);
    const int length = it == sequences_.end() ? 0 : it->second.length;
    const int held = it == sequences_.end() ? 0 : int(it->second.blocks.size());
    const int64_t total = (int64_t(length) + count + blockTokens_ - 1) / blockTokens_;
    int64_t needed = std::max<int64_t>(0, total - held);
    // Writing into a partly filled shared block copies it first.
    if (length % blockTokens_ != 0 && refCounts_[size_t(it->second.blocks.back())] > 1) ++needed;
    return int(std::min<int64_t>(needed, INT_MAX));
}

int KvCache::append(int32_t seqId, int count) {
    if (count < 0) fail(ErrorCategory::InvalidArgument, "KV cache: cannot append {} tokens", count);
    const int needed = blocksNeeded(seqId, count);
    if (needed > freeBlocks())
        fail(ErrorCategory::InvalidArgument,
             "KV cache full: sequence {} needs {} more blocks of {} tokens but {} of {} are free", seqId,
             needed, blockTokens_, freeBlocks(), capacityBlocks());
    Sequence& seq = sequences_[seqId];
    const int first = seq.length;
    if (count == 0) return first;
    if (seq.length % blockTokens_ != 0) {
        int& last = seq.blocks.back();
        if (refCounts_[size_t(last)] > 1) {
            const int copy = allocateBlock();
            copyBlock(last, copy);
            releaseBlock(last);
            last = copy;
        }
    }
    const size_t total = size_t((int64_t(seq.length) + count + blockTokens_ - 1) / blockTokens_);
    while (seq.blocks.size() < total)
        seq.blocks.push_back(allocateBlock());
    seq.length += count;
    return first;
}

float* KvCache::key(int layer, int32_t seqId, int slot, int kvHead) {
    return const_cast<float*>(std::as_const(*this).key(layer, seqId, slot, kvHead));
}

float* KvCache::value(int layer, int32_t seqId, int slot, int kvHead) {
    return const_cast<float*>(std::as_const(*this).value(layer, seqId, slot, kvHead));
}

const float* KvCache::key(int layer, int32_t seqId, int slot, int kvHead) const {
    const Sequence& seq = sequenceOf(seqId);
    if (slot < 0 || slot >= seq.length || layer < 0 || layer >= nLayers_ || kvHead < 0 || kvHead >= nHeadsKv_)
        fail(ErrorCategory::Internal, "KV cache: key(layer {}, seq {}, slot {}, head {}) out of range", layer,
             seqId, slot, kvHead);
    return storage() +
           offsetOf(layer, seq.blocks[size_t(slot / blockTokens_)], kvHead, slot % blockTokens_, false);
}

const float* KvCache::value(int layer, int32_t seqId, int slot, int kvHead) const {
    const Sequence& seq = sequenceOf(seqId);
    if (slot < 0 || slot >= seq.length || layer < 0 || layer >= nLayers_ || kvHead < 0 || kvHead >= nHeadsKv_)
        fail(ErrorCategory::Internal, "KV cache: value(layer {}, seq {}, slot {}, head {}) out of range",
             layer, seqId, slot, kvHead);
    return storage() +
           offsetOf(layer, seq.blocks[size_t(slot / blockTokens_)], kvHead, slot % blockTokens_, true);
}

} // namespace lathe
