#pragma once
// KvMirror: decides which KV blocks the device copy must re-read from the host cache.
//
// model/KvCache stays the owner of the block structure (tables, reference counts, copy on write) and
// of a host copy of the data; CudaBackend::storeKv writes each new row to both copies, so they only
// diverge where KvCache writes on its own: the copy-on-write of a shared block into a fresh one
// (append after fork). Such a block always appears as a changed entry in some sequence's table, so
// before a sequence's rows are stored or attended to, the mirror compares its table with the one it saw
// last and lists the entries that changed (all of them for a sequence it has not seen). A sequence
// reshaped behind the mirror's back (fork/truncate then append, so the next stored slot is not where
// the mirror left it) is re-read whole. One case escapes both tests: the same block id landing at the
// same table index with the same length — hence the proposal of a per-block generation in KvCache
// (/tmp/cuda-backend-proposal.md), which would make this exact.

#include <cstdint>
#include <unordered_map>
#include <vector>

namespace lathe::cuda {

class KvMirror {
public:
    // Blocks of `table` to upload before storing rows at `firstSlot` onward of a sequence whose
    // current length (after append) is `length`, and records the new state.
    std::vector<int> syncForStore(int32_t seqId, const std::vector<int>& table, int firstSlot, int length);
    // Blocks to upload before attending over a sequence (no rows stored in this step).
    std::vector<int> syncForRead(int32_t seqId, const std::vector<int>& table, int length);
    void forget(int32_t seqId) { seen_.erase(seqId); }
    void clear() { seen_.clear(); }

private:
    struct Seen {
        std::vector<int> table;
        int length = 0;
    };
    std::vector<int> changedEntries(const Seen* seen, const std::vector<int>& table) const;
    std::unordered_map<int32_t, Seen> seen_;
};

} // namespace lathe::cuda
