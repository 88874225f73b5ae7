// The recipe editor: steps built through its API come back unchanged through Recipe JSON (and through a
// file); each method shows only its own fields; quantizing steps stay last; presets are valid recipes.

#include "GuiTestSupport.h"
#include "RecipeEditor.h"
#include "RecipePresets.h"

#include <QTemporaryDir>
#include <QTest>

using namespace lathe;
using namespace lathe::gui;

class TestRecipeEditor : public QObject {
    Q_OBJECT
    QTemporaryDir settingsDir_;

private slots:
    void initTestCase() { test::isolateSettings(settingsDir_); }

    void roundTripsThroughJson() {
        RecipeEditor editor;
        editor.setRecipe(Recipe{});
        QCOMPARE(editor.stepCount(), 0);
        const int prune = editor.addStep(CompressMethod::SparseGpt);
        RecipeStep s = editor.step(prune);
        s.patternN = 2;
        s.patternM = 4;
        s.damp = 0.02;
        editor.setStep(prune, s);
        const int quant = editor.addStep(CompressMethod::Gptq);
        RecipeStep q = editor.step(quant);
        q.quant.bits = 3;
        q.quant.group = 64;
        q.quant.symmetric = true;
        q.damp = 0.05;
        q.actOrder = false;
        editor.setStep(quant, q);

        const Recipe built = editor.recipe();
        QCOMPARE(built.steps.size(), size_t(2));
        QCOMPARE(built.steps[0].method, CompressMethod::SparseGpt);
        QCOMPARE(built.steps[0].patternN, 2);
        QCOMPARE(built.steps[0].patternM, 4);
        QCOMPARE(built.steps[0].damp, 0.02);
        QCOMPARE(built.steps[1].method, CompressMethod::Gptq);
        QCOMPARE(built.steps[1].quant.bits, 3);
        QCOMPARE(built.steps[1].quant.group, 64);
        QVERIFY(built.steps[1].quant.symmetric);
        QCOMPARE(built.steps[1].damp, 0.05);
        QVERIFY(!built.steps[1].actOrder);
        QVERIFY2(editor.validationError().isEmpty(), qPrintable(editor.validationError()));

        const nlohmann::json json = built.toJson();
        RecipeEditor other;
        other.setRecipe(Recipe::fromJson(json));
        QCOMPARE(other.stepCount(), 2);
        QCOMPARE(QString::fromStdString(other.recipe().toJson().dump()), QString::fromStdString(json.dump()));

        // Through a file, as Open… and Save… do.
        QTemporaryDir dir;
        const QString path = dir.filePath("recipe.json");
        QCOMPARE(editor.saveFile(path), QString());
        RecipeEditor loaded;
        QCOMPARE(loaded.loadFile(path), QString());
        QCOMPARE(QString::fromStdString(loaded.recipe().toJson().dump()),
                 QString::fromStdString(json.dump()));
        QVERIFY(!loaded.loadFile(dir.filePath("missing.json")).isEmpty());
    }

    void calibrationNameAndStorageRoundTrip() {
        RecipeEditor editor;
        Recipe r;
        r.name = "my recipe";
        RecipeStep step;
        step.method = CompressMethod::FfnChannels;
        step.sparsity = 0.3;
        r.steps = {step};
        r.calibration.tokens = 4096;
        r.calibration.contextTokens = 256;
        r.calibration.text = "/tmp/calibration.txt";
        r.storage = DType::F16;
        editor.setRecipe(r);
        const Recipe back = editor.recipe();
        QCOMPARE(back.name, std::string("my recipe"));
        QCOMPARE(back.calibration.tokens, 4096);
        QCOMPARE(back.calibration.contextTokens, 256);
        QCOMPARE(back.calibration.text.string(), std::string("/tmp/calibration.txt"));
        QCOMPARE(back.storage, DType::F16);
        QCOMPARE(back.steps[0].sparsity, 0.3);
        QVERIFY(editor.isFieldVisible("storage")); // nothing quantizes: the storage format applies
        QVERIFY(editor.isFieldVisible("calibration"));
        QCOMPARE(QString::fromStdString(Recipe::fromJson(back.toJson()).toJson().dump()),
                 QString::fromStdString(back.toJson().dump()));
    }

    void showsOnlyTheFieldsOfTheSelectedMethod() {
        RecipeEditor editor;
        editor.resize(900, 600);
        editor.show();
        editor.setRecipe(Recipe{});
        editor.addStep(CompressMethod::Wanda);
        editor.addStep(CompressMethod::Awq);
        editor.selectStep(1);
        QCOMPARE(editor.currentStep(), 1);
        for (const char* f : {"method", "bits", "group", "symmetric", "grid"})
            QVERIFY2(editor.isFieldVisible(f), f);
        for (const char* f : {"pattern", "sparsity", "damp", "act_order", "alpha", "storage"})
            QVERIFY2(!editor.isFieldVisible(f), f);
        QVERIFY(editor.isFieldVisible("calibration"));

        editor.selectStep(0);
        QVERIFY(editor.isFieldVisible("pattern"));
        QVERIFY(editor.isFieldVisible("sparsity")); // unstructured: the share is a field
        QVERIFY(!editor.isFieldVisible("bits"));
        RecipeStep s = editor.step(0);
        s.patternN = 2;
        s.patternM = 4;
        editor.setStep(0, s);
        QVERIFY(!editor.isFieldVisible("sparsity")); // 2:4 fixes the share

        editor.setRecipe(Recipe{});
        editor.addStep(CompressMethod::Rtn);
        QVERIFY(!editor.isFieldVisible("calibration")); // RTN needs no calibration
        editor.addStep(CompressMethod::SmoothQuant);
        editor.selectStep(1);
        QVERIFY(editor.isFieldVisible("alpha"));
        QVERIFY(!editor.isFieldVisible("bits"));
    }

    void keepsTheQuantizingStepLastAndReportsErrors() {
        RecipeEditor editor;
        editor.setRecipe(Recipe{});
        QVERIFY(!editor.validationError().isEmpty()); // no steps
        editor.addStep(CompressMethod::Gptq);
        const int pruned = editor.addStep(CompressMethod::Magnitude);
        QCOMPARE(pruned, 0); // inserted before the quantizer
        QCOMPARE(editor.step(1).method, CompressMethod::Gptq);
        editor.moveStep(1, 0);
        QCOMPARE(editor.step(0).method, CompressMethod::Gptq);
        QVERIFY(editor.validationError().contains("last"));
        editor.moveStep(0, 1);
        RecipeStep q = editor.step(1);
        q.quant.symmetric = false;
        editor.setStep(1, q);
        QVERIFY(editor.validationError().contains("symmetric")); // pruned weights on an asymmetric grid
        q.quant.symmetric = true;
        editor.setStep(1, q);
        QVERIFY2(editor.validationError().isEmpty(), qPrintable(editor.validationError()));
        editor.removeStep(0);
        QCOMPARE(editor.stepCount(), 1);
        QCOMPARE(editor.step(0).method, CompressMethod::Gptq);
    }

    void presetsAreValidRecipes() {
        RecipeEditor editor;
        QVERIFY(recipePresets().size() >= 7);
        for (const RecipePreset& preset : recipePresets()) {
            QVERIFY(editor.applyPreset(preset.label));
            QVERIFY2(editor.validationError().isEmpty(),
                     qPrintable(preset.label + ": " + editor.validationError()));
            QCOMPARE(QString::fromStdString(editor.recipe().describe()),
                     QString::fromStdString(preset.recipe.describe()));
        }
        QVERIFY(editor.applyPreset("Wanda 2:4 + AWQ 4-bit"));
        QCOMPARE(editor.stepCount(), 2);
        QCOMPARE(editor.step(0).method, CompressMethod::Wanda);
        QCOMPARE(editor.step(1).method, CompressMethod::Awq);
        QCOMPARE(editor.step(1).quant.bits, 4);
        QCOMPARE(editor.step(1).quant.group, 128);
        QVERIFY(!editor.applyPreset("no such preset"));
    }
};

QTEST_MAIN(TestRecipeEditor)
#include "TestRecipeEditor.moc"
