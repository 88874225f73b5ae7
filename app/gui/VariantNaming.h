#pragma once
// Where a variant goes by default: next to its parent, named after the parent (without its own format
// suffix) and the recipe, e.g. SmolLM2-135M-Instruct.Q4_1.gguf + AWQ w4 g128 ->
// SmolLM2-135M-Instruct.awq-w4-g128.gguf.

#include "compress/Recipe.h"

#include <QString>

namespace lathe::gui {

// A file-name-safe summary of the steps: "awq-w4-g128", "wanda-2of4+awq-w4-g128-sym", "ffn-channels-25".
QString recipeSlug(const Recipe& recipe);
// The parent's base name without a trailing format tag (".Q4_1", "-f16", ".Q4_K_M").
QString modelStem(const QString& modelPath);
// A path in the parent's folder (a Hugging Face folder's parent folder).
QString defaultVariantPath(const QString& modelPath, const Recipe& recipe);

} // namespace lathe::gui
