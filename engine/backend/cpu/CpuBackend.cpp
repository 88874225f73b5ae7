#include "backend/cpu/CpuBackend.h"

#include "backend/cpu/ActivationQuant.h"
#include "backend/cpu/Avx2KQuantKernels.h"
#include "backend/cpu/Avx2KQuantLanes.h"
#include "backend/cpu/Avx2Kernels.h"
#include "backend/cpu/Avx512AttentionKernels.h"
#include "backend/cpu/Avx512KQuantLanes.h"
#include "backend/cpu/Avx512KQuantPanel.h"
#include "backend/cpu/Avx512Kernels.h"
#include "backend/cpu/CpuFeatures.h"
#include "backend/cpu/GgmlFloatOrder.h"
#include "backend/cpu/KQuantDots.h"
#include "core/AlignedVector.h"
#include "core/Error.h"
#include "core/ThreadPool.h"
#include "io/Quants.h"
#include "model/KvCache.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <vector>

namespace lathe {
namespace {

// Below this many multiply-adds an op runs on the calling thread: waking the pool costs more.
constexpr int64_t kMinParallelWork = 16384;

void require(bool ok, const char* op, const char* what) {
    if (!ok) fail(ErrorCategory::Internal, "cpu backend {}: {}", op, what);
}

// The float dot: eight lanes of fused multiply-adds, reduced as llamafile's hsum (ggml::hsum8), the
// tail fused in order. avx2::dotLanes8 gives the same bits in registers; this is its scalar reference.
float dotF32(const float* a, const float* b, int64_t n) {
    if (cpuHasAvx2()) return avx2::dotLanes8(DType::F32, a, b, n);
    float lanes[8] = {};
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (int l = 0; l < 8; ++l)
            lanes[l] = std::fma(a[i + l], b[i + l], lanes[l]);
    float sum = ggml::hsum8(lanes);
    for (; i < n; ++i)
        sum = std::fma(a[i], b[i], sum);
    return sum;
}

class CpuWeight final : public BackendWeight {
public:
    explicit CpuWeight(const TensorView& view) : BackendWeight(view) {
        // Vectors (norm weights, biases) are small and read whole by every call: keep them as floats.
        if (view.rowCount() == 1) {
            values_.resize(size_t(view.rowLength()));
            dequantizeRow(view.dtype, view.data, values_.data(), view.rowLength());
        }
    }
    // The whole tensor as floats; only for one-row tensors.
    const std::vector<float>& values() const { return values_; }

private:
    std::vector<float> values_;
};

const CpuWeight& cpuWeight(const BackendWeight& weight) {
    const auto* cpu = dynamic_cast<const CpuWeight*>(&weight);
    require(cpu != nullptr, "weight", "handle was made by another backend");
    return *cpu;
}

class CpuBackend final : public Backend {
public:
    explicit CpuBackend(const CpuBackendOptions& options)
        : options_(options), pool_(options.threads), scratch_(size_t(pool_.threadCount())),
          int16Rows_(size_t(pool_.threadCount())) {}

    std::string name() const override {
        return fmt::format("cpu ({} threads{}{})", pool_.threadCount(),
                           options_.quantizedActivations ? "" : ", float reference",
                           perToken() ? ", per-token int8 activations" : "");
    }

    void setActivationQuantization(ActivationQuantization mode) override { activationMode_ = mode; }

    std::unique_ptr<BackendWeight> prepareWeight(const TensorView& view) override {
        require(view.data != nullptr, "prepareWeight", "tensor has no data");
        require(view.nbytes >= view.rowStride() * uint64_t(view.rowCount()), "prepareWeight",
                "tensor bytes are shorter than its shape");
        return std::make_unique<CpuWeight>(view);
    }

    void embed(const BackendWeight& table, std::span<const int32_t> tokens, std::span<float> out) override {
        const TensorView& view = table.view();
        const int64_t cols = view.rowLength();
        require(int64_t(out.size()) == int64_t(tokens.size()) * cols, "embed", "output size");
        for (size_t t = 0; t < tokens.size(); ++t) {
            if (tokens[t] < 0 || tokens[t] >= view.rowCount())
                fail(ErrorCategory::InvalidArgument,
                     "token id {} is outside the vocabulary of {} tokens ({})", tokens[t], view.rowCount(),
                     view.name);
            dequantizeRow(view.dtype, view.row(tokens[t]), out.data() + int64_t(t) * cols, cols);
        }
    }

    // As ggml: the mean square is summed in double, the row scaled, then multiplied by the weight.
    void rmsNorm(std::span<const float> x, const BackendWeight& weight, int nTokens, float eps,
                 std::span<float> out) override {
        const std::vector<float>& w = cpuWeight(weight).values();
        const int64_t dim = int64_t(w.size());
        require(dim > 0 && int64_t(x.size()) == nTokens * dim && out.size() == x.size(), "rmsNorm", "sizes");
        parallel(nTokens, int64_t(nTokens) * dim * 4, [&](int64_t begin, int64_t end, int) {
            // Each row's sum is one chain of dependent double adds; four rows side by side run four
            // chains at once (each still in its own order).
            constexpr int kRows = 4;
            for (int64_t t0 = begin; t0 < end; t0 += kRows) {
                const int n = int(std::min<int64_t>(kRows, end - t0));
                double sums[kRows] = {};
                if (n == kRows) {
                    const float* r0 = x.data() + t0 * dim;
                    const float *r1 = r0 + dim, *r2 = r1 + dim, *r3 = r2 + dim;
                    double s0 = 0.0, s1 = 0.0, s2 = 0.0, s3 = 0.0;
                    for (int64_t i = 0; i < dim; ++i) {
                        s0 += double(r0[i] * r0[i]);
                        s1 += double(r1[i] * r1[i]);
                        s2 += double(r2[i] * r2[i]);
                        s3 += double(r3[i] * r3[i]);
                    }
                    sums[0] = s0;
                    sums[1] = s1;
                    sums[2] = s2;
                    sums[3] = s3;
                } else {
                    for (int r = 0; r < n; ++r) {
                        const float* xr = x.data() + (t0 + r) * dim;
                        for (int64_t i = 0; i < dim; ++i)
                            sums[r] += double(xr[i] * xr[i]);
                    }
                }
                for (int r = 0; r < n; ++r) {
                    const float* xr = x.data() + (t0 + r) * dim;
                    float* yr = out.data() + (t0 + r) * dim;
                    const float mean = float(sums[r] / double(dim));
                    const float scale = 1.0f / std::sqrt(mean + eps);
                    for (int64_t i = 0; i < dim; ++i)
                        yr[i] = (xr[i] * scale) * w[size_t(i)];
                }
            }
        });
    }

    void matmul(const BackendWeight& weight, std::span<const float> x, int nTokens, std::span<float> out,
                const BackendWeight* bias) override {
        const TensorView& w = weight.view();
        const int64_t cols = w.rowLength();
        const int64_t rows = w.rowCount();
        require(int64_t(x.size()) == nTokens * cols, "matmul", "input size is not nTokens x cols");
        require(int64_t(out.size()) == nTokens * rows, "matmul", "output size is not nTokens x rows");
        if (bias)
            require(int64_t(cpuWeight(*bias).values().size()) == rows, "matmul", "bias length is not rows");
        switch (dotPath(w)) {
        case DotPath::Blocks:
            matmulQuantized(w, x, nTokens, out);
            break;
        case DotPath::SuperBlocks:
            matmulKQuantized(w, x, nTokens, out);
            break;
        case DotPath::Float:
            matmulFloat(w, x, nTokens, out);
            break;
        }
        if (bias) addBias(out, *bias, nTokens);
    }

    static void addBias(std::span<float> out, const BackendWeight& bias, int nTokens) {
        const std::vector<float>& values = cpuWeight(bias).values();
        const int64_t rows = int64_t(values.size());
        require(int64_t(out.size()) == nTokens * rows, "matmul", "bias length is not rows");
        for (int t = 0; t < nTokens; ++t)
            for (int64_t r = 0; r < rows; ++r)
                out[size_t(t * rows + r)] += values[size_t(r)];
    }

    // How a weight meets the activations: integer dots against 8-bit blocks of 32 (Q4_0 .. Q8_0) or of
    // 256 (the K-quants), or float tiles (F32/F16/BF16, and every format in the float reference mode).
    enum class DotPath { Blocks, SuperBlocks, Float };
    DotPath dotPath(const TensorView& w) const {
        if (!options_.quantizedActivations) return DotPath::Float;
        if (hasQuantizedDot(w.dtype)) return DotPath::Blocks;
        // Per-token int8 mode is defined on blocks of 32; K-quant weights keep the float tiles there.
        if (hasKQuantDot(w.dtype) && !perToken() && w.rowLength() % kKSuperBlock == 0)
            return DotPath::SuperBlocks;
        return DotPath::Float;
    }

    // Products of one x (q, k, v; gate, up) whose weights all take the same path: x quantized (or
    // rounded to fp16) once, and all products' row tiles in one parallel region. Each output is what
    // matmul gives (the same bits).
    void matmuls(std::span<const MatmulProduct> products, const Activations& x, int nTokens) override {
        if (products.empty()) return;
        const DotPath path = dotPath(products[0].weight->view());
        bool shared = products.size() > 1 && products.size() < 8;
        for (const MatmulProduct& p : products)
            shared = shared && dotPath(p.weight->view()) == path &&
                     p.weight->view().rowLength() == products[0].weight->view().rowLength();
        if (!shared) return Backend::matmuls(products, x, nTokens);
        const std::span<const float> input = hostActivations(x).span();
        const int64_t cols = products[0].weight->view().rowLength();
        require(int64_t(input.size()) == nTokens * cols, "matmul", "input size is not nTokens x cols");
        std::array<std::span<float>, 8> outs;
        for (size_t i = 0; i < products.size(); ++i) {
            const TensorView& w = products[i].weight->view();
            products[i].out->resize(size_t(nTokens) * size_t(w.rowCount()));
            outs[i] = hostActivations(*products[i].out).span();
        }
        if (path != DotPath::Float) {
            std::array<QuantizedProduct, 8> targets;
            for (size_t i = 0; i < products.size(); ++i)
                targets[i] = {&products[i].weight->view(), outs[i]};
            const std::span<const QuantizedProduct> all(targets.data(), products.size());
            if (path == DotPath::Blocks) {
                quantizeActivationRows(input, nTokens, cols);
                quantizedProducts(all, nTokens);
            } else {
                quantizeKActivationRows(input, nTokens, cols);
                kQuantProducts(all, nTokens);
            }
        } else {
            std::array<FloatProduct, 8> targets;
            for (size_t i = 0; i < products.size(); ++i)
                targets[i] = {&products[i].weight->view(), outs[i]};
            floatProducts(std::span<const FloatProduct>(targets.data(), products.size()), input, nTokens);
        }
        for (size_t i = 0; i < products.size(); ++i)
            if (products[i].bias) addBias(outs[i], *products[i].bias, nTokens);
    }

    // As ggml's rope: theta advances by repeated multiplication with base^(-2/nDims), in float.
    void rope(std::span<float> x, int nTokens, int nHeads, int headDim, std::span<const int32_t> positions,
              const RopeParams& params) override {
        const int nDims = params.nDims;
        require(nDims > 0 && nDims % 2 == 0 && nDims <= headDim, "rope", "nDims must be even and <= headDim");
        require(int64_t(x.size()) == int64_t(nTokens) * nHeads * headDim, "rope", "input size");
        require(int(positions.size()) == nTokens, "rope", "one position per row");
        require(params.freqFactors.empty() || int(params.freqFactors.size()) == nDims / 2, "rope",
                "freqFactors must hold nDims/2 values");
        const std::vector<float>& cosSin = ropeTable(positions, params);
        parallel(nTokens, int64_t(nTokens) * nHeads * nDims * 2, [&](int64_t begin, int64_t end, int) {
            for (int64_t t = begin; t < end; ++t) {
                const float* cs = cosSin.data() + t * nDims;
                for (int h = 0; h < nHeads; ++h) {
                    float* head = x.data() + (t * nHeads + h) * headDim;
                    if (exact() && params.style == RopeStyle::Interleaved && cpuHasAvx2()) {
                        avx2::ropeAdjacentPairs(head, cs, nDims);
                        continue;
                    }
                    for (int i = 0; i < nDims / 2; ++i) {
                        const int a = params.style == RopeStyle::Interleaved ? 2 * i : i;
                        const int b = params.style == RopeStyle::Interleaved ? 2 * i + 1 : i + nDims / 2;
                        const float c = cs[2 * i];
                        const float s = cs[2 * i + 1];
                        if (exact()) {
                            ggml::rotatePair(head[a], head[b], c, s);
                            continue;
                        }
                        const float x0 = head[a];
                        const float x1 = head[b];
                        head[a] = x0 * c - x1 * s;
                        head[b] = x0 * s + x1 * c;
                    }
                }
            }
        });
    }

    void storeKv(std::span<const float> k, std::span<const float> v, std::span<const int32_t> seqIds,
                 std::span<const int32_t> slots, int layer, KvCache& cache) override {
        const int64_t width = int64_t(cache.nHeadsKv()) * cache.headDim();
        require(seqIds.size() == slots.size(), "storeKv", "one slot per sequence id");
        require(int64_t(k.size()) == int64_t(seqIds.size()) * width && v.size() == k.size(), "storeKv",
                "k/v size is not nTokens x nHeadsKv x headDim");
        if (seqIds.empty()) return;
        // The cache allocates its host copy on first access: on this thread, before the parallel writers.
        (void)cache.key(layer, seqIds[0], slots[0], 0);
        // Each row's lookups (sequence, block) cost more than its copies: both threads share them.
        parallel(int64_t(seqIds.size()), int64_t(k.size()) * 8, [&](int64_t begin, int64_t end, int) {
            for (int64_t t = begin; t < end; ++t)
                for (int h = 0; h < cache.nHeadsKv(); ++h) {
                    const int64_t offset = t * width + int64_t(h) * cache.headDim();
                    std::copy_n(k.data() + offset, cache.headDim(),
                                cache.key(layer, seqIds[size_t(t)], slots[size_t(t)], h));
                    std::copy_n(v.data() + offset, cache.headDim(),
                                cache.value(layer, seqIds[size_t(t)], slots[size_t(t)], h));
                }
        });
    }

    void attention(std::span<const float> q, const AttentionShape& shape, const AttentionMask& mask,
                   const KvCache& cache, int layer, std::span<float> out) override {
        const int nTokens = mask.size();
        const int headDim = shape.headDim;
        require(shape.nHeadsKv > 0 && shape.nHeads % shape.nHeadsKv == 0, "attention", "nHeads % nHeadsKv");
        require(shape.nHeadsKv == cache.nHeadsKv() && headDim == cache.headDim(), "attention",
                "shape differs from the cache's");
        require(int64_t(q.size()) == int64_t(nTokens) * shape.nHeads * headDim && out.size() == q.size(),
                "attention", "q/out size");
        require(int(mask.prefix.size()) == nTokens && int(mask.extraBegin.size()) == nTokens + 1 &&
                    int(mask.extras.size()) == mask.extraBegin.back(),
                "attention", "mask arrays");
        const int groupSize = shape.nHeads / shape.nHeadsKv;
        const int blockTokens = cache.blockTokens();
        // The cache allocates its host copy on first access: make that happen here, on one thread,
        // rather than in the parallel readers below.
        (void)cache.blockKeys(layer, 0, 0);
        int64_t work = 0;
        for (int t = 0; t < nTokens; ++t)
            work +=
                int64_t(mask.prefix[size_t(t)]) + mask.extraBegin[size_t(t) + 1] - mask.extraBegin[size_t(t)];
        if (exact() && cpuHasAvx2() && nTokens > 1) {
            // Prefill: the query heads of one KV head together, so each key and value is loaded once
            // for all of them. Every head's sums are those of attendExact (the same bits).
            const bool transposed = nTokens >= kTransposedValuesMinTokens && mask.extras.empty() &&
                                    transposeValues(mask, cache, layer);
            // With values paired for AVX-512, a task takes two consecutive rows of one sequence, whose six
            // queries (SmolLM2) then share each load of the values in P.V.
            const int rowsPerTask = transposed && pairedValues_ ? 2 : 1;
            const int units = (nTokens + rowsPerTask - 1) / rowsPerTask;
            parallel(int64_t(units) * shape.nHeadsKv, work * shape.nHeads * headDim * 2,
                     [&](int64_t begin, int64_t end, int thread) {
                         for (int64_t task = begin; task < end; ++task) {
                             // Rows in zigzag order (0, n-1, 1, n-2, ...): a causal row's work grows with
                             // its position, so contiguous halves of this order carry equal work.
                             const int order = int(task / shape.nHeadsKv);
                             const int unit = order % 2 == 0 ? order / 2 : units - 1 - order / 2;
                             const int kvHead = int(task % shape.nHeadsKv);
                             const int t0 = unit * rowsPerTask;
                             const int tEnd = std::min(nTokens, t0 + rowsPerTask);
                             for (int t = t0; t < tEnd; ++t)
                                 require(mask.prefix[size_t(t)] <= cache.length(mask.seqIds[size_t(t)]),
                                         "attention", "mask reaches past the cached tokens");
                             const int32_t seq = mask.seqIds[size_t(t0)];
                             const bool rowPair = tEnd - t0 == 2 && mask.seqIds[size_t(t0 + 1)] == seq;
                             for (int g0 = 0; g0 < groupSize; g0 += kMaxGroup) {
                                 const int count = std::min(kMaxGroup, groupSize - g0);
                                 auto headOf = [&](int t) {
                                     return int64_t(t) * shape.nHeads + int64_t(kvHead) * groupSize + g0;
                                 };
                                 if (rowPair) {
                                     attendRowPairExact(q.data(), headOf(t0), headOf(t0 + 1), count, mask, t0,
                                                        cache, layer, kvHead, shape.scale, thread, out.data(),
                                                        headDim);
                                     continue;
                                 }
                                 for (int t = t0; t < tEnd; ++t) {
                                     const float *valuesT = nullptr, *keysT = nullptr;
                                     int64_t valuesTStride = 0;
                                     if (transposed) {
                                         const TransposedValues& tv = transposedOf(mask.seqIds[size_t(t)]);
                                         valuesTStride = tv.stride;
                                         const size_t head =
                                             tv.offset + size_t(kvHead) * size_t(headDim) * size_t(tv.stride);
                                         valuesT = valuesT_.data() + head;
                                         if (transposedKeys_) keysT = keysT_.data() + head;
                                     }
                                     attendGroupExact(q.data() + headOf(t) * headDim, count, mask, t, cache,
                                                      layer, kvHead, shape.scale, thread,
                                                      out.data() + headOf(t) * headDim, valuesT,
                                                      valuesTStride, nullptr, keysT);
                                 }
                             }
                         }
                     });
            return;
        }
        parallel(int64_t(nTokens) * shape.nHeads, work * shape.nHeads * headDim * 2,
                 [&](int64_t begin, int64_t end, int thread) {
                     AlignedVector<float>& scores = scratch_[size_t(thread)];
                     std::vector<float> acc(static_cast<size_t>(headDim));
                     for (int64_t task = begin; task < end; ++task) {
                         const int t = int(task / shape.nHeads);
                         const int h = int(task % shape.nHeads);
                         const int kvHead = h / groupSize;
                         const std::vector<int>& table = cache.blockTable(mask.seqIds[size_t(t)]);
                         const int prefix = mask.prefix[size_t(t)];
                         const int extraBegin = mask.extraBegin[size_t(t)];
                         const int visible = prefix + mask.extraBegin[size_t(t) + 1] - extraBegin;
                         require(prefix <= cache.length(mask.seqIds[size_t(t)]), "attention",
                                 "mask reaches past the cached tokens");
                         auto slotOf = [&](int i) {
                             return i < prefix ? i : mask.extras[size_t(extraBegin + i - prefix)];
                         };
                         const float* qh = q.data() + task * headDim;
                         auto keyOf = [&](int slot) {
                             return cache.blockKeys(layer, table[size_t(slot / blockTokens)], kvHead) +
                                    int64_t(slot % blockTokens) * headDim;
                         };
                         auto valueOf = [&](int slot) {
                             return cache.blockValues(layer, table[size_t(slot / blockTokens)], kvHead) +
                                    int64_t(slot % blockTokens) * headDim;
                         };
                         if (exact() && nTokens == 1 && visible == prefix && headDim % 8 == 0 &&
                             cpuHasAvx2()) {
                             attendRowExact(qh, visible, keyOf, valueOf, headDim, shape.scale, thread,
                                            out.data() + task * headDim);
                             continue;
                         }
                         if (exact()) {
                             attendExact(qh, visible, slotOf, keyOf, valueOf, headDim, shape.scale,
                                         nTokens > 1, scores, out.data() + task * headDim);
                             continue;
                         }
                         scores.resize(size_t(visible));
                         float maxScore = -INFINITY;
                         for (int i = 0; i < visible; ++i) {
                             scores[size_t(i)] = dotF32(qh, keyOf(slotOf(i)), headDim) * shape.scale;
                             maxScore = std::max(maxScore, scores[size_t(i)]);
                         }
                         double sum = 0.0;
                         for (int i = 0; i < visible; ++i) {
                             scores[size_t(i)] = std::exp(scores[size_t(i)] - maxScore);
                             sum += double(scores[size_t(i)]);
                         }
                         const float inverse = float(1.0 / sum);
                         std::fill(acc.begin(), acc.end(), 0.0f);
                         for (int i = 0; i < visible; ++i) {
                             const float* v = valueOf(slotOf(i));
                             const float p = scores[size_t(i)] * inverse;
                             for (int d = 0; d < headDim; ++d)
                                 acc[size_t(d)] += p * v[d];
                         }
                         std::copy(acc.begin(), acc.end(), out.data() + task * headDim);
                     }
                 });
    }

    void swiglu(std::span<const float> gate, std::span<const float> up, std::span<float> out) override {
        require(gate.size() == up.size() && out.size() == up.size(), "swiglu", "sizes differ");
        if (exact()) {
            // ggml: vectors of 8 through its polynomial exp, the tail through libm's expf.
            // Pieces of whole vectors on each thread: every element goes the way it would in one pass.
            const size_t whole = out.size() & ~size_t(7);
            constexpr int64_t kPiece = 1024;
            const int64_t pieces = (int64_t(whole) + kPiece - 1) / kPiece;
            parallel(pieces, int64_t(whole) * 8, [&](int64_t begin, int64_t end, int) {
                const size_t from = size_t(begin * kPiece), to = std::min(whole, size_t(end * kPiece));
                if (cpuHasAvx2())
                    avx2::siluMul(gate.data() + from, up.data() + from, out.data() + from,
                                  int64_t(to - from));
                else
                    for (size_t i = from; i < to; ++i)
                        out[i] = ggml::silu(gate[i]) * up[i];
            });
            for (size_t i = whole; i < out.size(); ++i)
                out[i] = gate[i] / (1.0f + std::exp(-gate[i])) * up[i];
            return;
        }
        for (size_t i = 0; i < out.size(); ++i)
            out[i] = gate[i] / (1.0f + std::exp(-gate[i])) * up[i];
    }

    void add(std::span<const float> a, std::span<const float> b, std::span<float> out) override {
        require(a.size() == b.size() && out.size() == a.size(), "add", "sizes differ");
        parallel(int64_t(out.size()), int64_t(out.size()), [&](int64_t begin, int64_t end, int) {
            for (int64_t i = begin; i < end; ++i)
                out[size_t(i)] = a[size_t(i)] + b[size_t(i)];
        });
    }

private:
    // cos and sin of every (position, i) pair of a rope call, [nTokens][nDims / 2][cos, sin]. A forward
    // ropes q and k of every layer at the same positions, so the table is kept and rebuilt only when
    // the positions or the parameters change. theta advances as ggml's does (see rope).
    const std::vector<float>& ropeTable(std::span<const int32_t> positions, const RopeParams& params) {
        const bool same = ropeKey_.nDims == params.nDims && ropeKey_.freqBase == params.freqBase &&
                          std::ranges::equal(ropePositions_, positions) &&
                          std::ranges::equal(ropeFactors_, params.freqFactors);
        if (same) return ropeCosSin_;
        ropeKey_ = {params.nDims, params.freqBase};
        ropePositions_.assign(positions.begin(), positions.end());
        ropeFactors_.assign(params.freqFactors.begin(), params.freqFactors.end());
        const int nDims = params.nDims;
        const int64_t nTokens = int64_t(positions.size());
        ropeCosSin_.resize(size_t(nTokens * nDims));
        const float thetaScale = std::pow(params.freqBase, -2.0f / float(nDims));
        parallel(nTokens, nTokens * nDims * 16, [&](int64_t begin, int64_t end, int) {
            for (int64_t t = begin; t < end; ++t) {
                float* cs = ropeCosSin_.data() + t * nDims;
                float theta = float(positions[size_t(t)]);
                for (int i = 0; i < nDims / 2; ++i) {
                    const float factor = ropeFactors_.empty() ? 1.0f : ropeFactors_[size_t(i)];
                    cs[2 * i] = std::cos(theta / factor);
                    cs[2 * i + 1] = std::sin(theta / factor);
                    theta *= thetaScale;
                }
            }
        });
        return ropeCosSin_;
    }
    struct RopeKey {
        int nDims = 0;
        float freqBase = 0.0f;
    };
    RopeKey ropeKey_;
    std::vector<int32_t> ropePositions_;
    std::vector<float> ropeFactors_;
    std::vector<float> ropeCosSin_;

    // The default path: llama.cpp's CPU arithmetic bit for bit (see CpuBackendOptions).
    bool exact() const { return options_.quantizedActivations; }
    // Integer-dot matmuls quantize each activation row with one scale (ActivationQuant.h); only where
    // activations are quantized at all (the float reference keeps float activations).
    bool perToken() const { return activationMode_ == ActivationQuantization::PerTokenInt8; }

    // A stored row as floats, for the formats without an integer dot (K-quants, Lathe's LQ3_64, and
    // every block format in the float reference): the AVX2 decoder where one exists (same bits).
    static void decodeRow(DType type, const void* row, float* out, int64_t n) {
        if (type == DType::LQ3_64 && cpuHasAvx2())
            avx2::dequantizeLq3(static_cast<const uint8_t*>(row), out, n);
        else
            dequantizeRow(type, row, out, n);
    }

    // Softmax as ggml's does it over a row of cells: scores[i] = exp(scores[i] - maxScore) (eight at a
    // time where the processor allows: the same bits), summed per group of eight cells (hsum8, lane =
    // slot % 8) into a double. Returns 1 / sum.
    template <typename SlotOf>
    static float softmaxExp(float* scores, int visible, float maxScore, const SlotOf& slotOf) {
        for (int i = 0; i < visible; ++i)
            scores[i] -= maxScore;
        const int vectorized = cpuHasAvx2() ? visible & ~7 : 0;
        if (vectorized > 0) avx2::expf8(scores, scores, vectorized);
        for (int i = vectorized; i < visible; ++i)
            scores[i] = ggml::expf(scores[i]);
        double sum = 0.0;
        float lanes[8] = {};
        int group = -1;
        for (int i = 0; i < visible; ++i) {
            const int slot = slotOf(i);
            if (slot / 8 != group) {
                if (group >= 0) sum += double(ggml::hsum8(lanes));
                std::fill(std::begin(lanes), std::end(lanes), 0.0f);
                group = slot / 8;
            }
            lanes[slot % 8] = scores[i];
        }
        if (group >= 0) sum += double(ggml::hsum8(lanes));
        return float(1.0 / sum);
    }

    // softmaxExp for a row whose cells are 0..visible-1 in order (a causal row): the groups of eight are
    // then runs of the row, summed in registers.
    static float softmaxExpCausal(float* scores, int visible, float maxScore) {
        if (!cpuHasAvx2()) return softmaxExp(scores, visible, maxScore, [](int i) { return i; });
        const int whole = visible & ~7;
        double sum = avx2::expAndSumInEights(scores, whole, maxScore);
        if (whole < visible) {
            float lanes[8] = {};
            for (int i = whole; i < visible; ++i)
                lanes[i - whole] = scores[i] = ggml::expf(scores[i] - maxScore);
            sum += double(ggml::hsum8(lanes));
        }
        return float(1.0 / sum);
    }

    // One (row, head) of attention in llama.cpp's order (no flash attention, F32 cache). Its graph runs
    // over all nKv cache cells with masked ones at exp = 0, so lanes follow the cell index (slot):
    // KQ: ggml_vec_dot_f32 per cell, times scale. Softmax: ggml_v_expf per cell, summed per group of 8
    // cells (hsum) into a double. KQV: a multi-row batch goes through llamafile's sgemm (one 8-lane
    // accumulator per output, lane = slot % 8); a single row through ggml_vec_dot_f32 (4 accumulators,
    // accumulator (slot / 8) % 4). Cells outside the mask add exact zeros there, so they are skipped.
    template <typename SlotOf, typename KeyOf, typename ValueOf>
    static void attendExact(const float* qh, int visible, const SlotOf& slotOf, const KeyOf& keyOf,
                            const ValueOf& valueOf, int headDim, float scale, bool batched,
                            AlignedVector<float>& scratch, float* out) {
        const int nAcc = batched ? 1 : 4;
        scratch.assign(size_t(visible) + size_t(nAcc) * 8 * size_t(headDim), 0.0f);
        float* scores = scratch.data();
        float* acc = scratch.data() + visible; // [nAcc][8 lanes][headDim]
        float maxScore = -INFINITY;
        const bool simd = cpuHasAvx2();
        for (int i = 0; i < visible; ++i) {
            const float* key = keyOf(slotOf(i));
            scores[i] = (simd ? avx2::dotF32Fused(qh, key, headDim) : ggml::dotF32(qh, key, headDim)) * scale;
            maxScore = std::max(maxScore, scores[i]);
        }
        const float inverse = softmaxExp(scores, visible, maxScore, slotOf);
        for (int i = 0; i < visible; ++i) {
            const int slot = slotOf(i);
            const float p = scores[i] * inverse;
            const float* v = valueOf(slot);
            float* a = acc + (int64_t(batched ? 0 : (slot / 8) % 4) * 8 + slot % 8) * headDim;
            if (simd) {
                avx2::fmaInto(a, v, p, headDim);
                continue;
            }
            for (int d = 0; d < headDim; ++d)
                a[d] = std::fma(v[d], p, a[d]);
        }
        float lane[4][8];
        for (int d = 0; d < headDim; ++d) {
            for (int k = 0; k < nAcc; ++k)
                for (int l = 0; l < 8; ++l)
                    lane[k][l] = acc[(int64_t(k) * 8 + l) * headDim + d];
            out[d] = batched ? ggml::hsum8(lane[0]) : ggml::reduce4x8(lane);
        }
    }

    // attendExact for one row (decode) that sees cells 0..visible-1: the scores eight keys at a time
    // (dotsF32FusedTransposed) and P.V with its 4 x 8 accumulators in registers (weightedSum4x8Lanes)
    // instead of rows of accumulators in memory. The same bits.
    template <typename KeyOf, typename ValueOf>
    void attendRowExact(const float* qh, int visible, const KeyOf& keyOf, const ValueOf& valueOf, int headDim,
                        float scale, int thread, float* out) {
        AlignedVector<float>& scores = scratch_[size_t(thread)];
        scores.resize(size_t(visible));
        float maxScore = -INFINITY;
        for (int i0 = 0; i0 < visible; i0 += 8) {
            const int n = std::min(8, visible - i0);
            const float* keys[8];
            for (int j = 0; j < n; ++j)
                keys[j] = keyOf(i0 + j);
            float dots[8];
            avx2::dotsF32FusedTransposed(qh, keys, n, headDim, dots);
            for (int j = 0; j < n; ++j) {
                scores[size_t(i0 + j)] = dots[j] * scale;
                maxScore = std::max(maxScore, scores[size_t(i0 + j)]);
            }
        }
        const float inverse = softmaxExpCausal(scores.data(), visible, maxScore);
        std::vector<const float*>& values = valueRows_[size_t(thread)];
        values.resize(size_t(visible));
        for (int i = 0; i < visible; ++i) {
            values[size_t(i)] = valueOf(i);
            scores[size_t(i)] *= inverse;
        }
        avx2::weightedSum4x8Lanes(values.data(), scores.data(), visible, headDim, out);
    }

    static constexpr int kMaxGroup = 4;
    // Batches of at least this many causal rows read the values transposed (see transposeValues).
    static constexpr int kTransposedValuesMinTokens = 16;

    // Each sequence's values of one layer as [kvHead][headDim][cell] (cells 0..cells-1, rows of
    // `stride` floats), so that P.V becomes dots along contiguous rows (avx2::cellLaneDots) instead of
    // eight-lane sums over rows scattered in the cache: the same bits, with the values read once per
    // row of P rather than once per eight dimensions. Made once per layer for the whole batch. With
    // AVX-512 the rows are kept in pairs (avx512::pairedValueOffset), two rows to a 512-bit register.
    struct TransposedValues {
        int32_t seq = 0;
        int cells = 0;
        int64_t stride = 0;
        size_t offset = 0; // into valuesT_
    };
    std::vector<TransposedValues> transposed_;
    std::vector<float> valuesT_;
    // Whether valuesT_ keeps rows in pairs (avx512::pairedValueOffset) for avx512::pairedCellLaneDots.
    bool pairedValues_ = false;
    // Whether keysT_ holds each sequence's and KV head's keys in blocks of sixteen
    // (avx512::keyBlockOffset), at the values' offsets, for avx512::transposedKeyScores.
    bool transposedKeys_ = false;
    AlignedVector<float> keysT_;

    const TransposedValues& transposedOf(int32_t seq) const {
        for (const TransposedValues& tv : transposed_)
            if (tv.seq == seq) return tv;
        fail(ErrorCategory::Internal, "attention: no transposed values for sequence {}", seq);
    }

    // Causal rows only (no extras): a row sees cells 0..prefix-1 of its sequence. Where transposedKeys_
    // (AVX-512), the keys are laid out too, into keysT_.
    bool transposeValues(const AttentionMask& mask, const KvCache& cache, int layer) {
        const int headDim = cache.headDim();
        const int nHeadsKv = cache.nHeadsKv();
        const int blockTokens = cache.blockTokens();
        if (headDim % 8 != 0) return false;
        pairedValues_ = cpuHasAvx512();
        // With AVX-512 the keys are transposed too, in blocks of 16 cells (transposedKeyScores).
        transposedKeys_ = pairedValues_ && avx512::queryKeyScoresTakes(headDim);
        transposed_.clear();
        for (int t = 0; t < mask.size(); ++t) {
            const int32_t seq = mask.seqIds[size_t(t)];
            auto it = std::find_if(transposed_.begin(), transposed_.end(),
                                   [seq](const TransposedValues& tv) { return tv.seq == seq; });
            if (it == transposed_.end()) it = transposed_.insert(transposed_.end(), TransposedValues{seq});
            it->cells = std::max(it->cells, int(mask.prefix[size_t(t)]));
        }
        size_t total = 0;
        for (TransposedValues& tv : transposed_) {
            if (tv.cells > cache.length(tv.seq)) return false; // attention's own check says so
            const int cellMultiple = transposedKeys_ ? 16 : 8;
            tv.stride = (tv.cells + cellMultiple - 1) / cellMultiple * cellMultiple;
            tv.offset = total;
            total += size_t(nHeadsKv) * size_t(headDim) * size_t(tv.stride);
        }
        valuesT_.resize(total);
        if (transposedKeys_) keysT_.resize(total);
        const int64_t tasks = int64_t(transposed_.size()) * nHeadsKv;
        parallel(tasks, int64_t(total), [&](int64_t begin, int64_t end, int) {
            for (int64_t task = begin; task < end; ++task) {
                const TransposedValues& tv = transposed_[size_t(task / nHeadsKv)];
                const int kvHead = int(task % nHeadsKv);
                const std::vector<int>& table = cache.blockTable(tv.seq);
                const size_t head = tv.offset + size_t(kvHead) * size_t(headDim) * size_t(tv.stride);
                float* dst = valuesT_.data() + head;
                if (transposedKeys_) {
                    float* keys = keysT_.data() + head;
                    for (int cell0 = 0; cell0 < tv.cells; cell0 += blockTokens) {
                        const float* block =
                            cache.blockKeys(layer, table[size_t(cell0 / blockTokens)], kvHead);
                        const int n = std::min(blockTokens, tv.cells - cell0);
                        for (int i = 0; i < n; ++i)
                            for (int d = 0; d < headDim; ++d)
                                keys[avx512::keyBlockOffset(d, cell0 + i, headDim)] =
                                    block[int64_t(i) * headDim + d];
                    }
                }
                for (int cell0 = 0; cell0 < tv.cells; cell0 += blockTokens) {
                    const float* block = cache.blockValues(layer, table[size_t(cell0 / blockTokens)], kvHead);
                    const int n = std::min(blockTokens, tv.cells - cell0);
                    if (pairedValues_) {
                        for (int d = 0; d < headDim; ++d)
                            for (int i = 0; i < n; ++i)
                                dst[avx512::pairedValueOffset(d, cell0 + i, tv.stride)] =
                                    block[int64_t(i) * headDim + d];
                        continue;
                    }
                    for (int d = 0; d < headDim; ++d) {
                        float* row = dst + int64_t(d) * tv.stride + cell0;
                        for (int i = 0; i < n; ++i)
                            row[i] = block[int64_t(i) * headDim + d];
                    }
                }
            }
        });
        return true;
    }
    // Prefill matmuls go over the tokens in blocks of this many, so that a block's activations stay in
    // the core's L2 while every row group passes (512 tokens of 1536 floats would not).
    static constexpr int kTokenBlock = 64;
    // Token blocks run in passes of this many bytes of activations (ProductTiles::setPasses): half the
    // L2 of a current core.
    static constexpr int64_t kPassActivationBytes = 1 << 20;

    // The first float of each pair of rows of one KV head's paired transposed values.
    const float* const* valuePairs(const float* valuesT, int64_t valuesTStride, int headDim, int thread) {
        std::vector<const float*>& pairs = valueRows_[size_t(thread)];
        pairs.resize(size_t(headDim / 2));
        for (int p = 0; p < headDim / 2; ++p)
            pairs[size_t(p)] = valuesT + int64_t(p) * 2 * valuesTStride;
        return pairs.data();
    }

    // attendGroupExact for rows t and t + 1 of one sequence (causal, values transposed in pairs): each
    // row's probabilities as attendGroupExact forms them, then one P.V for both rows' `count` query heads
    // (heads head0 and head1 on), the same bits as two calls.
    void attendRowPairExact(const float* q, int64_t head0, int64_t head1, int count,
                            const AttentionMask& mask, int t, const KvCache& cache, int layer, int kvHead,
                            float scale, int thread, float* out, int headDim) {
        const TransposedValues& tv = transposedOf(mask.seqIds[size_t(t)]);
        const size_t head = tv.offset + size_t(kvHead) * size_t(headDim) * size_t(tv.stride);
        const float* valuesT = valuesT_.data() + head;
        const float* keysT = transposedKeys_ ? keysT_.data() + head : nullptr;
        const int64_t lengths[2] = {mask.prefix[size_t(t)], mask.prefix[size_t(t) + 1]};
        AlignedVector<float>& probabilities = probabilities_[size_t(thread)];
        probabilities.resize(size_t(count) * size_t(lengths[0] + lengths[1]));
        const float* ps[2 * kMaxGroup];
        int64_t queryLengths[2 * kMaxGroup];
        float* outs[2 * kMaxGroup];
        float* rowProbabilities = probabilities.data();
        for (int row = 0; row < 2; ++row) {
            const int64_t rowHead = row == 0 ? head0 : head1;
            attendGroupExact(q + rowHead * headDim, count, mask, t + row, cache, layer, kvHead, scale, thread,
                             nullptr, nullptr, 0, rowProbabilities, keysT);
            for (int g = 0; g < count; ++g) {
                ps[row * count + g] = rowProbabilities + g * lengths[row];
                queryLengths[row * count + g] = lengths[row];
                outs[row * count + g] = out + (rowHead + g) * headDim;
            }
            rowProbabilities += size_t(count) * size_t(lengths[row]);
        }
        avx512::pairedCellLaneDots(valuePairs(valuesT, tv.stride, headDim, thread), headDim / 2, ps,
                                   queryLengths, 2 * count, outs);
    }

    // attendExact (batched) for `count` query heads of one KV head at once: q and out hold the heads
    // one after another ([count][headDim]).
    // valuesT: this sequence's and KV head's values transposed ([headDim][stride], transposeValues), or
    // null to read them from the cache.
    // probabilities: for a causal row, room for [count][visible] floats where the function leaves the
    // softmax's probabilities (what P.V multiplies) instead of going on to P.V.
    // keysT: for a causal row, this sequence's and KV head's keys in blocks of sixteen (keysT_), or null
    // to read them from the cache.
    void attendGroupExact(const float* q, int count, const AttentionMask& mask, int t, const KvCache& cache,
                          int layer, int kvHead, float scale, int thread, float* out,
                          const float* valuesT = nullptr, int64_t valuesTStride = 0,
                          float* probabilities = nullptr, const float* keysT = nullptr) {
        AlignedVector<float>& scratch = scratch_[size_t(thread)];
        const int headDim = cache.headDim();
        const int blockTokens = cache.blockTokens();
        const std::vector<int>& table = cache.blockTable(mask.seqIds[size_t(t)]);
        const int prefix = mask.prefix[size_t(t)];
        const int extraBegin = mask.extraBegin[size_t(t)];
        const int visible = prefix + mask.extraBegin[size_t(t) + 1] - extraBegin;
        auto slotOf = [&](int i) { return i < prefix ? i : mask.extras[size_t(extraBegin + i - prefix)]; };
        // Where each block's rows of this layer and KV head start, looked up once per task.
        std::vector<const float*>& blockK = blockKeys_[size_t(thread)];
        std::vector<const float*>& blockV = blockValues_[size_t(thread)];
        blockK.resize(table.size());
        blockV.resize(table.size());
        for (size_t b = 0; b < table.size(); ++b) {
            blockK[b] = cache.blockKeys(layer, table[b], kvHead);
            blockV[b] = cache.blockValues(layer, table[b], kvHead);
        }
        auto keyOf = [&](int slot) {
            return blockK[size_t(slot / blockTokens)] + int64_t(slot % blockTokens) * headDim;
        };
        auto valueOf = [&](int slot) {
            return blockV[size_t(slot / blockTokens)] + int64_t(slot % blockTokens) * headDim;
        };
        const int64_t stride = int64_t(visible);
        // Every score is written before it is read; the accumulators (the general path's, at the end)
        // start at zero, and only that path pays for clearing them.
        const bool causal = visible == prefix && (valuesT || headDim % 8 == 0);
        const size_t accFloats = causal ? 0 : size_t(count) * 8 * size_t(headDim);
        scratch.resize(size_t(count) * size_t(visible) + accFloats);
        require(!probabilities || visible == prefix, "attention", "probabilities of a row with extras");
        float* scores = probabilities ? probabilities : scratch.data(); // [count][visible]
        float* acc = scratch.data() + size_t(count) * visible;          // [count][8 lanes][headDim]
        std::fill_n(acc, accFloats, 0.0f);
        const float* qs[kMaxGroup];
        for (int g = 0; g < count; ++g)
            qs[g] = q + int64_t(g) * headDim;
        float maxScore[kMaxGroup];
        if (keysT && visible == prefix) {
            avx512::transposedKeyScores(qs, count, keysT, visible, headDim, scale, scores, stride, maxScore);
        } else if (cpuHasAvx512() && avx512::queryKeyScoresTakes(headDim)) {
            std::vector<const float*>& keys = keyRows_[size_t(thread)];
            keys.resize(size_t(visible));
            for (int i = 0; i < visible; ++i)
                keys[size_t(i)] = keyOf(slotOf(i));
            avx512::queryKeyScores(qs, count, keys.data(), visible, headDim, scale, scores, stride, maxScore);
        } else {
            std::fill(maxScore, maxScore + count, -INFINITY);
            for (int i0 = 0; i0 < visible; i0 += 8) { // eight cells at a time, each query against them
                const int n = std::min(8, visible - i0);
                const float* keys[8];
                for (int j = 0; j < n; ++j)
                    keys[j] = keyOf(slotOf(i0 + j));
                float dots[kMaxGroup * 8];
                avx2::queriesDotsF32FusedTransposed(qs, count, keys, n, headDim, dots);
                for (int g = 0; g < count; ++g)
                    for (int j = 0; j < n; ++j) {
                        scores[g * stride + i0 + j] = dots[g * 8 + j] * scale;
                        maxScore[g] = std::max(maxScore[g], scores[g * stride + i0 + j]);
                    }
            }
        }
        float inverse[kMaxGroup];
        for (int g = 0; g < count; ++g) {
            inverse[g] = visible == prefix ? softmaxExpCausal(scores + g * stride, visible, maxScore[g])
                                           : softmaxExp(scores + g * stride, visible, maxScore[g], slotOf);
        }
        if (probabilities || (visible == prefix && valuesT)) {
            // P.V as dots of P's rows with the transposed values' rows: cell i in lane i % 8, the
            // sums reduced as ggml::hsum8, which is what weightedSumLanes8 computes below.
            const float* ps[kMaxGroup];
            for (int g = 0; g < count; ++g) {
                float* p = scores + g * stride;
                for (int i = 0; i < visible; ++i)
                    p[i] *= inverse[g];
                ps[g] = p;
            }
            if (probabilities) return;
            if (pairedValues_) {
                const int64_t lengths[kMaxGroup] = {visible, visible, visible, visible};
                float* outs[kMaxGroup];
                for (int g = 0; g < count; ++g)
                    outs[g] = out + int64_t(g) * headDim;
                avx512::pairedCellLaneDots(valuePairs(valuesT, valuesTStride, headDim, thread), headDim / 2,
                                           ps, lengths, count, outs);
                return;
            }
            std::vector<const float*>& rows = valueRows_[size_t(thread)];
            rows.resize(size_t(headDim));
            for (int d = 0; d < headDim; ++d)
                rows[size_t(d)] = valuesT + int64_t(d) * valuesTStride;
            avx2::cellLaneDots(rows.data(), headDim, ps, count, visible, out, headDim);
            return;
        }
        if (visible == prefix && headDim % 8 == 0) {
            // Causal rows see cells 0..visible-1: the lane of cell i is i % 8, so the accumulators
            // stay in registers (weightedSumLanes8) and each head's P.V is one pass over the values.
            std::vector<const float*>& values = valueRows_[size_t(thread)];
            values.resize(size_t(visible));
            for (int i = 0; i < visible; ++i)
                values[size_t(i)] = valueOf(i);
            for (int g = 0; g < count; ++g) {
                float* p = scores + g * stride;
                for (int i = 0; i < visible; ++i)
                    p[i] *= inverse[g];
                avx2::weightedSumLanes8(values.data(), p, visible, headDim, out + int64_t(g) * headDim);
            }
            return;
        }
        float* accs[kMaxGroup];
        float ps[kMaxGroup];
        for (int i = 0; i < visible; ++i) {
            const int slot = slotOf(i);
            const float* v = valueOf(slot);
            for (int g = 0; g < count; ++g) {
                ps[g] = scores[g * stride + i] * inverse[g];
                accs[g] = acc + (int64_t(g) * 8 + slot % 8) * headDim;
            }
            avx2::fmaIntoMany(accs, v, ps, count, headDim);
        }
        float lane[8];
        for (int g = 0; g < count; ++g)
            for (int d = 0; d < headDim; ++d) {
                for (int l = 0; l < 8; ++l)
                    lane[l] = acc[(int64_t(g) * 8 + l) * headDim + d];
                out[int64_t(g) * headDim + d] = ggml::hsum8(lane);
            }
    }

    void parallel(int64_t n, int64_t work, const ThreadPool::RangeFn& body) {
        if (work < kMinParallelWork)
            body(0, n, 0);
        else
            pool_.parallelFor(n, body);
    }

    // For matmul tiles (each output written by one task, whatever the cut). Prefill, which computes
    // more than it reads, hands tasks out a few at a time, so a thread slowed by its neighbour does not
    // leave the other waiting. Decode streams its weights once: each thread walks its own contiguous
    // share, which keeps its reads one sequential stream for the prefetchers (150 distinct 1536 x 576
    // Q4_1 matrices, one token, 2 threads: 19.1 GB/s with tasks handed out in turn, 24.1 GB/s with one
    // share each), and a thread done early takes the late one's last pieces.
    void parallelTiles(int64_t n, int64_t work, bool streaming, const ThreadPool::RangeFn& body) {
        if (work < kMinParallelWork) {
            body(0, n, 0);
            return;
        }
        const int64_t pieces = int64_t(pool_.threadCount()) * 8;
        const int64_t grain = std::max<int64_t>(1, n / pieces);
        if (streaming)
            pool_.parallelForStealing(n, grain, body);
        else
            pool_.parallelForDynamic(n, grain, body);
    }

    void matmulFloat(const TensorView& w, std::span<const float> x, int nTokens, std::span<float> out) {
        const FloatProduct product{&w, out};
        floatProducts(std::span<const FloatProduct>(&product, 1), x, nTokens);
    }

    // The row tiles (groups of rowTile rows) of up to 8 products of one x, numbered one product after
    // another: product p's are [first[p], first[p + 1]), `total` in all, `work` multiply-adds.
    struct ProductTiles {
        template <typename Product>
        ProductTiles(std::span<const Product> products, int64_t rowTile, int nTokens) {
            require(products.size() < first.size(), "matmuls", "too many products of one x");
            for (size_t p = 0; p < products.size(); ++p) {
                const TensorView& w = *products[p].w;
                first[p] = total;
                total += (w.rowCount() + rowTile - 1) / rowTile;
                work += w.rowCount() * w.rowLength() * nTokens;
            }
            first[products.size()] = total;
        }
        // Tasks run in passes of `blocksPerPass` token blocks: within a pass, tile by tile, each tile
        // against the pass's token blocks in turn. A tile's rows then come from memory once per pass
        // rather than once per token block, while the pass's activations stay in L2. (One pass of one
        // block: token block task / total, then tile task % total.)
        void setPasses(int64_t tokenBlocks, int64_t blocksPerPass) {
            blocks = tokenBlocks;
            perPass = std::clamp<int64_t>(blocksPerPass, 1, std::max<int64_t>(1, tokenBlocks));
        }
        // Where task falls: its product, the tile's index within that product, and the token block.
        struct Place {
            size_t product = 0;
            int64_t tile = 0;
            int64_t tokenBlock = 0;
        };
        Place place(int64_t task) const {
            const int64_t pass = task / (total * perPass);
            const int64_t inPass = task % (total * perPass);
            const int64_t passBlocks = perPass == 1 ? 1 : std::min(perPass, blocks - pass * perPass);
            const int64_t anyTile = inPass / passBlocks;
            Place at{0, anyTile, pass * perPass + inPass % passBlocks};
            while (anyTile >= first[at.product + 1])
                ++at.product;
            at.tile -= first[at.product];
            return at;
        }
        std::array<int64_t, 9> first{};
        int64_t total = 0, work = 0;
        int64_t blocks = 1, perPass = 1;
    };

    struct FloatProduct {
        const TensorView* w;
        std::span<float> out; // [nTokens][rows]
    };

    // out = w · x for products of one x whose weights have no integer dot (F16, BF16, F32, and formats
    // decoded to F32): every product's row groups in one parallel region, and F16's fp16 copy of x made
    // once (q, k and v wake the pool once, not three times). Each output is what matmul gives alone.
    void floatProducts(std::span<const FloatProduct> products, std::span<const float> x, int nTokens) {
        const int64_t cols = products[0].w->rowLength();
        if (!cpuHasAvx2()) {
            for (const FloatProduct& p : products)
                matmulFloatScalar(*p.w, x, nTokens, p.out);
            return;
        }
        // Tiles of 4 rows x 3 tokens (8 rows x 1 token in decode) straight from the stored rows, in
        // groups of kRowTile rows so that a group's rows stay in cache while every token passes.
        // Token tiles measured on SmolLM2 F16 pp512: 1 token 164 tok/s, 2 tokens 202, 3 tokens 208.
        // Block formats first decode the group's rows into the thread's scratch (once per token
        // block) and run as F32: each output is still dotF32 of the dequantized row (the same bits).
        constexpr int64_t kRowTile = 16;
        constexpr int kTokenTile = 3;
        // F16 weights multiply fp16-rounded activations, as ggml does (its F16 matmul converts them
        // first): prefill then runs llamafile's tiles in this order on those values widened back to
        // float once (roundedX_), decode ggml_vec_dot_f16's order on the fp16 row (halfX_,
        // f16DotsGgml). The float reference path keeps float x.
        auto halfX = [&](const TensorView& w) {
            return w.dtype == DType::F16 && options_.quantizedActivations;
        };
        ProductTiles groupsOf(products, kRowTile, nTokens);
        const int64_t groups = groupsOf.total;
        bool anyHalf = false;
        for (const FloatProduct& p : products) {
            require(p.w->rowLength() == cols, "matmuls", "products of one x differ in row length");
            anyHalf = anyHalf || halfX(*p.w);
        }
        // With AVX-512, F16 prefill runs llamafile's 16-lane tiles of 4 rows x 6 tokens (as llama.cpp
        // built for such a processor does); with AVX2 its 8-lane tiles of 4 x 3.
        const bool wideHalf = anyHalf && nTokens > 1 && cols % 16 == 0 && cpuHasAvx512();
        const bool rounded = anyHalf && nTokens > 1;
        if (anyHalf) {
            if (rounded)
                roundedX_.resize(x.size());
            else
                halfX_.resize(x.size());
            parallel(nTokens, int64_t(x.size()) * 2, [&](int64_t begin, int64_t end, int) {
                const int64_t from = begin * cols, count = (end - begin) * cols;
                if (wideHalf)
                    avx512::roundThroughFp16(x.data() + from, roundedX_.data() + from, count);
                else if (rounded)
                    avx2::roundThroughFp16(x.data() + from, roundedX_.data() + from, count);
                else
                    avx2::toFp16(x.data() + from, halfX_.data() + from, count);
            });
        }
        // Token blocks of whole token tiles (63 or 60 ~ kTokenBlock): no 1-token tile inside a batch.
        const int tokenTile = wideHalf ? 6 : kTokenTile;
        const int floatTokenBlock = kTokenBlock / tokenTile * tokenTile;
        const int64_t tokenBlocks = (nTokens + floatTokenBlock - 1) / floatTokenBlock;
        groupsOf.setPasses(tokenBlocks,
                           kPassActivationBytes / (int64_t(floatTokenBlock) * cols * int64_t(sizeof(float))));
        parallelTiles(
            tokenBlocks * groups, groupsOf.work, nTokens == 1, [&](int64_t begin, int64_t end, int slot) {
                const void* rowPointers[8];
                float tile[8];
                const int rowStep = nTokens == 1 ? 8 : 4; // decode: 8 rows per call, all in flight
                // Block formats' rows decoded ([kRowTile][cols]), or AVX-512 F16 rows widened ([4][cols]).
                AlignedVector<float>& decoded = scratch_[size_t(slot)];
                if (wideHalf) decoded.resize(size_t(4 * cols));
                for (int64_t task = begin; task < end; ++task) {
                    const ProductTiles::Place at = groupsOf.place(task);
                    const size_t p = at.product;
                    const TensorView& w = *products[p].w;
                    const std::span<float> out = products[p].out;
                    const int64_t rows = w.rowCount();
                    const bool stored =
                        w.dtype == DType::F32 || w.dtype == DType::F16 || w.dtype == DType::BF16;
                    // Decode of LQ3_64 dots straight from the stored rows, decoding in registers (same bits).
                    const bool fused = w.dtype == DType::LQ3_64 && nTokens == 1;
                    const bool half = halfX(w);
                    // AVX2 prefill of F16 and BF16 rows: widened to float once per task rather than at
                    // every step of every token tile (exact, so the same bits; pp512 +6% to +17%). The
                    // AVX-512 F16 tile measured 8-19% slower on widened rows, so it widens as it goes.
                    const bool widen16 = nTokens > 1 && (w.dtype == DType::BF16 ||
                                                         (w.dtype == DType::F16 && !(half && wideHalf)));
                    const bool decode = (!stored && !fused) || widen16;
                    const uint64_t stride = decode ? uint64_t(cols) * sizeof(float) : w.rowStride();
                    const DType tileType = stored && !decode ? w.dtype : DType::F32;
                    const int64_t g = at.tile;
                    const int tBegin = int(at.tokenBlock * floatTokenBlock);
                    const int tEnd = std::min(nTokens, tBegin + floatTokenBlock);
                    const int64_t r1 = std::min(rows, (g + 1) * kRowTile);
                    if (decode) {
                        decoded.resize(size_t(kRowTile * cols));
                        for (int64_t r = g * kRowTile; r < r1; ++r) {
                            float* row = decoded.data() + (r - g * kRowTile) * cols;
                            if (widen16)
                                avx2::toFloat(w.dtype, w.row(r), row, cols);
                            else
                                decodeRow(w.dtype, w.row(r), row, cols);
                        }
                    }
                    const uint8_t* group = decode ? reinterpret_cast<const uint8_t*>(decoded.data())
                                                  : w.data + uint64_t(g * kRowTile) * w.rowStride();
                    // Rows outer, as llamafile's tiles run: a tile's rows stay in L1 while the token
                    // block's activations stream past (2-3% faster than tokens outer on one thread).
                    for (int64_t r0 = g * kRowTile; r0 < r1; r0 += rowStep) {
                        const int nr = int(std::min<int64_t>(rowStep, r1 - r0));
                        for (int r = 0; r < nr; ++r)
                            rowPointers[r] = group + uint64_t(r0 + r - g * kRowTile) * stride;
                        if (nTokens > 1) { // prefill: the token block's tiles in one call
                            float* blockOut = out.data() + int64_t(tBegin) * rows + r0;
                            if (half && wideHalf)
                                avx512::f16DotsRun(rowPointers, nr, roundedX_.data() + int64_t(tBegin) * cols,
                                                   cols, tEnd - tBegin, cols, blockOut, rows, decoded.data());
                            else if (half)
                                avx2::floatDotsRun(tileType, rowPointers, nr,
                                                   roundedX_.data() + int64_t(tBegin) * cols, cols,
                                                   tEnd - tBegin, cols, blockOut, rows);
                            else
                                avx2::floatDotsRun(tileType, rowPointers, nr,
                                                   x.data() + int64_t(tBegin) * cols, cols, tEnd - tBegin,
                                                   cols, blockOut, rows);
                            continue;
                        }
                        float* rowsOut = out.data() + r0;
                        if (fused) {
                            avx2::lq3Dots(reinterpret_cast<const uint8_t* const*>(rowPointers), nr, x.data(),
                                          cols, tile);
                            std::copy_n(tile, nr, rowsOut);
                        } else if (half) {
                            avx2::f16DotsGgml(rowPointers, nr, halfX_.data(), cols, rowsOut);
                        } else {
                            const float* token = x.data();
                            avx2::floatDots(tileType, rowPointers, nr, &token, 1, cols, rowsOut, rows);
                        }
                    }
                }
            });
    }

    // matmulFloat without AVX2: each row dequantized once, dotted with every token.
    void matmulFloatScalar(const TensorView& w, std::span<const float> x, int nTokens, std::span<float> out) {
        const int64_t cols = w.rowLength();
        const int64_t rows = w.rowCount();
        parallel(rows, rows * cols * nTokens, [&](int64_t begin, int64_t end, int thread) {
            AlignedVector<float>& row = scratch_[size_t(thread)];
            row.resize(size_t(cols));
            for (int64_t r = begin; r < end; ++r) {
                const float* wr = reinterpret_cast<const float*>(w.row(r));
                if (w.dtype != DType::F32) {
                    dequantizeRow(w.dtype, w.row(r), row.data(), cols);
                    wr = row.data();
                }
                for (int t = 0; t < nTokens; ++t)
                    out[size_t(t * rows + r)] = dotF32(wr, x.data() + t * cols, cols);
            }
        });
    }

    void matmulQuantized(const TensorView& w, std::span<const float> x, int nTokens, std::span<float> out) {
        quantizeActivationRows(x, nTokens, w.rowLength());
        const QuantizedProduct product{&w, out};
        quantizedProducts(std::span<const QuantizedProduct>(&product, 1), nTokens);
    }

    // x's rows as 8-bit activation blocks in activations_ (once for every product of the same x).
    void quantizeActivationRows(std::span<const float> x, int nTokens, int64_t cols) {
        require(cols % kActivationBlock == 0, "matmul", "quantized weight row is not whole blocks");
        const int64_t blocks = cols / kActivationBlock;
        activations_.resize(size_t(nTokens * blocks));
        const bool rowScale = perToken();
        parallel(nTokens, int64_t(nTokens) * cols * 4, [&](int64_t begin, int64_t end, int) {
            for (int64_t t = begin; t < end; ++t)
                if (rowScale)
                    quantizeActivationsPerToken(x.data() + t * cols, cols, activations_.data() + t * blocks);
                else
                    quantizeActivations(x.data() + t * cols, cols, activations_.data() + t * blocks);
        });
    }

    struct QuantizedProduct {
        const TensorView* w;
        std::span<float> out; // [nTokens][rows]
    };

    void matmulKQuantized(const TensorView& w, std::span<const float> x, int nTokens, std::span<float> out) {
        quantizeKActivationRows(x, nTokens, w.rowLength());
        const QuantizedProduct product{&w, out};
        kQuantProducts(std::span<const QuantizedProduct>(&product, 1), nTokens);
    }

    // kActivations_'s tokens [0, end) in groups of groupTokens (the last one may be short), transposed
    // for the token-lanes kernels: group g's super-blocks at out[g * superBlocks ...].
    template <typename Block, typename Transpose>
    void transposeKActivationGroups(std::vector<Block>& out, int groupTokens, int end, int64_t superBlocks,
                                    Transpose transpose) {
        const int64_t groups = (end + groupTokens - 1) / groupTokens;
        out.resize(size_t(groups * superBlocks));
        if (groups == 0) return;
        parallel(groups, groups * groupTokens * superBlocks * kKSuperBlock,
                 [&](int64_t begin, int64_t last, int) {
                     for (int64_t g = begin; g < last; ++g) {
                         const int64_t t0 = g * groupTokens;
                         transpose(kActivations_.data() + t0 * superBlocks, superBlocks,
                                   int(std::min<int64_t>(groupTokens, end - t0)), superBlocks,
                                   out.data() + g * superBlocks);
                     }
                 });
    }

    // x's rows as block_q8_K in kActivations_ (once for every product of the same x).
    void quantizeKActivationRows(std::span<const float> x, int nTokens, int64_t cols) {
        require(cols % kKSuperBlock == 0, "matmul", "K-quant weight row is not whole super-blocks");
        const int64_t superBlocks = cols / kKSuperBlock;
        kActivations_.resize(size_t(nTokens * superBlocks));
        parallel(nTokens, int64_t(nTokens) * cols * 4, [&](int64_t begin, int64_t end, int) {
            for (int64_t t = begin; t < end; ++t)
                quantizeActivationsK(x.data() + t * cols, cols, kActivations_.data() + t * superBlocks);
        });
    }

    // out = w . x for K-quant weights, x already in kActivations_: tiles of 16 rows x a token block.
    // Decode runs each row against one token (avx2::kQuantDots, unpacking the row each time). AVX-512
    // prefill unpacks the tile's rows to int16 once and runs its token block in groups of 16 tokens, one
    // per lane (avx512::kQuantLanes, on activations transposed once); a last group of fewer than
    // kMinLaneTokens tokens takes panels of 4 rows x 6 tokens (avx512::kQuantPanel, on activations widened
    // once) and a last odd token avx2::kQuantDots. AVX2 prefill does the same in groups of 8 tokens
    // (avx2::kQuantQuads), a last group of fewer than kMinQuadTokens taking avx2::kQuantDots. All give
    // kQuantDotScalar's bits.
    void kQuantProducts(std::span<const QuantizedProduct> products, int nTokens) {
        static_assert(kTokenBlock % avx512::kLaneTokens == 0 &&
                      kTokenBlock <= avx512::kLaneGroups * avx512::kLaneTokens &&
                      kTokenBlock % avx2::kQuadTokens == 0);
        const int64_t superBlocks = products[0].w->rowLength() / kKSuperBlock;
        constexpr int64_t kRowTile = 16;
        static_assert(kRowTile <= avx512::kMaxLaneRows && kRowTile <= avx2::kMaxQuadRows);
        ProductTiles tilesOf(products, kRowTile, nTokens);
        const int64_t tiles = tilesOf.total;
        const int64_t tokenBlocks = (nTokens + kTokenBlock - 1) / kTokenBlock;
        const bool simd = cpuHasAvx2();
        const bool wide = nTokens > 1 && cpuHasAvx512();
        // Tokens from panelBegin on are too few for a group of lanes.
        const int lastGroup = nTokens % avx512::kLaneTokens;
        const int panelBegin =
            lastGroup > 0 && lastGroup < avx512::kMinLaneTokens ? nTokens - lastGroup : nTokens;
        const bool quads = nTokens > 1 && simd && !wide;
        // AVX2: tokens from quadEnd on are too few for a group of quads.
        const int lastQuadGroup = nTokens % avx2::kQuadTokens;
        const int quadEnd =
            lastQuadGroup > 0 && lastQuadGroup < avx2::kMinQuadTokens ? nTokens - lastQuadGroup : nTokens;
        if (quads)
            transposeKActivationGroups(kQuadsT_, avx2::kQuadTokens, quadEnd, superBlocks,
                                       avx2::transposeKQuads);
        if (wide) {
            transposeKActivationGroups(kActivationsT_, avx512::kLaneTokens, panelBegin, superBlocks,
                                       avx512::transposeKActivations);
            kActivations16_.resize(size_t((nTokens - panelBegin) * superBlocks * kKSuperBlock));
            avx512::widenKActivations(kActivations_.data() + int64_t(panelBegin) * superBlocks,
                                      (nTokens - panelBegin) * superBlocks, kActivations16_.data());
        }
        for (UnpackedKRows& tile : unpackedKRows_) // the weights may have changed since the last product
            tile.layout = UnpackedKRows::Layout::None;
        const int64_t tokenBytes =
            superBlocks *
            int64_t(sizeof(KActivationBlock) + (wide    ? sizeof(avx512::KLaneBlock) / avx512::kLaneTokens
                                                : quads ? sizeof(avx2::KQuadBlock) / avx2::kQuadTokens
                                                        : 0));
        tilesOf.setPasses(tokenBlocks, kPassActivationBytes / (kTokenBlock * tokenBytes));
        parallelTiles(
            tokenBlocks * tiles, tilesOf.work, nTokens == 1, [&](int64_t begin, int64_t end, int slot) {
                float dots[4];
                for (int64_t task = begin; task < end; ++task) {
                    const ProductTiles::Place at = tilesOf.place(task);
                    const TensorView& w = *products[at.product].w;
                    const std::span<float> out = products[at.product].out;
                    const int64_t rows = w.rowCount();
                    int tBegin = int(at.tokenBlock * kTokenBlock);
                    const int tEnd = std::min(nTokens, tBegin + kTokenBlock);
                    const int64_t r0 = at.tile * kRowTile, r1 = std::min(rows, r0 + kRowTile);
                    const uint64_t stride = w.rowStride();
                    int64_t rowsDone = r0; // rows before this one have every token from tBegin on
                    UnpackedKRows& tile = unpackedKRows_[size_t(slot)];
                    const int laneEnd = std::min(tEnd, panelBegin);
                    if (wide && tBegin < laneEnd) {
                        tile.unpack(w, r0, int(r1 - r0), superBlocks, UnpackedKRows::Layout::Lanes);
                        avx512::kQuantLanes(
                            w.dtype, tile.rows16.data(), tile.scales.data(), int(r1 - r0),
                            kActivationsT_.data() + tBegin / avx512::kLaneTokens * superBlocks,
                            laneEnd - tBegin, superBlocks, out.data() + int64_t(tBegin) * rows + r0, rows,
                            r1 < rows ? w.row(r1) : nullptr,
                            uint64_t(std::min(rows, r1 + kRowTile) - r1) * stride);
                        tBegin = laneEnd;
                    }
                    const int quadsEnd = std::min(tEnd, quadEnd);
                    if (quads && tBegin < quadsEnd) {
                        constexpr int kQuadsPerCall = avx2::kQuadGroups * avx2::kQuadTokens;
                        tile.unpack(w, r0, int(r1 - r0), superBlocks, UnpackedKRows::Layout::Quads);
                        for (int t0 = tBegin; t0 < quadsEnd; t0 += kQuadsPerCall)
                            avx2::kQuantQuads(w.dtype, tile.codes.data(), tile.quadScales.data(),
                                              int(r1 - r0),
                                              kQuadsT_.data() + t0 / avx2::kQuadTokens * superBlocks,
                                              std::min(kQuadsPerCall, quadsEnd - t0), superBlocks,
                                              out.data() + int64_t(t0) * rows + r0, rows);
                        tBegin = quadsEnd;
                    }
                    if (wide && tBegin < tEnd) {
                        const int64_t panelRows = (r1 - r0) / avx512::kPanelRows * avx512::kPanelRows;
                        tile.unpack(w, r0, int(panelRows), superBlocks, UnpackedKRows::Layout::Panel);
                        const int pairedEnd = tBegin + (tEnd - tBegin) / 2 * 2;
                        for (int t0 = tBegin; t0 < pairedEnd; t0 += avx512::kPanelTokens)
                            for (int64_t r = 0; r < panelRows; r += avx512::kPanelRows)
                                avx512::kQuantPanel(
                                    w.dtype, tile.rows16.data() + r * superBlocks * kKSuperBlock,
                                    tile.scales.data() + r * superBlocks,
                                    kActivations_.data() + int64_t(t0) * superBlocks,
                                    kActivations16_.data() +
                                        int64_t(t0 - panelBegin) * superBlocks * kKSuperBlock,
                                    superBlocks, std::min(avx512::kPanelTokens, pairedEnd - t0), superBlocks,
                                    out.data() + int64_t(t0) * rows + r0 + r, rows);
                        if (pairedEnd < tEnd) // an odd last token: row by row
                            for (int64_t r = r0; r < r0 + panelRows; ++r)
                                avx2::kQuantDots(w.dtype, w.row(r),
                                                 kActivations_.data() + int64_t(pairedEnd) * superBlocks,
                                                 superBlocks, 1, superBlocks,
                                                 out.data() + int64_t(pairedEnd) * rows + r);
                        rowsDone = r0 + panelRows;
                    }
                    // Decode streams each row once: the row kRowsAhead on is fetched while this one is
                    // multiplied (Llama-3.2-1B-shaped Q4_K_M tg32 11-12 -> 14-16.5 tokens/s, SmolLM2 Q6_K
                    // tg128 107 -> 140; 1, 2 and 8 rows ahead measured no better than 4).
                    constexpr int64_t kRowsAhead = 4;
                    constexpr int kTokenStep = 4; // avx2::kQuantDots's most
                    for (int t0 = tBegin; t0 < tEnd; t0 += kTokenStep)
                        for (int64_t r = rowsDone; r < r1; ++r) {
                            if (nTokens == 1 && r + kRowsAhead < rows) {
                                const uint8_t* next = w.row(r + kRowsAhead);
                                for (uint64_t b = 0; b < stride; b += 64)
                                    __builtin_prefetch(next + b, 0, 3);
                            }
                            const int m = std::min(kTokenStep, tEnd - t0);
                            const KActivationBlock* xs = kActivations_.data() + int64_t(t0) * superBlocks;
                            if (simd) {
                                avx2::kQuantDots(w.dtype, w.row(r), xs, superBlocks, m, superBlocks, dots);
                            } else {
                                for (int i = 0; i < m; ++i)
                                    dots[i] =
                                        kQuantDotScalar(w.dtype, w.row(r), xs + i * superBlocks, superBlocks);
                            }
                            for (int i = 0; i < m; ++i)
                                out[size_t(int64_t(t0 + i) * rows + r)] = dots[i];
                        }
                }
            });
    }

    // out = w · x for each product, x already in activations_: every product's row tiles in one parallel
    // region (q, k and v wake the pool once, not three times).
    void quantizedProducts(std::span<const QuantizedProduct> products, int nTokens) {
        const int64_t cols = products[0].w->rowLength();
        const int64_t blocks = cols / kActivationBlock;
        if (!cpuHasAvx2()) {
            for (const QuantizedProduct& p : products) {
                const TensorView& w = *p.w;
                const int64_t rows = w.rowCount();
                parallel(rows, rows * cols * nTokens, [&](int64_t begin, int64_t end, int) {
                    for (int64_t r = begin; r < end; ++r)
                        for (int t = 0; t < nTokens; ++t)
                            p.out[size_t(t * rows + r)] = quantizedDotScalar(
                                w.dtype, w.row(r), activations_.data() + t * blocks, blocks);
                });
            }
            return;
        }
        // Tiles of kRowTile rows x 4 tokens: the rows' blocks and the tokens' activations stay in L1
        // while every pair meets; each output still sums its blocks in order (the same bits). Prefill of
        // Q4_0, Q5_0 and Q8_0 runs 4 rows x 2 tokens at a time instead (quantizedDots4Rows: 1536x576 x
        // 128 tokens on one thread, Q8_0 3.6 ms against 4.3 row by row; 4 x 8 with AVX-512), on int16
        // operands with AVX2 from 16 tokens on (int16TileProducts: 1536x576 x 60 tokens, Q8_0, one
        // thread, 1.69 ms against 2.05 for the 8-bit tile), Q4_1 too (row by row before: SmolLM2 Q4_1
        // pp512 1.19-1.66x in six alternating pairs).
        constexpr int64_t kRowTile = 16;
        ProductTiles tilesOf(products, kRowTile, nTokens);
        const int64_t tiles = tilesOf.total;
        const bool wide = cpuHasAvx512();
        // Widening the rows costs about as much as running them against 16 tokens with the 8-bit tile
        // (SmolLM2 Q8_0 pp16 the same, pp4 0.85x), so shorter token blocks keep that tile.
        constexpr int kInt16TileTokens = 16;
        auto int16Tile = [&](DType type) {
            return nTokens >= kInt16TileTokens && !(wide && avx512::hasIntegerKernels(type)) &&
                   avx2::int16TileSupported(type);
        };
        auto int16Product = [&](const QuantizedProduct& p) { return int16Tile(p.w->dtype); };
        const bool anyInt16 = std::any_of(products.begin(), products.end(), int16Product);
        if (anyInt16) widenActivationRows(nTokens, blocks);
        // When every product takes the int16 tile, token blocks as long as 512 KiB of widened activations
        // allow (64 to 256 tokens): each task widens its rows once, and that took 4.7% of a SmolLM2 Q8_0
        // pp512 at 64 tokens.
        const int tokenBlock =
            std::all_of(products.begin(), products.end(), int16Product)
                ? int(std::clamp<int64_t>((512 << 10) / (blocks * int64_t(sizeof(avx2::Int16Block))),
                                          kTokenBlock, 4 * kTokenBlock))
                : kTokenBlock;
        const int64_t tokenBlocks = (nTokens + tokenBlock - 1) / tokenBlock;
        const int64_t tasks = tokenBlocks * tiles;
        const int64_t tokenBytes =
            blocks * int64_t(sizeof(ActivationBlock) + (anyInt16 ? sizeof(avx2::Int16Block) : 0));
        tilesOf.setPasses(tokenBlocks, kPassActivationBytes / (tokenBlock * tokenBytes));
        parallelTiles(tasks, tilesOf.work, nTokens == 1, [&](int64_t begin, int64_t end, int slot) {
            float dots[4];
            for (int64_t task = begin; task < end; ++task) {
                const ProductTiles::Place at = tilesOf.place(task);
                const size_t p = at.product;
                const TensorView& w = *products[p].w;
                const std::span<float> out = products[p].out;
                const int64_t rows = w.rowCount();
                const uint64_t rowStride = w.rowStride();
                const int64_t tile = at.tile;
                const int tBegin = int(at.tokenBlock * tokenBlock);
                const int tEnd = std::min(nTokens, tBegin + tokenBlock);
                const int64_t r0 = tile * kRowTile, r1 = std::min(rows, r0 + kRowTile);
                const bool wideFormat = wide && avx512::hasIntegerKernels(w.dtype);
                if (int16Tile(w.dtype) && tEnd - tBegin >= kInt16TileTokens) {
                    int16TileProducts(w, r0, r1, tBegin, tEnd, blocks, out, slot);
                    continue;
                }
                if (nTokens > 1 && (wideFormat || avx2::quantizedDots4RowsSupported(w.dtype))) {
                    // 4 rows x 2 tokens (llamafile's AVX2 tile; 4 x 8 with AVX-512), any rest row by row
                    const int tokenTile = wideFormat ? 8 : 2;
                    for (int t0 = tBegin; t0 < tEnd; t0 += tokenTile) {
                        const int n = std::min(tokenTile, tEnd - t0);
                        int64_t r = r0;
                        for (; r + 4 <= r1; r += 4) {
                            const uint8_t* tileRows[4];
                            for (int i = 0; i < 4; ++i)
                                tileRows[i] = w.data + uint64_t(r + i) * rowStride;
                            const ActivationBlock* xs = activations_.data() + int64_t(t0) * blocks;
                            float* tileOut = out.data() + int64_t(t0) * rows + r;
                            if (wideFormat)
                                avx512::quantizedDots4Rows(w.dtype, tileRows, xs, blocks, n, blocks, tileOut,
                                                           rows);
                            else
                                avx2::quantizedDots4Rows(w.dtype, tileRows, xs, blocks, n, blocks, tileOut,
                                                         rows);
                        }
                        for (; r < r1; ++r)
                            for (int t = t0; t < t0 + n; t += 4) {
                                const int m = std::min(4, t0 + n - t);
                                avx2::quantizedDots(w.dtype, w.data + uint64_t(r) * rowStride,
                                                    activations_.data() + int64_t(t) * blocks, blocks, m,
                                                    blocks, dots);
                                for (int i = 0; i < m; ++i)
                                    out[size_t(int64_t(t + i) * rows + r)] = dots[i];
                            }
                    }
                    continue;
                }
                if (nTokens == 1) { // decode: the tile's rows in one call
                    const uint8_t* first = w.data + uint64_t(r0) * rowStride;
                    if (wideFormat)
                        avx512::quantizedDotsRows(w.dtype, first, rowStride, r1 - r0, activations_.data(),
                                                  blocks, out.data() + r0);
                    else
                        avx2::quantizedDotsRows(w.dtype, first, rowStride, r1 - r0, activations_.data(),
                                                blocks, out.data() + r0);
                    continue;
                }
                for (int t0 = tBegin; t0 < tEnd; t0 += 4) {
                    const int n = std::min(4, tEnd - t0);
                    for (int64_t r = r0; r < r1; ++r) {
                        avx2::quantizedDots(w.dtype, w.data + uint64_t(r) * rowStride,
                                            activations_.data() + int64_t(t0) * blocks, blocks, n, blocks,
                                            dots);
                        for (int i = 0; i < n; ++i)
                            out[size_t(int64_t(t0 + i) * rows + r)] = dots[i];
                    }
                }
            }
        });
    }

    // activations_ widened to int16 for avx2::int16Dots4Rows, all nTokens x blocks of them.
    void widenActivationRows(int nTokens, int64_t blocks) {
        int16Activations_.resize(activations_.size());
        parallel(nTokens, int64_t(nTokens) * blocks * 32, [&](int64_t begin, int64_t end, int) {
            avx2::widenActivations(activations_.data() + begin * blocks, (end - begin) * blocks,
                                   int16Activations_.data() + begin * blocks);
        });
    }

    // Rows [r0, r1) of w against tokens [tBegin, tEnd) on AVX2 (Q4_0, Q5_0, Q8_0, Q4_1 prefill): the rows are
    // widened to int16 once here, in groups of four, then run 4 rows x 2 tokens at a time against
    // int16Activations_ (avx2::int16Dots4Rows); rows past a multiple of four run row by row. All of it
    // gives quantizedDotScalar's bits.
    void int16TileProducts(const TensorView& w, int64_t r0, int64_t r1, int tBegin, int tEnd, int64_t blocks,
                           std::span<float> out, int slot) {
        Int16Rows& tile = int16Rows_[size_t(slot)];
        const int64_t quads = (r1 - r0) / 4, rows = w.rowCount();
        const bool offset = w.dtype == DType::Q4_1;
        tile.blocks.resize(size_t(quads * 4 * blocks));
        tile.scales.resize(tile.blocks.size());
        tile.mins.resize(offset ? tile.blocks.size() : 0);
        auto minsOf = [&](int64_t q) { return offset ? tile.mins.data() + q * 4 * blocks : nullptr; };
        for (int64_t q = 0; q < quads; ++q) {
            const uint8_t* quad[4];
            for (int i = 0; i < 4; ++i)
                quad[i] = w.row(r0 + 4 * q + i);
            avx2::widenRows4(w.dtype, quad, blocks, tile.blocks.data() + q * 4 * blocks,
                             tile.scales.data() + q * 4 * blocks, minsOf(q));
        }
        for (int t0 = tBegin; t0 < tEnd; t0 += 2) {
            const int n = std::min(2, tEnd - t0);
            for (int64_t q = 0; q < quads; ++q)
                avx2::int16Dots4Rows(tile.blocks.data() + q * 4 * blocks, tile.scales.data() + q * 4 * blocks,
                                     minsOf(q), int16Activations_.data() + int64_t(t0) * blocks,
                                     activations_.data() + int64_t(t0) * blocks, blocks, n, blocks,
                                     out.data() + int64_t(t0) * rows + r0 + 4 * q, rows);
        }
        float dots[4];
        for (int64_t r = r0 + 4 * quads; r < r1; ++r)
            for (int t = tBegin; t < tEnd; t += 4) {
                const int m = std::min(4, tEnd - t);
                avx2::quantizedDots(w.dtype, w.row(r), activations_.data() + int64_t(t) * blocks, blocks, m,
                                    blocks, dots);
                for (int i = 0; i < m; ++i)
                    out[size_t(int64_t(t + i) * rows + r)] = dots[i];
            }
    }

    struct Int16Rows { // per pool thread: a row tile widened for avx2::int16Dots4Rows
        AlignedVector<avx2::Int16Block> blocks;
        std::vector<float> scales;
        std::vector<float> mins; // Q4_1's
    };

    CpuBackendOptions options_;
    ThreadPool pool_;
    std::vector<AlignedVector<float>> scratch_; // per pool thread, cache-line aligned
    std::vector<uint16_t> halfX_;               // decode's activations in fp16 (F16 weights)
    AlignedVector<float> roundedX_;             // a prefill's, rounded through fp16, as floats
    // Per pool thread: attention's key and value rows and block starts.
    std::vector<std::vector<const float*>> valueRows_{size_t(pool_.threadCount())};
    std::vector<std::vector<const float*>> blockKeys_{size_t(pool_.threadCount())};
    std::vector<std::vector<const float*>> keyRows_{size_t(pool_.threadCount())};
    std::vector<AlignedVector<float>> probabilities_{size_t(pool_.threadCount())}; // attendRowPairExact's
    std::vector<std::vector<const float*>> blockValues_{size_t(pool_.threadCount())};
    std::vector<ActivationBlock> activations_;
    AlignedVector<avx2::Int16Block> int16Activations_;
    std::vector<Int16Rows> int16Rows_;
    std::vector<KActivationBlock> kActivations_;
    std::vector<avx512::KLaneBlock> kActivationsT_; // transposed in groups of 16 tokens (AVX-512 prefill)
    std::vector<avx2::KQuadBlock> kQuadsT_;         // transposed in groups of 8 tokens (AVX2 prefill)
    AlignedVector<int16_t> kActivations16_;         // the last few tokens widened (AVX-512 prefill)
    // A thread's last tile of K-quant rows unpacked for the AVX-512 or AVX2 prefill kernels. Within a pass a
    // tile meets its token blocks one after another, mostly on one thread, which then unpacks it once.
    struct UnpackedKRows {
        enum class Layout { None, Panel, Lanes, Quads };
        AlignedVector<int16_t> rows16;                // Panel, Lanes
        std::vector<avx512::KRowScales> scales;       // Panel, Lanes
        AlignedVector<uint8_t> codes;                 // Quads
        std::vector<avx2::KQuadRowScales> quadScales; // Quads
        const uint8_t* first = nullptr;               // the rows' stored bytes
        int rows = 0;
        Layout layout = Layout::None;

        void unpack(const TensorView& w, int64_t r0, int nRows, int64_t superBlocks, Layout wanted) {
            if (layout == wanted && first == w.row(r0) && rows == nRows) return;
            if (wanted == Layout::Quads) {
                codes.resize(size_t(nRows * superBlocks * kKSuperBlock));
                quadScales.resize(size_t(nRows * superBlocks));
                avx2::unpackKQuadRows(w.dtype, w.row(r0), w.rowStride(), nRows, superBlocks, codes.data(),
                                      quadScales.data());
            } else {
                rows16.resize(size_t(nRows * superBlocks * kKSuperBlock));
                scales.resize(size_t(nRows * superBlocks));
                avx512::unpackKRows(
                    w.dtype, w.row(r0), w.rowStride(), nRows, superBlocks, rows16.data(), scales.data(),
                    wanted == Layout::Panel ? avx512::KRowOrder::Panel : avx512::KRowOrder::SuperBlockMajor);
            }
            first = w.row(r0);
            rows = nRows;
            layout = wanted;
        }
    };
    std::vector<UnpackedKRows> unpackedKRows_{size_t(pool_.threadCount())};
    ActivationQuantization activationMode_ = ActivationQuantization::PerBlock;
};

} // namespace

std::unique_ptr<Backend> makeCpuBackend(const CpuBackendOptions& options) {
    return std::make_unique<CpuBackend>(options);
}

} // namespace lathe
