#pragma once
// Paged key/value cache. Storage is a pool of fixed-size blocks (blockTokens token slots each, for
// every layer); each sequence owns a block table (list of block ids) and a length. Blocks are
// reference-counted: fork() makes a new sequence share its parent's blocks, and the first write into a
// shared block copies it (copy on write). truncate() drops a sequence's tail (a rejected speculation)
// and frees blocks no longer referenced.
//
// Layout of one block for one layer: K then V, each [nHeadsKv][blockTokens][headDim] floats.
// The host copy of the data is allocated on first access: a backend that keeps K/V in device memory
// (backend/cuda) uses only the block structure, and replays the cache's own block copies (copy on
// write) from the log it asks for with setLogsBlockCopies().

#include "model/ModelConfig.h"

#include <cstdint>
#include <cstdlib>
#include <memory>
#include <unordered_map>
#include <utility>
#include <vector>

namespace lathe {

class KvCache {
public:
    // capacityTokens: total token slots across all sequences (rounded up to whole blocks).
    KvCache(const ModelConfig& config, int capacityTokens, int blockTokens = 16);

    int nLayers() const { return nLayers_; }
    int nHeadsKv() const { return nHeadsKv_; }
    int headDim() const { return headDim_; }
    int blockTokens() const { return blockTokens_; }
    int capacityBlocks() const { return int(refCounts_.size()); }
    int freeBlocks() const { return int(freeList_.size()); }

    bool hasSequence(int32_t seqId) const { return sequences_.count(seqId) != 0; }
    int length(int32_t seqId) const; // tokens cached (0 for an unknown sequence)
    // Makes dst an exact copy of src (sharing blocks); dst's previous contents are dropped.
    void fork(int32_t srcSeqId, int32_t dstSeqId);
    void truncate(int32_t seqId, int newLength); // newLength <= length
    void removeSequence(int32_t seqId);
    void clear();

    // Reserves slots for `count` more tokens of seqId (allocating blocks, un-sharing the last block
    // if it is shared). Throws lathe::Error (InvalidArgument) when the cache is full.
    // Returns the slot index of the first new token; length grows by count.
    int append(int32_t seqId, int count);
    // Free blocks that append(seqId, count) would take (including a copy of a shared last block).
    int blocksNeeded(int32_t seqId, int count) const;

    // Slot access for the backends: pointers to headDim floats of token `slot` of seqId, head `kvHead`.
    float* key(int layer, int32_t seqId, int slot, int kvHead);
    float* value(int layer, int32_t seqId, int slot, int kvHead);
    const float* key(int layer, int32_t seqId, int slot, int kvHead) const;
    const float* value(int layer, int32_t seqId, int slot, int kvHead) const;

    // Fast path for attention: the [blockTokens][headDim] keys (values) of one head in one block.
    const float* blockKeys(int layer, int blockId, int kvHead) const {
        return storage() + offsetOf(layer, blockId, kvHead, 0, false);
    }
    const float* blockValues(int layer, int blockId, int kvHead) const {
        return storage() + offsetOf(layer, blockId, kvHead, 0, true);
    }

    int blockRefCount(int blockId) const { return refCounts_[size_t(blockId)]; }

    // Distinguishes caches for a backend that binds device memory to one (addresses can be reused).
    uint64_t instanceId() const { return instanceId_; }
    // While on, every block the cache copies by itself (copy on write in append) is logged as
    // (from, to) in order; takeBlockCopies() hands the log over and empties it.
    void setLogsBlockCopies(bool on) { logsBlockCopies_ = on; }
    std::vector<std::pair<int, int>> takeBlockCopies();
    const std::vector<int>& blockTable(int32_t seqId) const;

private:
    struct Sequence {
        std::vector<int> blocks;
        int length = 0;
    };
    int allocateBlock();
    void releaseBlock(int blockId);
    void copyBlock(int fromBlock, int toBlock);
    float* storage() const; // allocates the host copy on first use
    size_t offsetOf(int layer, int blockId, int kvHead, int slotInBlock, bool isValue) const;
    const Sequence& sequenceOf(int32_t seqId) const;

    int nLayers_;
    int nHeadsKv_;
    int headDim_;
    int blockTokens_;
    size_t blockFloatsPerLayer_; // 2 * nHeadsKv * blockTokens * headDim
    size_t storageFloats_ = 0;
    struct FreeStorage {
        void operator()(float* p) const { std::free(p); }
    };
    // [block][layer][K|V][kvHead][slot][headDim], allocated on first use with calloc, whose large
    // allocations are fresh zero pages that take no memory until written: blocks are handed out in
    // ascending order, so resident memory follows the tokens cached, not the capacity.
    mutable std::unique_ptr<float[], FreeStorage> storage_;
    uint64_t instanceId_ = 0;
    bool logsBlockCopies_ = false;
    std::vector<std::pair<int, int>> blockCopies_;
    std::vector<int> refCounts_;
    std::vector<int> freeList_;
    std::unordered_map<int32_t, Sequence> sequences_;
};

} // namespace lathe
