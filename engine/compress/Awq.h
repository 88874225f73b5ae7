#pragma once
// AWQ (Lin et al., 2024): activation-aware weight quantization. Weights on input channels with large
// activations matter most, so before rounding each input channel j of the matrices that share an
// input is scaled up by s_j and the operation that produces that input is scaled down by 1/s_j, which
// leaves the float model's output unchanged:
//   attention input:  attn_norm.weight / s,  attn_q, attn_k, attn_v columns · s
//   attention output: attn_v rows / s,       attn_output columns · s   (only without grouped-query
//                                                                     attention, where v and o align)
//   FFN input:        ffn_norm.weight / s,   ffn_gate, ffn_up columns · s
//   FFN output:       ffn_up rows / s,       ffn_down columns · s
// s = mean|x|^α (normalised by sqrt(max s · min s)) with α searched on a grid to minimise the output
// error ||X Wᵀ - X Q(W·s)/sᵀ||² over calibration tokens. Then the range of each weight group is clipped
// (ratios 1 down to 1 - maxShrink) to minimise that group's share of the output error, except for
// attn_q and attn_k (as AutoAWQ: the attention scores are too sensitive). The output is an RTN grid of
// the scaled weights, stored as QuantGrid describes.

#include "compress/Calibration.h"
#include "compress/EditableModel.h"
#include "compress/QuantGrid.h"
#include "compress/ScaleFolding.h"
#include "core/Cancel.h"
#include "core/Progress.h"

#include <span>
#include <string>
#include <vector>

namespace lathe {

class Backend;

struct AwqSettings {
    QuantSpec quant;
    int grid = 20; // α = 0, 1/grid, ..., (grid - 1)/grid
    bool clip = true;
    int clipGrid = 10; // clip ratios 1, 1 - maxShrink/clipGrid, ...
    double maxShrink = 0.5;
    int sampleTokens = 256; // calibration tokens the errors are measured on
};

// The normalised scales for a search point: s_j = max(meanAbs_j, 1e-4)^α / sqrt(max s · min s).
std::vector<float> awqScales(std::span<const float> meanAbs, double alpha);

// Scale search, folding, clip search and quantization of every block matrix. backend: a CPU backend
// (float reference) for the error measurements. Returns one note per layer (the chosen α per site).
std::vector<std::string> applyAwq(EditableModel& model, const CalibrationActivations& activations,
                                  const AwqSettings& settings, Backend& backend,
                                  const ProgressFn& progress = {}, const CancelToken& cancel = {});

} // namespace lathe
