#pragma once
// A recipe: the steps that turn a model into a compressed variant, applied in order to the weights of
// the transformer blocks (attn_q/k/v/output, ffn_gate/up/down; embeddings, norms and the output head
// are kept as stored), then written as one GGUF file.
//
// JSON form (what `lathe-cli recipe run FILE` reads and the store keeps):
//   {"name": "wanda 2:4 + awq w4 g128",
//    "steps": [{"method": "wanda", "sparsity": 0.5, "pattern": "2:4"},
//              {"method": "awq", "bits": 4, "group": 128, "symmetric": true}],
//    "calibration": {"text": "path.txt", "tokens": 2048, "ctx": 512},     (optional)
//    "storage": "q8_0"}                                                    (optional)
// Methods and their fields (defaults in RecipeStep):
//   rtn | awq | gptq        bits (3|4|8), group (0 = per channel, 32, 64, 128), symmetric;
//                           gptq also damp, act_order; awq also grid (scale search points)
//   smoothquant             alpha: W8A8, weights per-channel int8, activations int8 per token at run time
//   magnitude | wanda | sparsegpt   sparsity (0..1) or pattern "N:M" (e.g. "2:4"); sparsegpt also damp
//   ffn_channels            sparsity: share of each layer's FFN channels removed (matrices shrink)
//   attn_heads              sparsity: share of each layer's attention heads removed, rounded to whole
//                           units; unit "query" (query heads within each KV group) or "group" (KV heads
//                           with their query heads); see compress/HeadPruning.h
// At most one quantizing step (rtn, awq, gptq, smoothquant), and it comes last. "storage" is the format
// of changed weights that no quantizing step encodes (pruned weights): q8_0 by default, f16 or f32. A
// pruning step also keeps each layer it finishes in that format (EditableModel::compact), so the steps
// after it read the pruned weights as the file would hold them.

#include "compress/Calibration.h"
#include "compress/HeadPruning.h"
#include "compress/QuantGrid.h"
#include "core/Cancel.h"
#include "core/DType.h"
#include "core/Progress.h"

#include <cstdint>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace lathe {

enum class CompressMethod {
    Rtn,
    Awq,
    Gptq,
    SmoothQuant,
    Magnitude,
    Wanda,
    SparseGpt,
    FfnChannels,
    AttnHeads
};

std::string_view compressMethodName(CompressMethod method); // "rtn", "awq", ..., "ffn_channels", "attn_heads"
bool isQuantizing(CompressMethod method);
bool needsCalibration(CompressMethod method); // all but rtn and magnitude

struct RecipeStep {
    CompressMethod method = CompressMethod::Rtn;
    QuantSpec quant;       // rtn, awq, gptq
    double sparsity = 0.5; // pruning: share of weights (or FFN channels, or attention heads) removed
    HeadUnit headUnit = HeadUnit::Query; // attn_heads: what is removed
    int patternN = 0;                    // N:M semi-structured pattern: keep N of every M consecutive inputs;
    int patternM = 0;                    //   0:0 = unstructured
    double damp = 0.01;                  // gptq, sparsegpt: diagonal damping as a share of mean(diag H)
    bool actOrder = true;                // gptq: columns by decreasing H[i][i], groups kept in place
    double alpha = 0.5;                  // smoothquant migration strength
    int awqGrid = 20;                    // awq: scale exponents 0, 1/grid, ..., (grid-1)/grid are tried

    std::string describe() const; // "gptq w4 g128 sym", "wanda 2:4", ...
};

struct Recipe {
    std::string name;
    std::vector<RecipeStep> steps;
    CalibrationSettings calibration;
    DType storage = DType::Q8_0; // changed weights no quantizing step encodes

    // Throws lathe::Error (InvalidArgument) naming the field at fault.
    static Recipe fromJson(const nlohmann::json& json);
    nlohmann::json toJson() const;
    void validate() const;
    bool needsCalibration() const;
    std::string describe() const; // the steps, joined by " + "
};

struct CompressionReport {
    int64_t changedTensors = 0; // re-encoded (quantized, pruned or rescaled)
    int64_t keptTensors = 0;    // copied as stored
    double sparsity = 0.0;      // share of exact zeros over the block matrices after all steps
    int64_t calibrationTokens = 0;
    uint64_t inputBytes = 0, outputBytes = 0;
    double seconds = 0.0;
    std::vector<std::string> notes; // what the steps decided (AWQ's exponents, skipped layers, ...)
};

// Applies the recipe to a GGUF model and writes the variant atomically (a cancelled or failed job leaves
// no file). threads: for the calibration forward passes (0 = all hardware threads).
CompressionReport applyRecipe(const std::filesystem::path& model, const Recipe& recipe,
                              const std::filesystem::path& output, int threads,
                              const ProgressFn& progress = {}, const CancelToken& cancel = {});

} // namespace lathe
