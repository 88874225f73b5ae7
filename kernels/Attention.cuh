#pragma once
// Attention over a paged KV cache in device memory. See Attention.cu.

#include "kernels/Rope.cuh"
#include "kernels/XCodes.cuh"

#include <cstdint>
#include <cuda_runtime.h>

namespace lathe::kernels {

// Device copy of model/KvCache's pool: [block][layer][K|V][kvHead][slot][headDim] float.
struct PagedKv {
    const float* pool = nullptr;
    int nLayers = 0, nHeadsKv = 0, blockTokens = 0, headDim = 0;
};

// All arrays are device memory. Row t of the batch belongs to one sequence, whose block table starts
// at blockTables[tableOffset[t]]; it attends to slots [0, prefix[t]) and extras[extraBegin[t] ..
// extraBegin[t+1]) (the AttentionMask contract of backend/Backend.h).
struct AttentionArgs {
    const float* q = nullptr; // [nTokens][nHeads][headDim]
    float* out = nullptr;     // [nTokens][nHeads][headDim]
    int nTokens = 0, nHeads = 0;
    float scale = 1.0f;
    PagedKv kv;
    int layer = 0;
    const int32_t* tableOffset = nullptr; // [nTokens]
    const int32_t* blockTables = nullptr;
    const int32_t* prefix = nullptr;     // [nTokens]
    const int32_t* extraBegin = nullptr; // [nTokens + 1]
    const int32_t* extras = nullptr;
    int maxVisible = 0;         // max over rows of visible slots (host-side bound)
    int splits = 0;             // key-range splits; 0: attentionSplits(maxVisible). More are allowed
                                // (a recorded step rounds them up): splits past a row's range are empty.
    float* workspace = nullptr; // attentionWorkspaceFloats(nTokens, nHeads, headDim, splits) floats
    XCodes codes;               // one token: out as int8 codes for the next mat-vec (XCodes.cuh), or none
};

// Splits of the key range per (row, head): one per kAttentionChunk visible slots.
constexpr int kAttentionChunk = 256;
inline int attentionSplits(int maxVisible) {
    return maxVisible <= kAttentionChunk ? 1 : (maxVisible + kAttentionChunk - 1) / kAttentionChunk;
}
// Workspace of the split partials; none for one split (the split kernel then writes the output).
inline int64_t attentionWorkspaceFloats(int nTokens, int nHeads, int headDim, int splits) {
    return splits <= 1 ? 0 : int64_t(nTokens) * nHeads * splits * (headDim + 2);
}

inline bool attentionSupportsHeadDim(int headDim) {
    return headDim > 0 && headDim % 32 == 0 && headDim <= 256;
}

// False when headDim has no kernel (attentionSupportsHeadDim).
bool pagedAttention(const AttentionArgs& args, cudaStream_t stream);

// Copies k and v rows ([nTokens][nHeadsKv][headDim]) into the pool at (blockOf[t], slotInBlock[t]).
void storeKv(float* pool, const PagedKv& kv, int layer, const float* k, const float* v, int nTokens,
             const int32_t* blockOf, const int32_t* slotInBlock, cudaStream_t stream);

// rope(q), rope(k) and storeKv in one launch (a decode step's three small kernels between its q/k/v
// products and its attention): rope.x is q ([nTokens][rope.nHeads][headDim]); k is rotated in place
// as rope would, then stored with v. The same bits as rope, rope, storeKv.
struct RopeStoreKvArgs {
    RopeArgs rope;            // q and the shared rotation (positions, nDims, freqBase, ...)
    float* k = nullptr;       // [nTokens][kv.nHeadsKv][kv.headDim], rotated in place
    const float* v = nullptr; // [nTokens][kv.nHeadsKv][kv.headDim]
    float* pool = nullptr;    // the cache pool (kv's layout)
    PagedKv kv;
    int layer = 0;
    const int32_t* blockOf = nullptr;     // [nTokens]
    const int32_t* slotInBlock = nullptr; // [nTokens]
};
void ropeAndStoreKv(const RopeStoreKvArgs& args, cudaStream_t stream);

} // namespace lathe::kernels
