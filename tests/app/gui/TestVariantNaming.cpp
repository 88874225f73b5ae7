// Default variant file names: the parent's name without its format tag, then the recipe's steps.

#include "RecipePresets.h"
#include "VariantNaming.h"

#include <QTest>

using namespace lathe;
using namespace lathe::gui;

class TestVariantNaming : public QObject {
    Q_OBJECT

private slots:
    void stemDropsTheFormatTag() {
        QCOMPARE(modelStem("/m/SmolLM2-135M-Instruct.Q4_1.gguf"), QString("SmolLM2-135M-Instruct"));
        QCOMPARE(modelStem("/m/llama-3-8b-Q4_K_M.gguf"), QString("llama-3-8b"));
        QCOMPARE(modelStem("/m/tiny.F16.gguf"), QString("tiny"));
        QCOMPARE(modelStem("/m/tiny.gguf"), QString("tiny"));
        QCOMPARE(modelStem("/m/q4_0.gguf"), QString("q4_0")); // nothing would be left
        QCOMPARE(modelStem("/m/SmolLM2-135M-Instruct.awq-w4-g128.gguf"),
                 QString("SmolLM2-135M-Instruct.awq-w4-g128"));
    }

    void nameFollowsTheRecipe() {
        const Recipe awq = findRecipePreset("AWQ 4-bit g128")->recipe;
        QCOMPARE(defaultVariantPath("/m/SmolLM2-135M-Instruct.Q4_1.gguf", awq),
                 QString("/m/SmolLM2-135M-Instruct.awq-w4-g128.gguf"));
        QCOMPARE(recipeSlug(findRecipePreset("RTN int8")->recipe), QString("rtn-w8-g32-sym"));
        QCOMPARE(recipeSlug(findRecipePreset("Wanda 2:4 + AWQ 4-bit")->recipe),
                 QString("wanda-2of4+awq-w4-g128-sym"));
        QCOMPARE(recipeSlug(findRecipePreset("SparseGPT 50%")->recipe), QString("sparsegpt-50"));
        QCOMPARE(recipeSlug(findRecipePreset("FFN channels 25%")->recipe), QString("ffn-channels-25"));
        QCOMPARE(recipeSlug(findRecipePreset("SmoothQuant W8A8")->recipe), QString("smoothquant-w8a8"));
        Recipe perChannel = awq;
        perChannel.steps[0].quant.group = 0;
        QCOMPARE(recipeSlug(perChannel), QString("awq-w4-pc"));
        QCOMPARE(recipeSlug(Recipe{}), QString("variant"));
    }
};

QTEST_MAIN(TestVariantNaming)
#include "TestVariantNaming.moc"
