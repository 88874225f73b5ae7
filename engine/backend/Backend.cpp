#include "backend/Backend.h"

#include "core/Error.h"

#include <algorithm>

namespace lathe {
HostActivations& hostActivations(Activations& buffer) {
    auto* h = dynamic_cast<HostActivations*>(&buffer);
    if (!h) fail(ErrorCategory::Internal, "backend: activation buffer was made by another backend");
    return *h;
}
const HostActivations& hostActivations(const Activations& buffer) {
    return hostActivations(const_cast<Activations&>(buffer));
}

void Backend::setActivationQuantization(ActivationQuantization mode) {
    if (mode != ActivationQuantization::PerBlock)
        fail(ErrorCategory::Unsupported, "backend {} cannot quantize activations {}", name(),
             activationQuantizationName(mode));
}

std::unique_ptr<Activations> Backend::makeActivations() {
    return std::make_unique<HostActivations>();
}

void Backend::upload(std::span<const float> values, Activations& out) {
    out.resize(values.size());
    std::copy(values.begin(), values.end(), hostActivations(out).span().begin());
}

void Backend::download(const Activations& in, std::span<float> values) {
    if (values.size() != in.size()) fail(ErrorCategory::Internal, "backend download: sizes differ");
    std::copy_n(hostActivations(in).span().begin(), values.size(), values.begin());
}

void Backend::embed(const BackendWeight& table, std::span<const int32_t> tokens, Activations& out) {
    out.resize(tokens.size() * size_t(table.cols()));
    embed(table, tokens, hostActivations(out).span());
}

void Backend::rmsNorm(const Activations& x, const BackendWeight& weight, int nTokens, float eps,
                      Activations& out) {
    out.resize(x.size());
    rmsNorm(hostActivations(x).span(), weight, nTokens, eps, hostActivations(out).span());
}

void Backend::matmul(const BackendWeight& w, const Activations& x, int nTokens, Activations& out,
                     const BackendWeight* bias) {
    out.resize(size_t(nTokens) * size_t(w.rows()));
    matmul(w, hostActivations(x).span(), nTokens, hostActivations(out).span(), bias);
}

void Backend::rope(Activations& x, int nTokens, int nHeads, int headDim, std::span<const int32_t> positions,
                   const RopeParams& params) {
    rope(hostActivations(x).span(), nTokens, nHeads, headDim, positions, params);
}

void Backend::storeKv(const Activations& k, const Activations& v, std::span<const int32_t> seqIds,
                      std::span<const int32_t> slots, int layer, KvCache& cache) {
    storeKv(hostActivations(k).span(), hostActivations(v).span(), seqIds, slots, layer, cache);
}

void Backend::ropeAndStoreKv(Activations& q, Activations& k, const Activations& v, int nTokens, int nHeads,
                             int nHeadsKv, int headDim, std::span<const int32_t> positions,
                             const RopeParams& params, std::span<const int32_t> seqIds,
                             std::span<const int32_t> slots, int layer, KvCache& cache) {
    rope(q, nTokens, nHeads, headDim, positions, params);
    rope(k, nTokens, nHeadsKv, headDim, positions, params);
    storeKv(k, v, seqIds, slots, layer, cache);
}

void Backend::attention(const Activations& q, const AttentionShape& shape, const AttentionMask& mask,
                        const KvCache& cache, int layer, Activations& out) {
    out.resize(q.size());
    attention(hostActivations(q).span(), shape, mask, cache, layer, hostActivations(out).span());
}

void Backend::swiglu(const Activations& gate, const Activations& up, Activations& out) {
    out.resize(up.size());
    swiglu(hostActivations(gate).span(), hostActivations(up).span(), hostActivations(out).span());
}

void Backend::add(const Activations& a, const Activations& b, Activations& out) {
    out.resize(a.size());
    add(hostActivations(a).span(), hostActivations(b).span(), hostActivations(out).span());
}

void Backend::matmuls(std::span<const MatmulProduct> products, const Activations& x, int nTokens) {
    for (const MatmulProduct& product : products)
        matmul(*product.weight, x, nTokens, *product.out, product.bias);
}

void Backend::addRmsNorm(const Activations& a, Activations& residual, const BackendWeight& weight,
                         int nTokens, float eps, Activations& out) {
    add(a, residual, residual);
    rmsNorm(residual, weight, nTokens, eps, out);
}

void Backend::gatherRows(const Activations& x, std::span<const int32_t> rows, int64_t width,
                         Activations& out) {
    out.resize(rows.size() * size_t(width));
    const std::span<const float> from = hostActivations(x).span();
    const std::span<float> to = hostActivations(out).span();
    for (size_t j = 0; j < rows.size(); ++j) {
        if (rows[j] < 0 || size_t(rows[j] + 1) * size_t(width) > from.size())
            fail(ErrorCategory::Internal, "backend gatherRows: row {} is outside the buffer", rows[j]);
        std::copy_n(from.begin() + rows[j] * width, width, to.begin() + int64_t(j) * width);
    }
}

} // namespace lathe
