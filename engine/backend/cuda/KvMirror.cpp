#include "backend/cuda/KvMirror.h"

#include <cstddef>

namespace lathe::cuda {

std::vector<int> KvMirror::changedEntries(const Seen* seen, const std::vector<int>& table) const {
    std::vector<int> changed;
    for (size_t i = 0; i < table.size(); ++i)
        if (!seen || i >= seen->table.size() || seen->table[i] != table[i]) changed.push_back(table[i]);
    return changed;
}

std::vector<int> KvMirror::syncForStore(int32_t seqId, const std::vector<int>& table, int firstSlot,
                                        int length) {
    const auto it = seen_.find(seqId);
    const Seen* seen = it == seen_.end() ? nullptr : &it->second;
    std::vector<int> upload;
    if (seen && firstSlot != seen->length && firstSlot >= 0)
        upload = table; // reshaped behind our back: trust nothing
    else
        upload = changedEntries(seen, table);
    Seen& now = seen_[seqId];
    now.table = table;
    now.length = length;
    return upload;
}

std::vector<int> KvMirror::syncForRead(int32_t seqId, const std::vector<int>& table, int length) {
    const auto it = seen_.find(seqId);
    const Seen* seen = it == seen_.end() ? nullptr : &it->second;
    std::vector<int> upload = (seen && length != seen->length) ? table : changedEntries(seen, table);
    Seen& now = seen_[seqId];
    now.table = table;
    now.length = length;
    return upload;
}

} // namespace lathe::cuda
