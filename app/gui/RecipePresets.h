#pragma once
// Ready-made recipes the Optimize page offers: the common quantizations and prunings with the settings
// their papers (and llama.cpp's formats) use, so a first variant is one click away.

#include "compress/Recipe.h"

#include <QString>
#include <vector>

namespace lathe::gui {

struct RecipePreset {
    QString label; // "AWQ 4-bit g128"
    Recipe recipe;
};

const std::vector<RecipePreset>& recipePresets();
// The preset of that label, or nullptr.
const RecipePreset* findRecipePreset(const QString& label);

} // namespace lathe::gui
