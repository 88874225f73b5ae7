#pragma once
// Backend: the compute ops of a Llama-family forward pass behind one interface. The CPU backend
// (backend/cpu) is the reference every other implementation (SIMD kernels, CUDA) is tested against,
// op by op, over shapes, dtypes and weight formats.
//
// Two forms of each op: on host spans (the reference form, used by the op tests) and on Activations
// buffers the backend made (backend/Activations.h), which stay in device memory on a GPU so that a
// forward pass crosses to the host only for its logits. The buffer forms default to the span forms on
// host buffers; a device backend overrides both.
//
// Weights: callers hand a stored tensor (io/TensorView.h, usually memory-mapped, any dtype that
// io's dequantizeRow reads) to prepareWeight() once at load and keep the opaque handle; a backend may
// repack or upload it there. Activations are row-major [nTokens][width] floats. model/KvCache.h owns the
// cache's blocks, tables and host copy; a device backend may keep the rows themselves in its own memory
// (backend/cuda does, replaying the cache's block copies).
// Ops check their argument sizes and throw lathe::Error (Internal) on a mismatch: that is a caller bug.
//
// Activation quantization is a backend-wide setting, not a per-weight one: it belongs to the model
// (GGUF `lathe.activation_quantization`, ModelConfig::activationQuantization), a backend computes for
// one model at a time (each workbench Session owns its own), and the Transformer sets it once after
// loading, before any forward. It applies where the backend quantizes activations for integer dot
// products (the CPU backend's default mode, for Q4_0/Q4_1/Q5_0/Q5_1/Q8_0 weights); float paths,
// including the CPU float reference, keep float activations in either mode.

#include "backend/Activations.h"
#include "io/TensorView.h"
#include "model/ModelConfig.h"

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

namespace lathe {

class KvCache;

// A weight tensor as a backend holds it. Opaque to callers beyond its stored shape and format.
class BackendWeight {
public:
    virtual ~BackendWeight() = default;
    const TensorView& view() const { return view_; }
    int64_t cols() const { return view_.rowLength(); }
    int64_t rows() const { return view_.rowCount(); }

protected:
    explicit BackendWeight(const TensorView& view) : view_(view) {}

private:
    TensorView view_;
};

struct RopeParams {
    int nDims = 0;             // dimensions rotated per head (<= headDim, even); the rest pass through
    float freqBase = 10000.0f; // theta_i = position * freqBase^(-2i / nDims)
    RopeStyle style = RopeStyle::Interleaved;
    std::span<const float> freqFactors; // empty, or nDims/2 divisors of theta_i (Llama-3 scaling)
};

struct AttentionShape {
    int nHeads = 0;
    int nHeadsKv = 0; // divides nHeads: query head h reads KV head h / (nHeads / nHeadsKv)
    int headDim = 0;
    float scale = 1.0f; // applied to q.k before the softmax, usually 1/sqrt(headDim)
};

// Which cache slots of its own sequence each batch row attends to: every slot below prefix[i], plus
// the slots extras[extraBegin[i] .. extraBegin[i+1]) (token-tree rows: their ancestors and themselves).
// A causal row has prefix = its own slot + 1 and no extras.
struct AttentionMask {
    std::vector<int32_t> seqIds;     // [nTokens]
    std::vector<int32_t> prefix;     // [nTokens]
    std::vector<int32_t> extraBegin; // [nTokens + 1]
    std::vector<int32_t> extras;     // [extraBegin.back()], ascending per row

    int size() const { return int(seqIds.size()); }
    void clear() {
        seqIds.clear();
        prefix.clear();
        extraBegin.assign(1, 0);
        extras.clear();
    }
};

// One product of Backend::matmuls: *out = weight · x (+ bias).
struct MatmulProduct {
    const BackendWeight* weight = nullptr;
    const BackendWeight* bias = nullptr;
    Activations* out = nullptr;
};

class Backend {
public:
    virtual ~Backend() = default;
    virtual std::string name() const = 0;

    // Takes a stored tensor (its bytes must outlive the handle).
    virtual std::unique_ptr<BackendWeight> prepareWeight(const TensorView& view) = 0;

    // How matmuls quantize activations from now on (see above). The default accepts PerBlock only and
    // throws lathe::Error (Unsupported) naming the backend for any other mode.
    virtual void setActivationQuantization(ActivationQuantization mode);

    // out[t] = row tokens[t] of table ({cols, rows}), dequantized. out: [tokens.size()][cols].
    virtual void embed(const BackendWeight& table, std::span<const int32_t> tokens, std::span<float> out) = 0;

    // out[t] = x[t] / sqrt(mean(x[t]^2) + eps) * weight. x, out: [nTokens][dim]; weight: {dim}.
    virtual void rmsNorm(std::span<const float> x, const BackendWeight& weight, int nTokens, float eps,
                         std::span<float> out) = 0;

    // out[t][r] = sum_c w[r][c] * x[t][c] (+ bias[r]). w: {cols, rows}; x: [nTokens][cols];
    // out: [nTokens][rows]; bias: {rows} or null.
    virtual void matmul(const BackendWeight& w, std::span<const float> x, int nTokens, std::span<float> out,
                        const BackendWeight* bias = nullptr) = 0;

    // Rotates each head of x ([nTokens][nHeads][headDim]) in place by its row's position.
    virtual void rope(std::span<float> x, int nTokens, int nHeads, int headDim,
                      std::span<const int32_t> positions, const RopeParams& params) = 0;

    // Writes k and v ([nTokens][nHeadsKv][headDim]) of row t into slot slots[t] of sequence seqIds[t].
    // The slots must have been reserved with KvCache::append.
    virtual void storeKv(std::span<const float> k, std::span<const float> v, std::span<const int32_t> seqIds,
                         std::span<const int32_t> slots, int layer, KvCache& cache) = 0;

    // out[t][h] = softmax(scale * q[t][h] . K[s]) . V[s] over the slots s that mask gives row t.
    // q, out: [nTokens][nHeads][headDim].
    virtual void attention(std::span<const float> q, const AttentionShape& shape, const AttentionMask& mask,
                           const KvCache& cache, int layer, std::span<float> out) = 0;

    // out = silu(gate) * up, elementwise.
    virtual void swiglu(std::span<const float> gate, std::span<const float> up, std::span<float> out) = 0;

    // out = a + b, elementwise (out may alias a or b).
    virtual void add(std::span<const float> a, std::span<const float> b, std::span<float> out) = 0;

    // ---- The same ops on buffers this backend made. Each resizes its output buffer.
    virtual std::unique_ptr<Activations> makeActivations();
    virtual void upload(std::span<const float> host, Activations& out);
    // Waits for the work queued so far; host.size() must equal in.size().
    virtual void download(const Activations& in, std::span<float> host);
    virtual void embed(const BackendWeight& table, std::span<const int32_t> tokens, Activations& out);
    virtual void rmsNorm(const Activations& x, const BackendWeight& weight, int nTokens, float eps,
                         Activations& out);
    virtual void matmul(const BackendWeight& w, const Activations& x, int nTokens, Activations& out,
                        const BackendWeight* bias = nullptr);
    // Several products of the same x (q, k and v; gate and up), each as matmul computes it; the outputs
    // must be distinct from x and from each other. The default runs matmul for each in order; a backend
    // may run them in one pass.
    virtual void matmuls(std::span<const MatmulProduct> products, const Activations& x, int nTokens);
    virtual void rope(Activations& x, int nTokens, int nHeads, int headDim,
                      std::span<const int32_t> positions, const RopeParams& params);
    virtual void storeKv(const Activations& k, const Activations& v, std::span<const int32_t> seqIds,
                         std::span<const int32_t> slots, int layer, KvCache& cache);
    // rope(q), rope(k), then storeKv(k, v): a layer's steps between its q/k/v products and its attention,
    // with the same results (q and k rotated in place). The default runs the three; a backend may fuse them.
    virtual void ropeAndStoreKv(Activations& q, Activations& k, const Activations& v, int nTokens, int nHeads,
                                int nHeadsKv, int headDim, std::span<const int32_t> positions,
                                const RopeParams& params, std::span<const int32_t> seqIds,
                                std::span<const int32_t> slots, int layer, KvCache& cache);
    virtual void attention(const Activations& q, const AttentionShape& shape, const AttentionMask& mask,
                           const KvCache& cache, int layer, Activations& out);
    virtual void swiglu(const Activations& gate, const Activations& up, Activations& out);
    virtual void add(const Activations& a, const Activations& b, Activations& out);
    // residual += a, then out = rmsNorm(residual): a residual add and the norm after it. The default
    // runs add, then rmsNorm; a backend may do both in one pass (same results up to rounding order).
    virtual void addRmsNorm(const Activations& a, Activations& residual, const BackendWeight& weight,
                            int nTokens, float eps, Activations& out);
    // out[j] = x[rows[j]] for rows of `width` values (the rows whose logits a batch wants).
    virtual void gatherRows(const Activations& x, std::span<const int32_t> rows, int64_t width,
                            Activations& out);

    // A forward step: the model calls beginStep before the step's first op and endStep after its last,
    // before the download of its logits; abortStep instead of endStep when an op threw. A backend may
    // record the step's work and replay it as one unit (the CUDA backend replays decode steps as CUDA
    // graphs); ops behave the same either way. The defaults do nothing.
    virtual void beginStep(int nTokens) { (void)nTokens; }
    virtual void endStep() {}
    virtual void abortStep() {}

    // Bytes per second this backend's memory streams to its compute units (the decode roofline's
    // denominator), measured on first call; 0 where the host's bandwidth applies (the CPU backend).
    virtual double memoryReadBandwidth() { return 0.0; }
};

} // namespace lathe
