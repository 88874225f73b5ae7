// The recipe editor: steps built through its API come back unchanged through Recipe JSON (and through a
// file); each method shows only its own fields; quantizing steps stay last; presets are valid recipes;
// a head-pruning step keeps its unit and says what its share removes from a given attention layout.

#include "GuiTestSupport.h"
#include "RecipeEditor.h"
#include "RecipePresets.h"

#include <QComboBox>
#include <QDoubleSpinBox>
#include <QFile>
#include <QFormLayout>
#include <QLabel>
#include <QTemporaryDir>
#include <QTest>

using namespace lathe;
using namespace lathe::gui;

namespace {

// SmolLM2-135M: 9 query heads of 64 in 3 KV groups of 3.
constexpr HeadLayout kSmolLm2{9, 3, 64};

RecipeStep headStep(double sparsity, HeadUnit unit) {
    RecipeStep step;
    step.method = CompressMethod::AttnHeads;
    step.sparsity = sparsity;
    step.headUnit = unit;
    return step;
}

// The text of the form label beside a field.
QString labelOf(const QWidget* field) {
    for (const QFormLayout* form : field->parentWidget()->findChildren<QFormLayout*>())
        if (auto* label = qobject_cast<QLabel*>(form->labelForField(const_cast<QWidget*>(field))))
            return label->text();
    return {};
}

// The share box: the one spin box shown in percent.
QDoubleSpinBox* sparsityBox(const RecipeEditor& editor) {
    for (QDoubleSpinBox* box : editor.findChildren<QDoubleSpinBox*>())
        if (box->suffix() == " %") return box;
    return nullptr;
}

} // namespace

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

    void headPruningStepRoundTripsItsUnit() {
        RecipeEditor editor;
        editor.setRecipe(Recipe{});
        const int index = editor.addStep(CompressMethod::AttnHeads);
        QCOMPARE(editor.step(index).sparsity, 0.25); // the engine's default for structured pruning
        QCOMPARE(editor.step(index).headUnit, HeadUnit::Query);

        // Chosen in the unit box, as a user does.
        auto* unit = editor.findChild<QComboBox*>("headUnit");
        QVERIFY(unit);
        QCOMPARE(unit->currentData().toInt(), int(HeadUnit::Query));
        unit->setCurrentIndex(unit->findData(int(HeadUnit::Group)));
        QCOMPARE(editor.step(index).headUnit, HeadUnit::Group);
        QCOMPARE(editor.recipe().describe(), std::string("attn_heads 25% group"));
        RecipeStep s = editor.step(index);
        s.sparsity = 0.34;
        editor.setStep(index, s);
        QVERIFY2(editor.validationError().isEmpty(), qPrintable(editor.validationError()));

        const nlohmann::json json = editor.recipe().toJson();
        QCOMPARE(json["steps"][0]["method"].get<std::string>(), std::string("attn_heads"));
        QCOMPARE(json["steps"][0]["unit"].get<std::string>(), std::string("group"));
        QCOMPARE(json["steps"][0]["sparsity"].get<double>(), 0.34);

        // Through a file, as Open… and Save… do: the box shows the loaded unit.
        QTemporaryDir dir;
        const QString path = dir.filePath("heads.json");
        QCOMPARE(editor.saveFile(path), QString());
        RecipeEditor loaded;
        QCOMPARE(loaded.loadFile(path), QString());
        QCOMPARE(loaded.stepCount(), 1);
        QCOMPARE(loaded.step(0).headUnit, HeadUnit::Group);
        QCOMPARE(loaded.step(0).sparsity, 0.34);
        auto* loadedUnit = loaded.findChild<QComboBox*>("headUnit");
        QCOMPARE(loadedUnit->currentData().toInt(), int(HeadUnit::Group));
        QCOMPARE(QString::fromStdString(loaded.recipe().toJson().dump()),
                 QString::fromStdString(json.dump()));

        // A hand-written file with the query unit, and back to the query unit in the box.
        const QString written = dir.filePath("query.json");
        QFile file(written);
        QVERIFY(file.open(QIODevice::WriteOnly));
        file.write(R"({"steps": [{"method": "attn_heads", "sparsity": 0.5, "unit": "query"}]})");
        file.close();
        QCOMPARE(loaded.loadFile(written), QString());
        QCOMPARE(loaded.step(0).headUnit, HeadUnit::Query);
        QCOMPARE(loadedUnit->currentData().toInt(), int(HeadUnit::Query));
        QCOMPARE(loaded.recipe().toJson()["steps"][0]["unit"].get<std::string>(), std::string("query"));
        // Editing another field in the form keeps the unit.
        loadedUnit->setCurrentIndex(loadedUnit->findData(int(HeadUnit::Group)));
        sparsityBox(loaded)->setValue(67);
        QCOMPARE(loaded.recipe().steps[0].headUnit, HeadUnit::Group);
        QCOMPARE(loaded.recipe().steps[0].sparsity, 0.67);
    }

    void headPruningShowsItsOwnFields() {
        RecipeEditor editor;
        editor.resize(900, 600);
        editor.show();
        editor.setRecipe(Recipe{});
        editor.addStep(CompressMethod::AttnHeads);
        editor.addStep(CompressMethod::Wanda);
        editor.selectStep(0);
        QCOMPARE(editor.step(0).method, CompressMethod::AttnHeads);
        for (const char* f : {"method", "unit", "sparsity", "calibration", "storage"})
            QVERIFY2(editor.isFieldVisible(f), f);
        for (const char* f : {"bits", "group", "symmetric", "pattern", "damp", "act_order", "alpha", "grid"})
            QVERIFY2(!editor.isFieldVisible(f), f);
        QVERIFY(!editor.isFieldVisible("head_note")); // no model layout: nothing to say
        auto* unit = editor.findChild<QComboBox*>("headUnit");
        QCOMPARE(labelOf(unit), QString("Unit"));
        const QDoubleSpinBox* sparsity = sparsityBox(editor);
        QVERIFY(sparsity);
        QCOMPARE(labelOf(sparsity), QString("Heads removed"));
        QCOMPARE(sparsity->value(), 25.0);

        editor.selectStep(1); // Wanda: a sparsity, no unit
        QVERIFY(!editor.isFieldVisible("unit"));
        QVERIFY(editor.isFieldVisible("sparsity"));
        QCOMPARE(labelOf(sparsity), QString("Sparsity"));

        editor.setRecipe(Recipe{});
        editor.addStep(CompressMethod::FfnChannels);
        QVERIFY(!editor.isFieldVisible("unit"));
        QCOMPARE(labelOf(sparsity), QString("Channels removed"));
        editor.addStep(CompressMethod::Gptq); // quantizing after head pruning: no storage format
        editor.selectStep(0);
        RecipeStep s = editor.step(0);
        s.method = CompressMethod::AttnHeads;
        editor.setStep(0, s);
        QVERIFY(editor.isFieldVisible("unit"));
        QVERIFY(!editor.isFieldVisible("storage"));
        QVERIFY2(editor.validationError().isEmpty(), qPrintable(editor.validationError()));
    }

    void headLayoutAfterFollowsTheUnit() {
        // Hand-counted: a third of SmolLM2's units is 1 query head per group (3 in all) or 1 group.
        HeadLayout q = headLayoutAfter(kSmolLm2, headStep(0.34, HeadUnit::Query));
        QCOMPARE(q.nHeads, 6);
        QCOMPARE(q.nHeadsKv, 3);
        QCOMPARE(q.headDim, 64);
        HeadLayout g = headLayoutAfter(kSmolLm2, headStep(0.34, HeadUnit::Group));
        QCOMPARE(g.nHeads, 6);
        QCOMPARE(g.nHeadsKv, 2);
        g = headLayoutAfter(kSmolLm2, headStep(0.67, HeadUnit::Group));
        QCOMPARE(g.nHeads, 3);
        QCOMPARE(g.nHeadsKv, 1);
        // Without GQA both units remove whole heads.
        const HeadLayout mha{12, 12, 64};
        for (HeadUnit unit : {HeadUnit::Query, HeadUnit::Group}) {
            const HeadLayout after = headLayoutAfter(mha, headStep(0.25, unit));
            QCOMPARE(after.nHeads, 9);
            QCOMPARE(after.nHeadsKv, 9);
        }
        // Other steps leave the layout alone; a share of no whole unit throws.
        RecipeStep wanda;
        wanda.method = CompressMethod::Wanda;
        QCOMPARE(headLayoutAfter(kSmolLm2, wanda).nHeads, 9);
        QVERIFY_THROWS_EXCEPTION(Error, headLayoutAfter(kSmolLm2, headStep(0.1, HeadUnit::Group)));
        QVERIFY_THROWS_EXCEPTION(Error, headLayoutAfter(kSmolLm2, headStep(0.9, HeadUnit::Query)));
    }

    void headPruningNoteExplainsTheShareOnTheModel() {
        RecipeEditor editor;
        editor.resize(900, 600);
        editor.show();
        editor.setRecipe(Recipe{});
        editor.addStep(CompressMethod::AttnHeads);
        RecipeStep s = headStep(0.34, HeadUnit::Group);
        editor.setStep(0, s);
        QCOMPARE(editor.headPruningNote(), QString());
        editor.setHeadLayout(kSmolLm2);
        QVERIFY(editor.isFieldVisible("head_note"));
        const auto* note = editor.findChild<QLabel*>("headPruningNote");
        QVERIFY(note);
        QCOMPARE(note->text(), editor.headPruningNote());
        QVERIFY2(note->text().contains("loses 1 of its 3 KV groups"), qPrintable(note->text()));
        QVERIFY2(note->text().contains("keeps 6 of 9 query heads and 2 of 3 KV heads"),
                 qPrintable(note->text()));
        QVERIFY2(note->text().contains("33%"), qPrintable(note->text())); // 0.34 rounds to a third

        // The unit box changes the note at once.
        auto* unit = editor.findChild<QComboBox*>("headUnit");
        unit->setCurrentIndex(unit->findData(int(HeadUnit::Query)));
        QVERIFY2(note->text().contains("loses 1 of the 3 query heads in each of its 3 KV groups"),
                 qPrintable(note->text()));
        QVERIFY2(note->text().contains("keeps 6 of 9 query heads and all 3 KV heads"),
                 qPrintable(note->text()));

        // A share of no whole unit: the note says which shares work.
        s = editor.step(0);
        s.sparsity = 0.1;
        editor.setStep(0, s);
        QVERIFY2(note->text().contains("33% to 67%"), qPrintable(note->text()));
        QVERIFY(editor.isFieldVisible("head_note"));

        // One KV head: whole groups cannot go; query heads can.
        editor.setHeadLayout(HeadLayout{2, 1, 32});
        editor.setStep(0, headStep(0.5, HeadUnit::Group));
        QVERIFY2(note->text().contains("single KV group"), qPrintable(note->text()));
        editor.setStep(0, headStep(0.5, HeadUnit::Query));
        QVERIFY2(note->text().contains("loses 1 of its 2 query heads (50%) and keeps 1"),
                 qPrintable(note->text()));

        // A second head-pruning step sees what the first left: 12 heads, then 9, then a third of 9 go.
        editor.setHeadLayout(HeadLayout{12, 12, 64});
        editor.setStep(0, headStep(0.25, HeadUnit::Group));
        editor.addStep(CompressMethod::AttnHeads);
        editor.setStep(1, headStep(0.34, HeadUnit::Query));
        QCOMPARE(editor.currentStep(), 1);
        QVERIFY2(note->text().contains("loses 3 of its 9 (33%) and keeps 6"), qPrintable(note->text()));

        // Other methods and an unknown model say nothing.
        editor.addStep(CompressMethod::Magnitude);
        QCOMPARE(editor.headPruningNote(), QString());
        QVERIFY(!editor.isFieldVisible("head_note"));
        editor.selectStep(0);
        QVERIFY(!editor.headPruningNote().isEmpty());
        editor.setHeadLayout(std::nullopt);
        QVERIFY(!editor.isFieldVisible("head_note"));
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
        QVERIFY(editor.applyPreset("Attention heads 1/3 (KV groups)"));
        QCOMPARE(editor.stepCount(), 1);
        QCOMPARE(editor.step(0).method, CompressMethod::AttnHeads);
        QCOMPARE(editor.step(0).headUnit, HeadUnit::Group);
        QCOMPARE(editor.step(0).sparsity, 0.34);
        QCOMPARE(editor.findChild<QComboBox*>("headUnit")->currentData().toInt(), int(HeadUnit::Group));
        QVERIFY(!editor.applyPreset("no such preset"));
    }
};

QTEST_MAIN(TestRecipeEditor)
#include "TestRecipeEditor.moc"
