// The Optimize page on a tiny synthetic model: a recipe built through the editor runs on the engine
// worker and its variant appears beside the parent (from this session, and again from the store alone);
// a cancelled build leaves no file and no variant; problems and failures show in the page; head pruning
// is checked against the model's heads before it runs.

#include "ChatPage.h"
#include "GuiTestSupport.h"
#include "MainWindow.h"
#include "ModelInspection.h"
#include "OptimizePage.h"
#include "RecipeEditor.h"
#include "TinySyntheticShape.h"
#include "VariantTableModel.h"
#include "io/SyntheticModel.h"
#include "store/RunStore.h"

#include <QDir>
#include <QFile>
#include <QFileInfo>
#include <QPushButton>
#include <QSignalSpy>
#include <QTableView>
#include <QTemporaryDir>
#include <QTest>
#include <algorithm>
#include <filesystem>

using namespace lathe;
using namespace lathe::gui;

namespace {

// A 2-layer F16 model, registered in the store as a drop registers it.
int64_t addTinyModel(AppContext& context, const QString& path,
                     const SyntheticModelShape& shape = test::tinySyntheticShape()) {
    writeSyntheticModel(path.toStdString(), shape, DType::F16, 5);
    const InspectionResult inspected = inspectModelPath(path);
    if (!inspected.record) qFatal("tiny model did not validate: %s", qPrintable(inspected.error));
    return context.store().registerModel(*inspected.record);
}

// RTN 8-bit in groups of 32, built step by step through the editor's API.
void editRtnInt8(RecipeEditor* editor) {
    editor->setRecipe(Recipe{});
    const int index = editor->addStep(CompressMethod::Rtn);
    RecipeStep step = editor->step(index);
    step.quant.bits = 8;
    step.quant.group = 32;
    step.quant.symmetric = true;
    editor->setStep(index, step);
}

// Quick measures: two chunks of 128 tokens, 8 generated tokens once.
VariantEvaluation quickEvaluation() {
    VariantEvaluation e;
    e.quality = true;
    e.perplexity.contextTokens = 128;
    e.perplexity.maxChunks = 2;
    e.speed = true;
    e.generatedTokens = 8;
    e.repetitions = 1;
    return e;
}

VariantOutcome waitForBuild(OptimizePage& page) {
    QSignalSpy finished(&page, &OptimizePage::buildFinished);
    if (!finished.wait(600000)) qFatal("the build did not finish");
    return finished.first().first().value<VariantOutcome>();
}

QPushButton* buttonNamed(QWidget& parent, const QString& text) {
    for (QPushButton* b : parent.findChildren<QPushButton*>())
        if (b->text() == text) return b;
    return nullptr;
}

} // namespace

class TestOptimizePage : public QObject {
    Q_OBJECT
    QTemporaryDir settingsDir_;

private slots:
    void initTestCase() { test::isolateSettings(settingsDir_); }

    void buildsAVariantAndListsItBesideItsParent() {
        QTemporaryDir dir;
        auto context = test::makeContext(dir, false, 2);
        const QString parent = dir.filePath("tiny.F16.gguf");
        const int64_t modelId = addTinyModel(*context, parent);
        OptimizePage page(*context);
        page.resize(1280, 800);
        page.show();
        page.setActiveModel(modelId, "tiny", parent);
        editRtnInt8(page.editor());
        page.setEvaluation(quickEvaluation());
        const QString expected = dir.filePath("tiny.rtn-w8-g32-sym.gguf");
        QCOMPARE(page.outputPath(), expected);
        QVERIFY2(page.problemText().isEmpty(), qPrintable(page.problemText()));
        QCOMPARE(page.variantModel()->rowCount(), 1); // the parent alone

        QVERIFY(page.startBuild());
        QVERIFY(page.isBuilding());
        QVERIFY(!page.startBuild()); // one build at a time
        const VariantOutcome outcome = waitForBuild(page);
        QVERIFY2(outcome.error.isEmpty(), qPrintable(outcome.error));
        QVERIFY(!outcome.cancelled);
        QVERIFY(!page.isBuilding());
        QVERIFY(page.errorText().isEmpty());

        const qint64 parentBytes = QFileInfo(parent).size();
        const qint64 variantBytes = QFileInfo(expected).size();
        QVERIFY(QFileInfo::exists(expected));
        QVERIFY2(variantBytes < parentBytes,
                 qPrintable(QString("%1 >= %2").arg(variantBytes).arg(parentBytes)));

        auto checkRows = [&](const VariantTableModel* model, bool fromSession) {
            QCOMPARE(model->rowCount(), 2);
            const VariantRow* p = model->rowAt(0);
            const VariantRow* v = model->rowAt(1);
            QVERIFY(p->isParent);
            QCOMPARE(p->path, parent);
            QCOMPARE(p->bytes.value_or(0), double(parentBytes));
            QVERIFY(p->perplexity && *p->perplexity > 1.0);
            QVERIFY(p->tokensPerSecond && *p->tokensPerSecond > 0);
            QVERIFY(!v->isParent);
            QCOMPARE(QFileInfo(v->path), QFileInfo(expected));
            QVERIFY(v->fileExists());
            QCOMPARE(v->bytes.value_or(0), double(variantBytes));
            QCOMPARE(v->parentBytes.value_or(0), double(parentBytes));
            QVERIFY(v->perplexity && *v->perplexity > 1.0);
            QVERIFY(v->perplexityError && *v->perplexityError >= 0);
            QVERIFY(v->klDivergence && *v->klDivergence >= 0);
            QVERIFY(v->top1Agreement && *v->top1Agreement >= 0 && *v->top1Agreement <= 1);
            QVERIFY(v->tokensPerSecond && *v->tokensPerSecond > 0);
            QVERIFY(v->peakRssBytes && *v->peakRssBytes > 0);
            QVERIFY(v->runId.has_value());
            QCOMPARE(v->recipe, QString("rtn w8 g32 sym"));
            // The size cell says MiB and the share of the parent.
            const QString size =
                model->data(model->index(1, VariantTableModel::SizeColumn), Qt::DisplayRole).toString();
            QVERIFY2(size.contains("MiB") &&
                         size.contains(QString("%1 %").arg(qRound(100.0 * variantBytes / parentBytes))),
                     qPrintable(size));
            if (fromSession) QCOMPARE(*v->perplexity, outcome.result.variant.perplexity);
        };
        checkRows(page.variantModel(), true);
        if (QTest::currentTestFailed()) return;

        // The store has the run with its metrics; a fresh page lists the variant from the store alone.
        RunQuery query;
        query.filter.kind = RunKind::Compress;
        const std::vector<RunRecord> runs = context->store().listRuns(query);
        QCOMPARE(runs.size(), size_t(1));
        QCOMPARE(runs[0].status, RunStatus::Done);
        QCOMPARE(runs[0].modelId, std::optional<int64_t>(modelId));
        OptimizePage again(*context);
        again.setActiveModel(modelId, "tiny", parent);
        checkRows(again.variantModel(), false);
        if (QTest::currentTestFailed()) return;
        QCOMPARE(*again.variantModel()->rowAt(1)->perplexity, outcome.result.variant.perplexity);

        // Selecting the variant offers to load it in Chat.
        QSignalSpy load(&page, &OptimizePage::loadVariantRequested);
        QPushButton* loadButton = buttonNamed(page, "Load in Chat");
        QVERIFY(loadButton);
        page.table()->selectRow(0);
        QVERIFY(!loadButton->isEnabled()); // the parent is already the current model
        page.table()->selectRow(1);
        QVERIFY(loadButton->isEnabled());
        loadButton->click();
        QCOMPARE(load.size(), 1);
        QCOMPARE(QFileInfo(load.first().first().toString()), QFileInfo(expected));
    }

    void cancelLeavesNoFileAndNoVariant() {
        QTemporaryDir dir;
        auto context = test::makeContext(dir, false, 2);
        const QString parent = dir.filePath("tiny.F16.gguf");
        const int64_t modelId = addTinyModel(*context, parent);
        OptimizePage page(*context);
        page.setActiveModel(modelId, "tiny", parent);
        editRtnInt8(page.editor());
        page.setEvaluation(quickEvaluation());
        const QString output = page.outputPath();
        QVERIFY(page.startBuild());
        // Cancelled before the worker starts it: the engine sees the token at its first check.
        page.cancelBuild();
        const VariantOutcome outcome = waitForBuild(page);
        QVERIFY(outcome.cancelled);
        QVERIFY(outcome.error.isEmpty());
        QVERIFY(!QFileInfo::exists(output));
        QCOMPARE(page.variantModel()->rowCount(), 1);
        QVERIFY(page.errorText().isEmpty());
        QVERIFY2(page.stageText().contains("Cancelled"), qPrintable(page.stageText()));
        RunQuery query;
        query.filter.kind = RunKind::Compress;
        query.filter.status = RunStatus::Done;
        QCOMPARE(context->store().listRuns(query).size(), size_t(0));
        // Nothing else in the folder but the parent and the store.
        for (const QString& name : QDir(dir.path()).entryList(QDir::Files))
            QVERIFY2(name == "tiny.F16.gguf" || name.startsWith("lathe.db"), qPrintable(name));

        // The page is usable again.
        QVERIFY(page.problemText().isEmpty());
        QVERIFY(page.startBuild());
        const VariantOutcome second = waitForBuild(page);
        QVERIFY2(second.error.isEmpty(), qPrintable(second.error));
        QVERIFY(QFileInfo::exists(output));
        QCOMPARE(page.variantModel()->rowCount(), 2);
    }

    void problemsBlockTheBuildAndFailuresShowInThePage() {
        QTemporaryDir dir;
        auto context = test::makeContext(dir, false, 2);
        const QString parent = dir.filePath("tiny.F16.gguf");
        const int64_t modelId = addTinyModel(*context, parent);
        OptimizePage page(*context);
        page.setActiveModel(0, {}, {});
        QVERIFY(!page.problemText().isEmpty()); // no model
        QVERIFY(!page.startBuild());
        page.setActiveModel(modelId, "tiny", parent);

        // Groups of 64 on the tiny model's 96 feed-forward channels (ffn_down's rows) end in a short
        // group of 32, which the engine stores: no problem.
        editRtnInt8(page.editor());
        RecipeStep step = page.editor()->step(0);
        step.quant.group = 64;
        page.editor()->setStep(0, step);
        QVERIFY2(page.problemText().isEmpty(), qPrintable(page.problemText()));
        step.quant.group = 32;
        page.editor()->setStep(0, step);
        QVERIFY(page.problemText().isEmpty());

        page.setOutputPath(parent);
        QVERIFY(!page.problemText().isEmpty()); // it would replace the parent
        page.setOutputPath({});
        QCOMPARE(page.outputPath(), dir.filePath("tiny.rtn-w8-g32-sym.gguf"));

        // A failure in the engine (the parent vanished) is shown, not thrown.
        QVERIFY(QFile::remove(parent));
        page.setEvaluation(quickEvaluation());
        QVERIFY(page.startBuild());
        const VariantOutcome outcome = waitForBuild(page);
        QVERIFY(!outcome.cancelled);
        QVERIFY(!outcome.error.isEmpty());
        QVERIFY(page.errorText().contains(outcome.error));
        QVERIFY(!QFileInfo::exists(page.outputPath()));
        QCOMPARE(page.variantModel()->rowCount(), 1);
    }

    void headPruningIsCheckedAgainstTheModel() {
        QTemporaryDir dir;
        auto context = test::makeContext(dir, false, 2);
        const QString parent = dir.filePath("tiny.F16.gguf");
        const int64_t modelId = addTinyModel(*context, parent);
        OptimizePage page(*context);
        page.resize(1280, 800);
        page.show();
        page.setActiveModel(modelId, "tiny", parent);
        RecipeEditor* editor = page.editor();
        editor->setRecipe(Recipe{});
        const int index = editor->addStep(CompressMethod::AttnHeads);

        // The tiny model's 2 query heads read 1 KV head: its one KV group cannot go.
        RecipeStep step = editor->step(index);
        step.headUnit = HeadUnit::Group;
        step.sparsity = 0.5;
        editor->setStep(index, step);
        QVERIFY(editor->validationError().isEmpty()); // a valid recipe, only not for this model
        QVERIFY2(page.problemText().startsWith("Step 1 (attn_heads 50% group)"),
                 qPrintable(page.problemText()));
        QVERIFY(!page.startBuild());
        QVERIFY2(editor->headPruningNote().contains("single KV group"),
                 qPrintable(editor->headPruningNote()));

        // One of its two query heads can.
        step.headUnit = HeadUnit::Query;
        editor->setStep(index, step);
        QVERIFY2(page.problemText().isEmpty(), qPrintable(page.problemText()));
        QVERIFY2(editor->headPruningNote().contains("loses 1 of its 2 query heads"),
                 qPrintable(editor->headPruningNote()));
        const QString expected = dir.filePath("tiny.attn-heads-50-query.gguf");
        QCOMPARE(page.outputPath(), expected);
        page.setEvaluation(quickEvaluation());
        QVERIFY(page.startBuild());
        const VariantOutcome outcome = waitForBuild(page);
        QVERIFY2(outcome.error.isEmpty(), qPrintable(outcome.error));
        QVERIFY(QFileInfo::exists(expected));
        const std::vector<std::string>& notes = outcome.result.report.notes;
        QVERIFY(std::any_of(notes.begin(), notes.end(), [](const std::string& n) {
            return n.find("1 of 2 query heads and 1 of 1 KV heads kept") != std::string::npos;
        }));
        // The variant's stored recipe keeps the unit, for "Edit its recipe".
        QCOMPARE(page.variantModel()->rowCount(), 2);
        const VariantRow* row = page.variantModel()->rowAt(1);
        QCOMPARE(row->recipeJson["steps"][0]["unit"].get<std::string>(), std::string("query"));
        QCOMPARE(page.variantModel()->rowAt(0)->path, parent);
    }

    void prunedHeadsMustFillTheStoredBlocks() {
        // 4 heads of 16, each with its own KV head: a quarter of them leaves attn_output rows of 3 x 16 = 48
        // weights, which Q8_0's blocks of 32 cannot hold; half of them leaves 2 x 16 = 32.
        SyntheticModelShape shape = test::tinySyntheticShape();
        shape.config.nHeads = 4;
        shape.config.nHeadsKv = 4;
        shape.config.headDim = 16;
        shape.config.ropeDims = 16;
        QTemporaryDir dir;
        auto context = test::makeContext(dir, false, 2);
        const QString parent = dir.filePath("narrow.F16.gguf");
        const int64_t modelId = addTinyModel(*context, parent, shape);
        OptimizePage page(*context);
        page.setActiveModel(modelId, "narrow", parent);
        RecipeEditor* editor = page.editor();
        editor->setRecipe(Recipe{});
        const int index = editor->addStep(CompressMethod::AttnHeads); // a quarter: 1 of 4 heads, 3 x 16 left
        QCOMPARE(editor->step(index).sparsity, 0.25);
        QVERIFY2(page.problemText().contains("48 weights") && page.problemText().contains("F16"),
                 qPrintable(page.problemText()));
        Recipe recipe = editor->recipe();
        recipe.storage = DType::F16;
        editor->setRecipe(recipe);
        QVERIFY2(page.problemText().isEmpty(), qPrintable(page.problemText()));
        // A quantizer after it would store those rows in groups of 32 as well.
        editor->addStep(CompressMethod::Rtn);
        QVERIFY2(page.problemText().contains("48") && page.problemText().contains("attention output"),
                 qPrintable(page.problemText()));
        // Half of the heads leave 2 x 16 = 32: whole blocks.
        RecipeStep step = editor->step(0);
        step.sparsity = 0.5;
        editor->setStep(0, step);
        QVERIFY2(page.problemText().isEmpty(), qPrintable(page.problemText()));
    }

    void loadInChatMakesTheVariantTheCurrentModel() {
        QTemporaryDir dir;
        auto context = test::makeContext(dir, false, 2);
        const QString parent = dir.filePath("tiny.F16.gguf");
        const int64_t modelId = addTinyModel(*context, parent);
        MainWindow window(*context);
        window.resize(1280, 800);
        window.show();
        QSignalSpy activated(&window, &MainWindow::modelActivated);
        window.activateModel(modelId);
        QVERIFY(activated.wait(60000));
        OptimizePage* page = window.optimizePage();
        QCOMPARE(page->modelPath(), parent); // the loaded model is the page's parent
        window.showPage(MainWindow::OptimizePageIndex);
        editRtnInt8(page->editor());
        VariantEvaluation none;
        none.quality = false;
        none.speed = false;
        page->setEvaluation(none);
        QVERIFY(page->startBuild());
        const VariantOutcome outcome = waitForBuild(*page);
        QVERIFY2(outcome.error.isEmpty(), qPrintable(outcome.error));
        QCOMPARE(page->variantModel()->rowCount(), 2);
        QVERIFY(!page->variantModel()->rowAt(1)->perplexity); // not measured: shown as a dash
        QCOMPARE(page->variantModel()->data(
                     page->variantModel()->index(1, VariantTableModel::PerplexityColumn), Qt::DisplayRole),
                 QVariant(QString("—")));

        page->table()->selectRow(1);
        buttonNamed(*page, "Load in Chat")->click();
        QVERIFY(activated.wait(60000));
        const QString variant = QString::fromStdString(outcome.result.path.string());
        QCOMPARE(QFileInfo(page->modelPath()), QFileInfo(variant));
        QVERIFY(window.chatPage()->isVisible());
        const std::optional<ModelRecord> loaded =
            context->store().getModel(activated.last().first().toLongLong());
        QVERIFY(loaded);
        QCOMPARE(QFileInfo(QString::fromStdString(loaded->path)), QFileInfo(variant));
        // The variant is now the parent: it has no variants of its own yet.
        QCOMPARE(page->variantModel()->rowCount(), 1);
    }

    void isAPageOfTheWindowWithAnEmptyState() {
        QTemporaryDir dir;
        auto context = test::makeContext(dir);
        MainWindow window(*context);
        QCOMPARE(window.pageName(MainWindow::OptimizePageIndex), QString("Optimize"));
        QCOMPARE(window.pageName(MainWindow::MonitorPageIndex), QString("Monitor"));
        QCOMPARE(window.pageName(MainWindow::RunsPageIndex), QString("Runs"));
        QCOMPARE(window.pageCount(), 5);
        QVERIFY(window.optimizePage()->modelPath().isEmpty());
        QVERIFY(buttonNamed(*window.optimizePage(), "Go to Models"));
    }
};

QTEST_MAIN(TestOptimizePage)
#include "TestOptimizePage.moc"
