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

    void headPruningNamesItsShareAndUnit() {
        const Recipe groups = findRecipePreset("Attention heads 1/3 (KV groups)")->recipe;
        QCOMPARE(recipeSlug(groups), QString("attn-heads-34-group"));
        QCOMPARE(defaultVariantPath("/m/SmolLM2-135M-Instruct.Q4_1.gguf", groups),
                 QString("/m/SmolLM2-135M-Instruct.attn-heads-34-group.gguf"));
        // The same share with the other unit is another model, so another file.
        Recipe query = groups;
        query.steps[0].headUnit = HeadUnit::Query;
        query.steps[0].sparsity = 0.33;
        QCOMPARE(recipeSlug(query), QString("attn-heads-33-query"));
        RecipeStep awq;
        awq.method = CompressMethod::Awq;
        awq.quant.bits = 4;
        awq.quant.group = 128;
        awq.quant.symmetric = true;
        query.steps.push_back(awq);
        QCOMPARE(recipeSlug(query), QString("attn-heads-33-query+awq-w4-g128-sym"));
    }
};

QTEST_MAIN(TestVariantNaming)
#include "TestVariantNaming.moc"
