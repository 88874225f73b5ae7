#include "RecipePresets.h"

namespace lathe::gui {
namespace {

RecipeStep quantStep(CompressMethod method, int bits, int group, bool symmetric) {
    RecipeStep step;
    step.method = method;
    step.quant.bits = bits;
    step.quant.group = group;
    step.quant.symmetric = symmetric;
    return step;
}

RecipeStep pruneStep(CompressMethod method, double sparsity, int patternN = 0, int patternM = 0) {
    RecipeStep step;
    step.method = method;
    step.sparsity = sparsity;
    step.patternN = patternN;
    step.patternM = patternM;
    return step;
}

RecipeStep headStep(double sparsity, HeadUnit unit) {
    RecipeStep step;
    step.method = CompressMethod::AttnHeads;
    step.sparsity = sparsity;
    step.headUnit = unit;
    return step;
}

RecipeStep methodStep(CompressMethod method) {
    RecipeStep step;
    step.method = method;
    return step;
}

RecipePreset preset(const char* label, const char* name, std::vector<RecipeStep> steps) {
    RecipePreset p;
    p.label = QString::fromUtf8(label);
    p.recipe.name = name;
    p.recipe.steps = std::move(steps);
    return p;
}

} // namespace

const std::vector<RecipePreset>& recipePresets() {
    // 8-bit symmetric in groups of 32 is exactly llama.cpp's Q8_0; 4-bit asymmetric is Q4_1.
    static const std::vector<RecipePreset> presets = {
        preset("RTN int8", "rtn int8", {quantStep(CompressMethod::Rtn, 8, 32, true)}),
        preset("RTN 4-bit g32", "rtn w4 g32", {quantStep(CompressMethod::Rtn, 4, 32, false)}),
        preset("AWQ 4-bit g128", "awq w4 g128", {quantStep(CompressMethod::Awq, 4, 128, false)}),
        preset("GPTQ 4-bit g128", "gptq w4 g128", {quantStep(CompressMethod::Gptq, 4, 128, false)}),
        preset("SmoothQuant W8A8", "smoothquant w8a8", {methodStep(CompressMethod::SmoothQuant)}),
        preset("Wanda 2:4", "wanda 2:4", {pruneStep(CompressMethod::Wanda, 0.5, 2, 4)}),
        preset("SparseGPT 50%", "sparsegpt 50%", {pruneStep(CompressMethod::SparseGpt, 0.5)}),
        preset("Wanda 2:4 + AWQ 4-bit", "wanda 2:4 + awq w4 g128",
               // Symmetric: zero must stay a grid value, or the pruned weights come back.
               {pruneStep(CompressMethod::Wanda, 0.5, 2, 4), quantStep(CompressMethod::Awq, 4, 128, true)}),
        preset("FFN channels 25%", "ffn channels 25%", {pruneStep(CompressMethod::FfnChannels, 0.25)}),
        // 0.34 is a third of the units wherever their count is a multiple of 3 (SmolLM2-135M: 1 of its 3 KV
        // groups). There whole groups beat query heads: perplexity 30.07 against 63.66 (parent 18.25, 4
        // chunks).
        preset("Attention heads 1/3 (KV groups)", "attn heads 1/3 groups", {headStep(0.34, HeadUnit::Group)}),
    };
    return presets;
}

const RecipePreset* findRecipePreset(const QString& label) {
    for (const RecipePreset& p : recipePresets())
        if (p.label == label) return &p;
    return nullptr;
}

} // namespace lathe::gui
