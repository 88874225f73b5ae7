#include "model/ModelConfig.h"

#include "core/Error.h"

#include <algorithm>
#include <cmath>

namespace lathe {
namespace {

// Bounds far above any real Llama-family model; they keep hostile values from turning into huge
// allocations or overflowing int arithmetic downstream (e.g. nHeads * headDim * nLayers).
constexpr int kMaxLayers = 4096;
constexpr int kMaxWidth = 1 << 20;
constexpr int kMaxHeads = 4096;
constexpr int kMaxVocab = 1 << 24;

void requireRange(const ModelConfig& c, const char* field, int value, int lo, int hi) {
    if (value < lo || value > hi)
        fail(ErrorCategory::InvalidFile, "model '{}': {} is {} (must be {}..{})", c.name, field, value, lo,
             hi);
}

void requirePositiveFinite(const ModelConfig& c, const char* field, float value) {
    if (!(value > 0.0f) || !std::isfinite(value))
        fail(ErrorCategory::InvalidFile, "model '{}': {} is {} (must be a positive number)", c.name, field,
             value);
}

} // namespace

std::string_view activationQuantizationName(ActivationQuantization mode) {
    switch (mode) {
    case ActivationQuantization::PerBlock:
        return "per_block";
    case ActivationQuantization::PerTokenInt8:
        return "per_token_int8";
    }
    return "unknown";
}

void ModelConfig::validate() const {
    requireRange(*this, "nLayers", nLayers, 1, kMaxLayers);
    requireRange(*this, "nEmbd", nEmbd, 1, kMaxWidth);
    requireRange(*this, "nHeads", nHeads, 1, kMaxHeads);
    requireRange(*this, "nHeadsKv", nHeadsKv, 1, nHeads);
    if (nHeads % nHeadsKv != 0)
        fail(ErrorCategory::InvalidFile, "model '{}': nHeads {} is not a multiple of nHeadsKv {}", name,
             nHeads, nHeadsKv);
    requireRange(*this, "headDim", headDim, 2, kMaxWidth / nHeads);
    if (headDim % 2 != 0)
        fail(ErrorCategory::InvalidFile, "model '{}': headDim {} is odd (RoPE rotates pairs)", name, headDim);
    requireRange(*this, "ropeDims", ropeDims, 2, headDim);
    if (ropeDims % 2 != 0)
        fail(ErrorCategory::InvalidFile, "model '{}': ropeDims {} is odd (RoPE rotates pairs)", name,
             ropeDims);
    requireRange(*this, "nFf", nFf, 1, kMaxWidth);
    if (!layerFf.empty()) {
        if (int64_t(layerFf.size()) != nLayers)
            fail(ErrorCategory::InvalidFile, "model '{}': layerFf has {} feed-forward widths for {} layers",
                 name, layerFf.size(), nLayers);
        for (size_t layer = 0; layer < layerFf.size(); ++layer)
            if (layerFf[layer] < 1 || layerFf[layer] > kMaxWidth)
                fail(ErrorCategory::InvalidFile, "model '{}': layerFf[{}] is {} (must be 1..{})", name, layer,
                     layerFf[layer], kMaxWidth);
        const int widest = *std::max_element(layerFf.begin(), layerFf.end());
        if (nFf != widest)
            fail(ErrorCategory::InvalidFile,
                 "model '{}': nFf is {} but the widest layer's feed-forward is {}", name, nFf, widest);
    }
    requireRange(*this, "vocabSize", vocabSize, 1, kMaxVocab);
    requireRange(*this, "contextLength", contextLength, 1, 1 << 30);
    requirePositiveFinite(*this, "rmsEps", rmsEps);
    requirePositiveFinite(*this, "ropeFreqBase", ropeFreqBase);
    if (ropeLlama3.factor != 0.0f) {
        requirePositiveFinite(*this, "rope scaling factor", ropeLlama3.factor);
        requirePositiveFinite(*this, "rope scaling low_freq_factor", ropeLlama3.lowFreqFactor);
        requirePositiveFinite(*this, "rope scaling high_freq_factor", ropeLlama3.highFreqFactor);
        if (!(ropeLlama3.highFreqFactor > ropeLlama3.lowFreqFactor))
            fail(ErrorCategory::InvalidFile,
                 "model '{}': rope scaling high_freq_factor {} must exceed low_freq_factor {}", name,
                 ropeLlama3.highFreqFactor, ropeLlama3.lowFreqFactor);
        requireRange(*this, "rope scaling original context", ropeLlama3.originalContext, 1, 1 << 30);
    }
}

} // namespace lathe
