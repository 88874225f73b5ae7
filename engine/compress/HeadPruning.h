#pragma once
// Structured pruning of attention heads: whole heads leave a layer, and attn_q, attn_k, attn_v and
// attn_output shrink with them.
//
// With grouped-query attention, query head h reads KV head h / groupSize (groupSize = nHeads / nHeadsKv).
// A pruned layer must keep that rule, so two units can be removed:
//   query  the same number of query heads from every group; K and V stay (nHeads shrinks, nHeadsKv not);
//   group  whole groups: a KV head with every query head that reads it (both counts shrink, and so does
//          the KV cache).
// Without GQA (groupSize 1) a head is its own group, and both units remove whole heads.
//
// Importance of a unit = ||Σ_t W_o[:, S] x_t[S]||₂ over the calibration tokens, S the attn_output
// columns of the unit's query heads: exactly the change at the layer's attention output when the unit
// is removed (heads do not interact before attn_output), so the units that change it least go first.
// Computed as sqrt(trace(W_S G_S W_Sᵀ)), G_S = Σ_t x_t[S] x_t[S]ᵀ, in double.
//
// Every layer loses the same number of heads, so the pruned model has one head_count and
// head_count_kv, as llama.cpp's llama graph requires: it builds every layer with layer 0's head count
// (src/models/llama.cpp in llama-cpp-python 0.3.x), so a model whose layers differ would not load there.

#include <cstdint>
#include <optional>
#include <span>
#include <string_view>
#include <vector>

namespace lathe {

class ThreadPool;

enum class HeadUnit { Query, Group };
std::string_view headUnitName(HeadUnit unit);                    // "query", "group"
std::optional<HeadUnit> headUnitFromName(std::string_view name); // nullopt for an unknown name

struct HeadLayout {
    int nHeads = 0, nHeadsKv = 0, headDim = 0;
    int groupSize() const { return nHeads / nHeadsKv; }
};

// How many units each layer loses for a share `sparsity` of its heads: round(sparsity · units), units =
// query heads per group (query unit with GQA) or groups. Throws lathe::Error (InvalidArgument), saying
// which shares are possible, when that is 0 or every unit.
int headUnitsToRemove(const HeadLayout& layout, HeadUnit unit, double sparsity);

// Importance of every unit of a layer: [nHeads] for the query unit with GQA, else [nHeadsKv].
// wo: attn_output [nEmbd][nHeads · headDim]; x: its calibration inputs [tokens][nHeads · headDim].
std::vector<double> headImportance(std::span<const float> wo, int64_t nEmbd, std::span<const float> x,
                                   int64_t tokens, const HeadLayout& layout, HeadUnit unit,
                                   ThreadPool* pool = nullptr);

struct HeadSelection {
    std::vector<int> queryHeads; // kept query heads, ascending
    std::vector<int> kvHeads;    // kept KV heads, ascending
};

// Drops `remove` units of least importance (ties: the lower index goes first): from each group for the
// query unit with GQA, else whole groups.
HeadSelection selectHeads(std::span<const double> importance, const HeadLayout& layout, HeadUnit unit,
                          int remove);

// Throws lathe::Error (InvalidArgument) unless both lists ascend within range, are not empty, and every
// kept query head still reads its own KV head under h' / groupSize'.
void checkHeadSelection(const HeadLayout& layout, const HeadSelection& keep);

// Rows of q (k, v) of the kept query (KV) heads, and the matching columns of attn_output.
struct AttentionWeights {
    std::vector<float> q, k, v;    // [heads · headDim][nEmbd]
    std::vector<float> o;          // [nEmbd][nHeads' · headDim]
    std::vector<float> bq, bk, bv; // Q/K/V bias, when the model has one (Qwen2)
};
AttentionWeights keepAttentionHeads(const AttentionWeights& full, int64_t nEmbd, const HeadLayout& layout,
                                    const HeadSelection& keep);

} // namespace lathe
