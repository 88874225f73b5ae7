#pragma once
// Calibration: the inputs each linear layer of the transformer blocks sees while the model reads a
// calibration text. AWQ, GPTQ, SmoothQuant, Wanda and SparseGPT all start from these activations:
// per-channel statistics (mean |x|, max |x|, ||x||₂) or the Hessian Xᵀ X.
//
// The text is tokenized with the model's own tokenizer and cut into chunks of contextTokens tokens, each
// starting from an empty cache with BOS first (as evaluation does); the model runs in the CPU backend's
// float reference mode, so the activations are the model's, not an approximation of them.

#include "compress/EditableModel.h"
#include "core/Cancel.h"
#include "core/Progress.h"

#include <array>
#include <cstdint>
#include <filesystem>
#include <span>
#include <vector>

namespace lathe {

struct CalibrationSettings {
    std::filesystem::path text; // empty: the default calibration text (defaultCalibrationText())
    int tokens = 2048;          // calibration tokens, taken as whole chunks of contextTokens
    int contextTokens = 512;
};

// resources/text/calibration.txt of the source tree (GPL-2 and LGPL-2.1 texts; see its README), and the
// evaluation text (the GPL-3). Distinct texts, so that evaluation does not score what calibration saw.
std::filesystem::path defaultCalibrationText();
std::filesystem::path defaultEvaluationText();

// Where a block matrix's input comes from.
enum class InputSite {
    AttnNorm, // attn_q, attn_k, attn_v read the attention norm's output
    AttnMix,  // attn_output reads the attention's output (kqv_out)
    FfnNorm,  // ffn_gate, ffn_up read the FFN norm's output
    FfnMix,   // ffn_down reads silu(gate) * up
};
InputSite inputSiteOf(BlockMatrix which);

struct SiteActivations {
    int64_t tokens = 0, width = 0;
    std::vector<float> rows; // [tokens][width]

    std::vector<float> channelL2() const;      // ||x_j||₂ over the tokens (Wanda)
    std::vector<float> channelMeanAbs() const; // mean |x_j| (AWQ)
    std::vector<float> channelMaxAbs() const;  // max |x_j| (SmoothQuant)
};

struct CalibrationActivations {
    int64_t tokens = 0;
    std::vector<std::array<SiteActivations, 4>> layers; // [nLayers][InputSite]

    const SiteActivations& at(int layer, InputSite site) const {
        return layers.at(size_t(layer))[size_t(site)];
    }
    const SiteActivations& inputOf(int layer, BlockMatrix which) const {
        return at(layer, inputSiteOf(which));
    }
};

// The calibration token ids of a text for a model: whole chunks of contextTokens tokens, at most
// `tokens` of them (at least one chunk; a text shorter than one chunk is used whole). Throws
// lathe::Error (InvalidArgument) when the text gives fewer than 16 tokens.
std::vector<std::vector<int32_t>> calibrationChunks(const ModelFiles& files,
                                                    const CalibrationSettings& settings);

// Runs `files` (usually EditableModel::currentFiles()) over the chunks and keeps every block's inputs.
CalibrationActivations collectActivations(const ModelFiles& files,
                                          const std::vector<std::vector<int32_t>>& chunks, int threads,
                                          const ProgressFn& progress = {}, const CancelToken& cancel = {});

} // namespace lathe
