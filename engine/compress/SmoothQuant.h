#pragma once
// SmoothQuant (Xiao et al., 2023): W8A8. Activations have outlier channels that per-token int8 cannot
// hold; weights do not. Per input channel j, s_j = max|X_j|^α / max|W_·j|^(1-α) moves that difficulty
// into the weights (folded as ScaleFolding describes, at the attention and FFN inputs, as the paper does
// for Llama), then every block matrix is quantized to int8 per output channel (symmetric, stored as
// Q8_0 rows whose blocks share the row's scale) and the file is marked
// lathe.activation_quantization = "per_token_int8": Lathe's CPU backend then quantizes each activation
// row to int8 with one scale (dynamic, per token) and multiplies with integer dot products.

#include "compress/Calibration.h"
#include "compress/EditableModel.h"
#include "core/Cancel.h"
#include "core/Progress.h"

#include <span>
#include <string>
#include <vector>

namespace lathe {

// s_j = max(xMax_j, 1e-5)^α / max(wMax_j, 1e-5)^(1-α).
std::vector<float> smoothingScales(std::span<const float> xMax, std::span<const float> wMax, double alpha);

// Returns one note per layer.
std::vector<std::string> applySmoothQuant(EditableModel& model, const CalibrationActivations& activations,
                                          double alpha, const ProgressFn& progress = {},
                                          const CancelToken& cancel = {});

} // namespace lathe
