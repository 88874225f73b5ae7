#include "compress/HeadPruning.h"

#include "core/Error.h"
#include "core/ThreadPool.h"

#include <algorithm>
#include <cmath>
#include <numeric>

namespace lathe {
namespace {

void checkLayout(const HeadLayout& layout) {
    if (layout.nHeads <= 0 || layout.nHeadsKv <= 0 || layout.headDim <= 0 ||
        layout.nHeads % layout.nHeadsKv != 0)
        fail(ErrorCategory::InvalidArgument, "attention heads: {} heads, {} KV heads of size {} do not fit",
             layout.nHeads, layout.nHeadsKv, layout.headDim);
}

// Query units with GQA are single heads inside groups; otherwise a unit is a whole group.
bool prunesWithinGroups(const HeadLayout& layout, HeadUnit unit) {
    return unit == HeadUnit::Query && layout.groupSize() > 1;
}

int unitCount(const HeadLayout& layout, HeadUnit unit) {
    return prunesWithinGroups(layout, unit) ? layout.nHeads : layout.nHeadsKv;
}

// The units the count rule applies to: heads of one group, or the groups.
int unitsPerChoice(const HeadLayout& layout, HeadUnit unit) {
    return prunesWithinGroups(layout, unit) ? layout.groupSize() : layout.nHeadsKv;
}

// Indices [first, first + count) ordered by (importance, index): the ones to drop come first.
std::vector<int> leastImportantFirst(std::span<const double> importance, int first, int count) {
    std::vector<int> order(static_cast<size_t>(count));
    std::iota(order.begin(), order.end(), first);
    std::stable_sort(order.begin(), order.end(),
                     [&](int a, int b) { return importance[size_t(a)] < importance[size_t(b)]; });
    return order;
}

void copyRows(const std::vector<float>& from, int64_t width, int64_t firstRow, int64_t rows,
              std::vector<float>& to) {
    to.insert(to.end(), from.begin() + firstRow * width, from.begin() + (firstRow + rows) * width);
}

} // namespace

std::string_view headUnitName(HeadUnit unit) {
    return unit == HeadUnit::Query ? "query" : "group";
}

std::optional<HeadUnit> headUnitFromName(std::string_view name) {
    if (name == "query") return HeadUnit::Query;
    if (name == "group") return HeadUnit::Group;
    return std::nullopt;
}

int headUnitsToRemove(const HeadLayout& layout, HeadUnit unit, double sparsity) {
    checkLayout(layout);
    const int units = unitsPerChoice(layout, unit);
    const int remove = int(std::lround(sparsity * double(units)));
    if (units == 1)
        fail(ErrorCategory::InvalidArgument,
             "attention heads: each layer has a single {}, which cannot be removed{}",
             layout.groupSize() > 1 ? "KV group" : "head",
             unit == HeadUnit::Group && layout.groupSize() > 1
                 ? "; the query unit removes query heads within it"
                 : "");
    if (!(sparsity > 0.0 && sparsity < 1.0) || remove < 1 || remove >= units) {
        const std::string what =
            prunesWithinGroups(layout, unit)
                ? fmt::format("{} query heads in each of its {} KV groups", units, layout.nHeadsKv)
                : fmt::format("{} {}", units, layout.groupSize() > 1 ? "KV groups" : "heads");
        fail(
            ErrorCategory::InvalidArgument,
            "attention heads: a share of {:.3g} removes {} of the {} per layer, not some of them; each layer "
            "has {}, so shares from 1/{} to {}/{} remove whole units",
            sparsity, remove, units, what, units, units - 1, units);
    }
    return remove;
}

std::vector<double> headImportance(std::span<const float> wo, int64_t nEmbd, std::span<const float> x,
                                   int64_t tokens, const HeadLayout& layout, HeadUnit unit,
                                   ThreadPool* pool) {
    checkLayout(layout);
    const int64_t width = int64_t(layout.nHeads) * layout.headDim;
    if (int64_t(wo.size()) != nEmbd * width || int64_t(x.size()) != tokens * width || tokens <= 0)
        fail(ErrorCategory::InvalidArgument,
             "attention heads: attn_output has {} values and its inputs {}, not {} x {} and {} x {}",
             wo.size(), x.size(), nEmbd, width, tokens, width);
    const int units = unitCount(layout, unit);
    const int64_t w = width / units; // the unit's columns: contiguous, [u·w, (u+1)·w)
    std::vector<double> importance(static_cast<size_t>(units));
    auto compute = [&](int64_t begin, int64_t end, int) {
        std::vector<double> g(static_cast<size_t>(w * w));
        std::vector<double> xs(static_cast<size_t>(w)), wg(static_cast<size_t>(w));
        for (int64_t u = begin; u < end; ++u) {
            const int64_t c0 = u * w;
            std::fill(g.begin(), g.end(), 0.0);
            for (int64_t t = 0; t < tokens; ++t) {
                const float* row = x.data() + t * width + c0;
                for (int64_t i = 0; i < w; ++i)
                    xs[size_t(i)] = row[i];
                for (int64_t i = 0; i < w; ++i) {
                    const double xi = xs[size_t(i)];
                    double* gi = g.data() + i * w;
                    for (int64_t j = 0; j <= i; ++j)
                        gi[j] += xi * xs[size_t(j)];
                }
            }
            for (int64_t i = 0; i < w; ++i)
                for (int64_t j = i + 1; j < w; ++j)
                    g[size_t(i * w + j)] = g[size_t(j * w + i)];
            double trace = 0.0;
            for (int64_t r = 0; r < nEmbd; ++r) {
                const float* wr = wo.data() + r * width + c0;
                std::fill(wg.begin(), wg.end(), 0.0);
                for (int64_t i = 0; i < w; ++i) {
                    const double wi = wr[i];
                    const double* gi = g.data() + i * w;
                    for (int64_t j = 0; j < w; ++j)
                        wg[size_t(j)] += wi * gi[j];
                }
                for (int64_t j = 0; j < w; ++j)
                    trace += wg[size_t(j)] * double(wr[j]);
            }
            if (!std::isfinite(trace))
                fail(ErrorCategory::InvalidArgument, "attention heads: unit {} has no finite importance", u);
            importance[size_t(u)] = std::sqrt(std::max(trace, 0.0));
        }
    };
    if (pool)
        pool->parallelFor(units, compute);
    else
        compute(0, units, 0);
    return importance;
}

HeadSelection selectHeads(std::span<const double> importance, const HeadLayout& layout, HeadUnit unit,
                          int remove) {
    checkLayout(layout);
    if (int(importance.size()) != unitCount(layout, unit))
        fail(ErrorCategory::InvalidArgument, "attention heads: {} importances for {} units",
             importance.size(), unitCount(layout, unit));
    if (remove < 1 || remove >= unitsPerChoice(layout, unit))
        fail(ErrorCategory::InvalidArgument, "attention heads: cannot remove {} of {}", remove,
             unitsPerChoice(layout, unit));
    HeadSelection keep;
    const int groupSize = layout.groupSize();
    if (prunesWithinGroups(layout, unit)) {
        for (int g = 0; g < layout.nHeadsKv; ++g) {
            std::vector<int> order = leastImportantFirst(importance, g * groupSize, groupSize);
            std::sort(order.begin() + remove, order.end());
            keep.queryHeads.insert(keep.queryHeads.end(), order.begin() + remove, order.end());
            keep.kvHeads.push_back(g);
        }
    } else {
        std::vector<int> order = leastImportantFirst(importance, 0, layout.nHeadsKv);
        std::sort(order.begin() + remove, order.end());
        keep.kvHeads.assign(order.begin() + remove, order.end());
        for (int g : keep.kvHeads)
            for (int h = g * groupSize; h < (g + 1) * groupSize; ++h)
                keep.queryHeads.push_back(h);
    }
    return keep;
}

void checkHeadSelection(const HeadLayout& layout, const HeadSelection& keep) {
    checkLayout(layout);
    auto checkKept = [](const std::vector<int>& kept, int count, const char* what) {
        for (size_t i = 0; i < kept.size(); ++i)
            if (kept[i] < 0 || kept[i] >= count || (i > 0 && kept[i] <= kept[i - 1]))
                fail(ErrorCategory::InvalidArgument,
                     "attention heads: kept {} head {} is not ascending within [0, {})", what, kept[i],
                     count);
        if (kept.empty()) fail(ErrorCategory::InvalidArgument, "attention heads: no {} head kept", what);
    };
    checkKept(keep.queryHeads, layout.nHeads, "query");
    checkKept(keep.kvHeads, layout.nHeadsKv, "KV");
    if (keep.queryHeads.size() % keep.kvHeads.size() != 0)
        fail(ErrorCategory::InvalidArgument, "attention heads: {} query heads do not share {} KV heads",
             keep.queryHeads.size(), keep.kvHeads.size());
    // Each kept query head must still read its own KV head under the rule h' / groupSize'.
    const size_t newGroup = keep.queryHeads.size() / keep.kvHeads.size();
    for (size_t i = 0; i < keep.queryHeads.size(); ++i)
        if (keep.queryHeads[i] / layout.groupSize() != keep.kvHeads[i / newGroup])
            fail(ErrorCategory::InvalidArgument,
                 "attention heads: query head {} would read another KV head after pruning",
                 keep.queryHeads[i]);
}

AttentionWeights keepAttentionHeads(const AttentionWeights& full, int64_t nEmbd, const HeadLayout& layout,
                                    const HeadSelection& keep) {
    checkLayout(layout);
    const int64_t d = layout.headDim;
    const int64_t qRows = int64_t(layout.nHeads) * d, kvRows = int64_t(layout.nHeadsKv) * d;
    if (int64_t(full.q.size()) != qRows * nEmbd || int64_t(full.k.size()) != kvRows * nEmbd ||
        int64_t(full.v.size()) != kvRows * nEmbd || int64_t(full.o.size()) != nEmbd * qRows)
        fail(ErrorCategory::InvalidArgument, "attention heads: q/k/v/o sizes do not fit {} x {}", qRows,
             nEmbd);
    if ((!full.bq.empty() && int64_t(full.bq.size()) != qRows) ||
        (!full.bk.empty() && int64_t(full.bk.size()) != kvRows) ||
        (!full.bv.empty() && int64_t(full.bv.size()) != kvRows))
        fail(ErrorCategory::InvalidArgument, "attention heads: Q/K/V biases do not fit {} and {} rows", qRows,
             kvRows);
    checkHeadSelection(layout, keep);

    AttentionWeights out;
    for (int h : keep.queryHeads) {
        copyRows(full.q, nEmbd, h * d, d, out.q);
        if (!full.bq.empty()) copyRows(full.bq, 1, h * d, d, out.bq);
    }
    for (int g : keep.kvHeads) {
        copyRows(full.k, nEmbd, g * d, d, out.k);
        copyRows(full.v, nEmbd, g * d, d, out.v);
        if (!full.bk.empty()) copyRows(full.bk, 1, g * d, d, out.bk);
        if (!full.bv.empty()) copyRows(full.bv, 1, g * d, d, out.bv);
    }
    const int64_t newCols = int64_t(keep.queryHeads.size()) * d;
    out.o.resize(size_t(nEmbd * newCols));
    for (int64_t r = 0; r < nEmbd; ++r)
        for (size_t i = 0; i < keep.queryHeads.size(); ++i)
            std::copy_n(full.o.begin() + r * qRows + keep.queryHeads[i] * d, d,
                        out.o.begin() + r * newCols + int64_t(i) * d);
    return out;
}

} // namespace lathe
