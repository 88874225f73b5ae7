#pragma once
// One forward call's input: rows of (token, position, sequence id), how they may attend to each
// other, and which rows want logits. The same shape serves prefill (many rows of one sequence),
// decode (one row per sequence), batched evaluation, speculative verification (k rows) and
// token-tree verification (rows linked by parent indices).
//
// Every row is appended to its sequence's KV cache in batch order. A row always sees the tokens
// its sequence held in the cache before this call. Within the batch:
//  - without treeParents: a row sees the earlier rows of the same sequence (causal);
//  - with treeParents: a row sees itself and its ancestors only, following parent links
//    (treeParents[i] is the batch index of row i's parent, or -1 for a root whose parent is the
//    last cached token). Parents precede their children in the batch.

#include <cstdint>
#include <vector>

namespace lathe {

struct Batch {
    std::vector<int32_t> tokens;
    std::vector<int32_t> positions; // RoPE positions (a tree row's position is its depth + cached length)
    std::vector<int32_t> seqIds;
    std::vector<int32_t> treeParents; // empty: causal per sequence
    std::vector<int32_t> logitRows;   // ascending batch indices whose logits are returned

    int size() const { return int(tokens.size()); }
    void add(int32_t token, int32_t position, int32_t seqId, bool wantLogits) {
        if (wantLogits) logitRows.push_back(int32_t(tokens.size()));
        tokens.push_back(token);
        positions.push_back(position);
        seqIds.push_back(seqId);
    }
    void clear() {
        tokens.clear();
        positions.clear();
        seqIds.clear();
        treeParents.clear();
        logitRows.clear();
    }
    // Rows for a run of tokens of one sequence starting at `firstPosition`; logits for the last only
    // (or every row when allLogits is set, as perplexity evaluation needs).
    static Batch sequence(const std::vector<int32_t>& tokens, int32_t firstPosition, int32_t seqId,
                          bool allLogits = false) {
        Batch b;
        for (size_t i = 0; i < tokens.size(); ++i)
            b.add(tokens[i], firstPosition + int32_t(i), seqId, allLogits || i + 1 == tokens.size());
        return b;
    }
};

} // namespace lathe
