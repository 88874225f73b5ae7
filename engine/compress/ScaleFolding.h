#pragma once
// Per-input-channel scales folded into the model without changing what the float model computes: the
// matrices that read an input get their columns multiplied by s, and the operation that produces the
// input divides its output by s (AWQ and SmoothQuant both move difficulty this way):
//   AttnInput:  attn_norm.weight / s,  attn_q, attn_k, attn_v columns · s
//   AttnOutput: attn_v rows / s,       attn_output columns · s   (only without grouped-query attention,
//                                                                where each o input is one v row)
//   FfnInput:   ffn_norm.weight / s,   ffn_gate, ffn_up columns · s
//   FfnOutput:  ffn_up rows / s,       ffn_down columns · s      (silu(gate) · up is linear in up)

#include "compress/Calibration.h"
#include "compress/EditableModel.h"

#include <span>
#include <vector>

namespace lathe {

enum class ScaleSite { AttnInput, AttnOutput, FfnInput, FfnOutput };
inline constexpr ScaleSite kScaleSites[] = {ScaleSite::AttnInput, ScaleSite::AttnOutput, ScaleSite::FfnInput,
                                            ScaleSite::FfnOutput};

std::vector<BlockMatrix> consumersOf(ScaleSite site); // the matrices whose columns are scaled
InputSite inputSiteOf(ScaleSite site);                // the activations those matrices read
ScaleSite scaleSiteOf(BlockMatrix which);             // the site whose scales a matrix's columns carry

bool canFoldInputScales(const ModelConfig& config, ScaleSite site);
// Throws lathe::Error (InvalidArgument) where canFoldInputScales is false.
void foldInputScales(EditableModel& model, int layer, ScaleSite site, std::span<const float> s);

} // namespace lathe
