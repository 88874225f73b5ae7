#include "OptimizePage.h"

#include "AppContext.h"
#include "ModelListModel.h"
#include "RecipeEditor.h"
#include "VariantNaming.h"
#include "VariantTableModel.h"
#include "store/RunStore.h"
#include "widgets/EmptyState.h"
#include "widgets/ErrorBanner.h"
#include "widgets/Theme.h"

#include <QCheckBox>
#include <QFileDialog>
#include <QFileInfo>
#include <QFrame>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QItemSelectionModel>
#include <QLabel>
#include <QLineEdit>
#include <QProgressBar>
#include <QPushButton>
#include <QSettings>
#include <QSpinBox>
#include <QStackedWidget>
#include <QTableView>
#include <QToolButton>
#include <QVBoxLayout>
#include <algorithm>
#include <map>

namespace lathe::gui {
namespace {

quint64 nextJobId() {
    static quint64 next = 1;
    return next++;
}

QSpinBox* spin(int lo, int hi, int value, QWidget* parent) {
    auto* box = new QSpinBox(parent);
    box->setRange(lo, hi);
    box->setValue(value);
    return box;
}

QLabel* cardTitle(const QString& text, QWidget* parent) {
    auto* label = new QLabel(text, parent);
    label->setStyleSheet("font-weight: 600; font-size: 14px;");
    return label;
}

QLabel* sectionLabel(const QString& text, QWidget* parent) {
    auto* label = new QLabel(text, parent);
    widgets::setRole(label, "section");
    return label;
}

bool usesQuantSpec(CompressMethod m) {
    return m == CompressMethod::Rtn || m == CompressMethod::Awq || m == CompressMethod::Gptq;
}

// The model's summary as the store keeps it (null when unknown).
nlohmann::json modelSummary(AppContext& context, int64_t modelId) {
    if (modelId <= 0) return {};
    try {
        const std::optional<ModelRecord> model = context.store().getModel(modelId);
        if (model && model->summary.is_object()) return model->summary;
    } catch (const std::exception&) {
    }
    return {};
}

int summaryInt(const nlohmann::json& summary, const char* key) {
    const auto it = summary.find(key);
    return it != summary.end() && it->is_number_integer() ? it->get<int>() : 0;
}

// The attention layout from a summary, when it holds one the engine could prune.
std::optional<HeadLayout> summaryHeadLayout(const nlohmann::json& summary) {
    if (!summary.is_object()) return std::nullopt;
    const HeadLayout layout{summaryInt(summary, "heads"), summaryInt(summary, "kv_heads"),
                            summaryInt(summary, "head_dim")};
    if (layout.nHeads <= 0 || layout.nHeadsKv <= 0 || layout.headDim <= 0 ||
        layout.nHeads % layout.nHeadsKv != 0)
        return std::nullopt;
    return layout;
}

bool samePath(const QString& a, const QString& b) {
    return !a.isEmpty() && !b.isEmpty() && QFileInfo(a).absoluteFilePath() == QFileInfo(b).absoluteFilePath();
}

} // namespace

OptimizePage::OptimizePage(AppContext& context, QWidget* parent) : QWidget(parent), context_(context) {
    setObjectName("page");
    auto* layout = new QVBoxLayout(this);
    layout->setContentsMargins(24, 20, 24, 16);
    layout->setSpacing(12);

    auto* title = new QLabel(tr("Optimize"), this);
    widgets::setRole(title, "title");
    subtitle_ = new QLabel(this);
    widgets::setRole(subtitle_, "subtitle");
    subtitle_->setTextInteractionFlags(Qt::TextSelectableByMouse);
    layout->addWidget(title);
    layout->addWidget(subtitle_);

    stack_ = new QStackedWidget(this);
    empty_ = new widgets::EmptyState(stack_);
    empty_->setContent(
        tr("No model loaded"),
        tr("Load a model on the Models page (or drop a .gguf file anywhere on the window), then "
           "build quantized and pruned variants of it here and compare them with it."));
    connect(empty_->setAction(tr("Go to Models")), &QPushButton::clicked, this,
            &OptimizePage::modelsPageRequested);
    stack_->addWidget(empty_);

    auto* content = new QWidget(stack_);
    auto* contentLayout = new QVBoxLayout(content);
    contentLayout->setContentsMargins(0, 0, 0, 0);
    contentLayout->setSpacing(12);
    auto* top = new QHBoxLayout;
    top->setSpacing(12);

    // The recipe.
    auto* recipeCard = new QFrame(content);
    widgets::makeCard(recipeCard);
    auto* recipeLayout = new QVBoxLayout(recipeCard);
    recipeLayout->setContentsMargins(16, 12, 16, 12);
    recipeLayout->setSpacing(8);
    auto* recipeHeader = new QHBoxLayout;
    recipeHeader->addWidget(cardTitle(tr("Recipe"), recipeCard), 1);
    auto* openRecipe = new QPushButton(tr("Open…"), recipeCard);
    openRecipe->setToolTip(tr("Load a recipe JSON file"));
    auto* saveRecipe = new QPushButton(tr("Save…"), recipeCard);
    saveRecipe->setToolTip(tr("Save the recipe as a JSON file (lathe-cli reads it too)"));
    recipeHeader->addWidget(openRecipe);
    recipeHeader->addWidget(saveRecipe);
    recipeLayout->addLayout(recipeHeader);
    editor_ = new RecipeEditor(recipeCard);
    recipeLayout->addWidget(editor_, 1);
    problem_ = new QLabel(recipeCard);
    problem_->setObjectName("recipeProblem");
    problem_->setWordWrap(true);
    problem_->setTextInteractionFlags(Qt::TextSelectableByMouse);
    widgets::setRole(problem_, "error");
    recipeLayout->addWidget(problem_);
    top->addWidget(recipeCard, 1);

    // How to measure it, where to write it, and the run itself.
    auto* runCard = new QFrame(content);
    widgets::makeCard(runCard);
    runCard->setFixedWidth(400);
    auto* runLayout = new QVBoxLayout(runCard);
    runLayout->setContentsMargins(16, 12, 16, 12);
    runLayout->setSpacing(6);
    runLayout->addWidget(cardTitle(tr("Build and measure"), runCard));
    runLayout->addWidget(sectionLabel(tr("Evaluation"), runCard));
    quality_ = new QCheckBox(tr("Perplexity, KL divergence, top-1 agreement"), runCard);
    quality_->setToolTip(tr("Both models over the evaluation text, on the same scored tokens"));
    runLayout->addWidget(quality_);
    auto* qualityRow = new QHBoxLayout;
    evalContext_ = spin(16, 32768, 512, runCard);
    evalContext_->setSingleStep(128);
    evalContext_->setToolTip(tr("Tokens per evaluated chunk (llama-perplexity's -c)"));
    evalChunks_ = spin(0, 100000, 0, runCard);
    evalChunks_->setSpecialValueText(tr("all"));
    evalChunks_->setToolTip(tr("Chunks of the evaluation text to score (0: all of them)"));
    qualityRow->addSpacing(22);
    qualityRow->addWidget(new QLabel(tr("Context"), runCard));
    qualityRow->addWidget(evalContext_);
    qualityRow->addSpacing(8);
    qualityRow->addWidget(new QLabel(tr("Chunks"), runCard));
    qualityRow->addWidget(evalChunks_);
    qualityRow->addStretch(1);
    runLayout->addLayout(qualityRow);
    speed_ = new QCheckBox(tr("Decode speed and peak memory"), runCard);
    speed_->setToolTip(tr("Greedy generation with each model in turn, as lathe-cli bench measures it"));
    runLayout->addWidget(speed_);
    auto* speedRow = new QHBoxLayout;
    speedTokens_ = spin(1, 4096, 128, runCard);
    speedTokens_->setToolTip(tr("Tokens generated per measured repetition"));
    speedReps_ = spin(1, 50, 3, runCard);
    speedRow->addSpacing(22);
    speedRow->addWidget(new QLabel(tr("Tokens"), runCard));
    speedRow->addWidget(speedTokens_);
    speedRow->addSpacing(8);
    speedRow->addWidget(new QLabel(tr("Repetitions"), runCard));
    speedRow->addWidget(speedReps_);
    speedRow->addStretch(1);
    runLayout->addLayout(speedRow);

    runLayout->addSpacing(4);
    runLayout->addWidget(sectionLabel(tr("Output file"), runCard));
    auto* outputRow = new QHBoxLayout;
    output_ = new QLineEdit(runCard);
    output_->setObjectName("variantOutput");
    auto* saveAs = new QPushButton(tr("Save as…"), runCard);
    outputRow->addWidget(output_, 1);
    outputRow->addWidget(saveAs);
    runLayout->addLayout(outputRow);
    outputNote_ = new QLabel(runCard);
    outputNote_->setWordWrap(true);
    widgets::setRole(outputNote_, "muted");
    runLayout->addWidget(outputNote_);

    runLayout->addSpacing(4);
    auto* buttons = new QHBoxLayout;
    buildButton_ = new QPushButton(tr("Build variant"), runCard);
    buildButton_->setProperty("accent", true);
    cancelButton_ = new QPushButton(tr("Cancel"), runCard);
    buttons->addWidget(buildButton_);
    buttons->addWidget(cancelButton_);
    buttons->addStretch(1);
    runLayout->addLayout(buttons);
    progress_ = new QProgressBar(runCard);
    progress_->setRange(0, 1000);
    progress_->setTextVisible(false);
    runLayout->addWidget(progress_);
    stage_ = new QLabel(runCard);
    stage_->setWordWrap(true);
    widgets::setRole(stage_, "muted");
    runLayout->addWidget(stage_);
    errorBanner_ = new widgets::ErrorBanner(runCard);
    runLayout->addWidget(errorBanner_);
    runLayout->addStretch(1);
    top->addWidget(runCard);
    contentLayout->addLayout(top);

    // The variants beside their parent.
    auto* variantsCard = new QFrame(content);
    widgets::makeCard(variantsCard);
    auto* variantsLayout = new QVBoxLayout(variantsCard);
    variantsLayout->setContentsMargins(16, 12, 16, 12);
    variantsLayout->setSpacing(8);
    auto* variantsHeader = new QHBoxLayout;
    variantsTitle_ = cardTitle(tr("Variants"), variantsCard);
    reuseButton_ = new QPushButton(tr("Edit its recipe"), variantsCard);
    reuseButton_->setToolTip(tr("Load the selected variant's recipe into the editor"));
    loadButton_ = new QPushButton(tr("Load in Chat"), variantsCard);
    loadButton_->setToolTip(tr("Open the selected variant as the current model and chat with it"));
    variantsHeader->addWidget(variantsTitle_, 1);
    variantsHeader->addWidget(reuseButton_);
    variantsHeader->addWidget(loadButton_);
    variantsLayout->addLayout(variantsHeader);
    variants_ = new VariantTableModel(this);
    table_ = new QTableView(variantsCard);
    table_->setObjectName("variantTable");
    table_->setModel(variants_);
    table_->setSelectionBehavior(QAbstractItemView::SelectRows);
    table_->setSelectionMode(QAbstractItemView::SingleSelection);
    table_->setEditTriggers(QAbstractItemView::NoEditTriggers);
    table_->setAlternatingRowColors(true);
    table_->setWordWrap(false);
    table_->setTextElideMode(Qt::ElideLeft); // file names differ at their end
    table_->verticalHeader()->setVisible(false);
    table_->verticalHeader()->setDefaultSectionSize(26);
    table_->setHorizontalScrollBarPolicy(Qt::ScrollBarAsNeeded);
    QHeaderView* header = table_->horizontalHeader();
    header->setSectionResizeMode(QHeaderView::ResizeToContents);
    header->setSectionResizeMode(VariantTableModel::NameColumn, QHeaderView::Stretch);
    header->setDefaultAlignment(Qt::AlignLeft | Qt::AlignVCenter);
    table_->setMinimumHeight(130);
    variantsLayout->addWidget(table_, 1);
    contentLayout->addWidget(variantsCard, 1);
    stack_->addWidget(content);
    layout->addWidget(stack_, 1);

    connect(editor_, &RecipeEditor::changed, this, [this] {
        updateOutput();
        updateProblem();
        updateControls();
    });
    connect(editor_, &RecipeEditor::statusMessage, this, &OptimizePage::statusMessage);
    connect(openRecipe, &QPushButton::clicked, editor_, &RecipeEditor::openWithDialog);
    connect(saveRecipe, &QPushButton::clicked, editor_, &RecipeEditor::saveWithDialog);
    connect(quality_, &QCheckBox::toggled, this, [this] { updateControls(); });
    connect(speed_, &QCheckBox::toggled, this, [this] { updateControls(); });
    connect(output_, &QLineEdit::textEdited, this, [this] {
        outputChosen_ = true;
        updateProblem();
        updateControls();
    });
    connect(output_, &QLineEdit::editingFinished, this, [this] {
        if (output_->text().trimmed().isEmpty()) setOutputPath({});
    });
    connect(saveAs, &QPushButton::clicked, this, [this] {
        QString path = QFileDialog::getSaveFileName(this, tr("Write the variant to"), outputPath(),
                                                    tr("GGUF models (*.gguf)"));
        if (path.isEmpty()) return;
        if (!path.endsWith(".gguf", Qt::CaseInsensitive)) path += ".gguf";
        setOutputPath(path);
    });
    connect(buildButton_, &QPushButton::clicked, this, [this] { startBuild(); });
    connect(cancelButton_, &QPushButton::clicked, this, &OptimizePage::cancelBuild);
    connect(table_->selectionModel(), &QItemSelectionModel::selectionChanged, this,
            [this] { updateControls(); });
    connect(variants_, &QAbstractItemModel::modelReset, this, [this] { updateControls(); });
    connect(loadButton_, &QPushButton::clicked, this, [this] {
        const VariantRow* row = variants_->rowAt(table_->currentIndex().row());
        if (row && !row->isParent && row->fileExists()) emit loadVariantRequested(row->path);
    });
    connect(reuseButton_, &QPushButton::clicked, this, [this] {
        const VariantRow* row = variants_->rowAt(table_->currentIndex().row());
        if (!row || row->recipeJson.is_null()) return;
        try {
            editor_->setRecipe(Recipe::fromJson(row->recipeJson));
        } catch (const std::exception& e) {
            showError(tr("That run's recipe cannot be read: %1").arg(QString::fromStdString(e.what())));
        }
    });
    EngineWorker* worker = &context_.worker();
    connect(worker, &EngineWorker::variantProgress, this, &OptimizePage::onProgress, Qt::QueuedConnection);
    connect(worker, &EngineWorker::variantFinished, this, &OptimizePage::onFinished, Qt::QueuedConnection);

    loadSettings();
    setActiveModel(0, {}, {});
}

void OptimizePage::setActiveModel(int64_t modelId, const QString& name, const QString& path) {
    const bool changed = !samePath(path, modelPath_);
    modelId_ = modelId;
    modelName_ = name;
    modelPath_ = path;
    const bool has = !path.isEmpty();
    stack_->setCurrentIndex(has ? 1 : 0);
    if (!has) {
        subtitle_->setText(tr("Compress a model into a variant and measure it beside its parent"));
    } else {
        const QFileInfo info(path);
        subtitle_->setText(tr("%1  ·  %2  ·  compress it into a variant and measure it beside it")
                               .arg(name.isEmpty() ? info.fileName() : name,
                                    info.isFile() ? humanBytes(double(info.size())) : info.fileName()));
        variantsTitle_->setText(tr("Variants of %1").arg(info.fileName()));
    }
    if (changed) outputChosen_ = false;
    editor_->setHeadLayout(summaryHeadLayout(modelSummary(context_, modelId)));
    updateOutput();
    updateProblem();
    refreshVariants();
    updateControls();
}

VariantEvaluation OptimizePage::evaluation() const {
    VariantEvaluation e;
    e.quality = quality_->isChecked();
    e.perplexity.contextTokens = evalContext_->value();
    e.perplexity.maxChunks = evalChunks_->value();
    e.speed = speed_->isChecked();
    e.generatedTokens = speedTokens_->value();
    e.repetitions = speedReps_->value();
    return e;
}

void OptimizePage::setEvaluation(const VariantEvaluation& e) {
    quality_->setChecked(e.quality);
    evalContext_->setValue(e.perplexity.contextTokens);
    evalChunks_->setValue(e.perplexity.maxChunks);
    speed_->setChecked(e.speed);
    speedTokens_->setValue(e.generatedTokens);
    speedReps_->setValue(e.repetitions);
    updateControls();
}

QString OptimizePage::outputPath() const {
    return output_->text().trimmed();
}

void OptimizePage::setOutputPath(const QString& path) {
    outputChosen_ = !path.trimmed().isEmpty();
    if (outputChosen_) output_->setText(path.trimmed());
    updateOutput();
    updateProblem();
    updateControls();
}

void OptimizePage::updateOutput() {
    if (!outputChosen_) {
        const QString path =
            modelPath_.isEmpty() ? QString() : defaultVariantPath(modelPath_, editor_->recipe());
        if (output_->text() != path) output_->setText(path);
    }
    output_->setToolTip(outputPath());
}

QString OptimizePage::shapeProblem(const Recipe& recipe) const {
    const nlohmann::json s = modelSummary(context_, modelId_);
    if (!s.is_object()) return {};
    // Head pruning removes the same whole units from every layer: a share that rounds to none or all of
    // them cannot run, and the heads that remain are attn_output's width for the steps after it.
    std::optional<HeadLayout> layout = summaryHeadLayout(s);
    bool headsPruned = false;
    for (size_t i = 0; i < recipe.steps.size() && layout; ++i) {
        if (recipe.steps[i].method != CompressMethod::AttnHeads) continue;
        try {
            layout = headLayoutAfter(*layout, recipe.steps[i]);
            headsPruned = true;
        } catch (const std::exception& e) {
            return tr("Step %1 (%2) cannot run on this model: %3")
                .arg(i + 1)
                .arg(QString::fromStdString(recipe.steps[i].describe()), QString::fromStdString(e.what()));
        }
    }
    const int hidden = summaryInt(s, "hidden"), headDim = summaryInt(s, "head_dim"),
              ffn = summaryInt(s, "ffn");
    const int heads = layout ? layout->nHeads : summaryInt(s, "heads");
    if (hidden <= 0 || heads <= 0 || headDim <= 0 || ffn <= 0) return {};
    // Pruned heads are stored in the recipe's format when no step quantizes them; Q8_0 needs whole blocks.
    const bool quantized = std::any_of(recipe.steps.begin(), recipe.steps.end(),
                                       [](const RecipeStep& step) { return isQuantizing(step.method); });
    const int storageBlock = int(dtypeInfo(recipe.storage).blockSize);
    if (headsPruned && !quantized && storageBlock > 1 && heads * headDim % storageBlock != 0)
        return tr("After head pruning, a row of this model's attention output matrices holds %1 weights, "
                  "which are not whole blocks of %2 for %3: store changed weights as F16.")
            .arg(heads * headDim)
            .arg(storageBlock)
            .arg(QString::fromUtf8(dtypeName(recipe.storage).data()).toUpper());
    bool ffnResized = false;
    for (const RecipeStep& step : recipe.steps) {
        if (step.method == CompressMethod::FfnChannels) ffnResized = true;
        if (!usesQuantSpec(step.method) || step.quant.group <= 0) continue;
        // The input widths of the block matrices: attn_q/k/v and ffn_gate/up read the hidden state,
        // attn_output the heads (those left after head pruning, which comes first: a recipe quantizes
        // last), ffn_down the feed-forward channels (unknown once channels are removed).
        std::vector<std::pair<int, QString>> widths = {{hidden, tr("attention and feed-forward input")},
                                                       {heads * headDim, tr("attention output")}};
        if (!ffnResized) widths.push_back({ffn, tr("feed-forward output")});
        // A row that is not whole groups ends in a shorter group (576 = 4 x 128 + 64); only the stored
        // blocks of 32 must fit.
        for (const auto& [width, what] : widths)
            if (width % 32 != 0)
                return tr("The %1 weights of a row of this model's %2 matrices are not whole blocks of 32, "
                          "which every stored quantized format needs.")
                    .arg(width)
                    .arg(what);
    }
    return {};
}

void OptimizePage::updateProblem() {
    QString problem = editor_->validationError();
    if (problem.isEmpty()) problem = shapeProblem(editor_->recipe());
    problem_->setText(problem);
    problem_->setVisible(!problem.isEmpty());

    const QString output = outputPath();
    QString note;
    const char* role = "muted";
    if (modelPath_.isEmpty()) {
        note.clear();
    } else if (output.isEmpty()) {
        note = tr("Choose where to write the variant.");
        role = "error";
    } else if (samePath(output, modelPath_)) {
        note = tr("That is the parent model itself: choose another file.");
        role = "error";
    } else if (!QFileInfo(output).absoluteDir().exists()) {
        note = tr("The folder %1 does not exist.").arg(QFileInfo(output).absolutePath());
        role = "error";
    } else if (QFileInfo::exists(output)) {
        note = tr("A file of this name exists: building replaces it.");
    } else {
        note = outputChosen_
                   ? tr("Written when the build succeeds; nothing is left behind on cancel.")
                   : tr("Named after the recipe, next to the model. Type a path to choose another.");
    }
    outputNote_->setText(note);
    widgets::setRole(outputNote_, role);
}

QString OptimizePage::problemText() const {
    if (modelPath_.isEmpty()) return tr("No model is loaded.");
    if (!problem_->text().isEmpty()) return problem_->text();
    if (outputNote_->property("role").toString() == "error") return outputNote_->text();
    return {};
}

QString OptimizePage::errorText() const {
    return errorBanner_->errorText();
}

QString OptimizePage::stageText() const {
    return stage_->text();
}

void OptimizePage::updateControls() {
    const bool building = job_ != 0;
    buildButton_->setEnabled(!building && problemText().isEmpty());
    buildButton_->setToolTip(problemText());
    cancelButton_->setVisible(building);
    progress_->setVisible(building);
    editor_->setEnabled(!building);
    for (QWidget* w :
         {static_cast<QWidget*>(quality_), static_cast<QWidget*>(speed_), static_cast<QWidget*>(output_)})
        w->setEnabled(!building);
    evalContext_->setEnabled(!building && quality_->isChecked());
    evalChunks_->setEnabled(!building && quality_->isChecked());
    speedTokens_->setEnabled(!building && speed_->isChecked());
    speedReps_->setEnabled(!building && speed_->isChecked());
    const VariantRow* row = variants_->rowAt(table_->currentIndex().row());
    const bool selected = row && table_->selectionModel()->hasSelection();
    loadButton_->setEnabled(selected && !row->isParent && row->fileExists());
    reuseButton_->setEnabled(selected && !row->isParent && !row->recipeJson.is_null() && !building);
}

bool OptimizePage::startBuild() {
    updateProblem();
    if (job_ != 0 || !problemText().isEmpty()) {
        updateControls();
        return false;
    }
    VariantJob job;
    job.id = nextJobId();
    job.parent = modelPath_;
    job.recipe = editor_->recipe();
    job.output = QFileInfo(outputPath()).absoluteFilePath();
    job.evaluation = evaluation();
    job_ = job.id;
    cancel_ = job.cancel;
    jobOutput_ = job.output;
    jobRecipe_ = job.recipe;
    jobParent_ = job.parent;
    jobClock_.start();
    errorBanner_->hide();
    progress_->setRange(0, 0); // busy until the engine reports a share of the work
    stage_->setText(tr("Waiting for the engine…"));
    cancelButton_->setEnabled(true);
    updateControls();
    saveSettings();
    emit statusMessage(tr("Building %1…").arg(QFileInfo(job.output).fileName()));
    EngineWorker* worker = &context_.worker();
    worker->post([worker, job] { worker->buildVariant(job); });
    return true;
}

void OptimizePage::cancelBuild() {
    if (job_ == 0) return;
    cancel_.cancel();
    cancelButton_->setEnabled(false);
    stage_->setText(tr("Cancelling…"));
}

void OptimizePage::onProgress(quint64 jobId, double fraction, const QString& stage) {
    if (jobId != job_ || cancel_.isCancelled()) return;
    if (fraction > 0 && progress_->maximum() == 0) progress_->setRange(0, 1000);
    progress_->setValue(int(std::clamp(fraction, 0.0, 1.0) * 1000));
    stage_->setText(tr("%1  ·  %2 %").arg(stage).arg(int(fraction * 100)));
}

void OptimizePage::onFinished(const VariantOutcome& outcome) {
    if (outcome.id != job_) return;
    job_ = 0;
    const QString file = QFileInfo(jobOutput_).fileName();
    if (outcome.cancelled) {
        stage_->setText(tr("Cancelled: no file was written and no variant was recorded."));
        emit statusMessage(tr("Cancelled the build of %1").arg(file));
    } else if (!outcome.error.isEmpty()) {
        stage_->setText(tr("The build failed."));
        showError(tr("Could not build %1: %2").arg(file, outcome.error));
    } else {
        builds_.push_back({jobParent_, jobRecipe_, outcome.result});
        const VariantResult& r = outcome.result;
        const double total = double(jobClock_.elapsed()) / 1000.0;
        stage_->setText(tr("Built %1: compressed in %2 s, %3 s in all.")
                            .arg(file)
                            .arg(r.report.seconds, 0, 'f', 1)
                            .arg(total, 0, 'f', 1));
        emit statusMessage(tr("Built %1 (%2)").arg(file, humanBytes(double(r.report.outputBytes))));
    }
    refreshVariants();
    if (!outcome.cancelled && outcome.error.isEmpty()) {
        const int row = variants_->rowOfPath(QString::fromStdString(outcome.result.path.string()));
        if (row >= 0) table_->selectRow(row);
    }
    updateProblem();
    updateControls();
    emit buildFinished(outcome);
}

void OptimizePage::showError(const QString& text) {
    errorBanner_->showError(text);
    emit statusMessage(text);
}

void OptimizePage::refreshVariants() {
    const VariantRow* selected = variants_->rowAt(table_->currentIndex().row());
    const QString selectedPath = selected && !selected->isParent ? selected->path : QString();
    std::vector<VariantRow> rows;
    if (modelPath_.isEmpty()) {
        variants_->setRows({});
        return;
    }
    VariantRow parent;
    parent.isParent = true;
    parent.path = modelPath_;
    const QFileInfo info(modelPath_);
    if (info.isFile()) parent.bytes = double(info.size());

    // This session's builds of this parent, newest first, by run id.
    std::map<int64_t, VariantRow> sessionByRun;
    std::vector<VariantRow> unrecorded;
    std::optional<VariantRow> parentMeasure;
    for (auto it = builds_.rbegin(); it != builds_.rend(); ++it) {
        if (!samePath(it->parent, modelPath_)) continue;
        if (!parentMeasure) parentMeasure = parentRowFromResult(modelPath_, it->result);
        VariantRow row = variantRowFromResult(it->result, it->recipe);
        if (row.runId)
            sessionByRun.emplace(*row.runId, std::move(row));
        else
            unrecorded.push_back(std::move(row));
    }

    std::vector<VariantRow> variants;
    if (modelId_ > 0) {
        try {
            RunQuery query;
            query.filter.kind = RunKind::Compress;
            query.filter.modelId = modelId_;
            query.filter.status = RunStatus::Done;
            query.limit = 500;
            RunStore& store = context_.store();
            for (const RunRecord& run : store.listRuns(query)) {
                if (const auto session = sessionByRun.find(run.id); session != sessionByRun.end()) {
                    variants.push_back(std::move(session->second));
                    sessionByRun.erase(session);
                    continue;
                }
                const std::vector<RunMetric> metrics = store.metrics(run.id);
                std::optional<VariantRow> row = variantRowFromRun(run, metrics);
                if (!row) continue;
                if (!parentMeasure) {
                    VariantRow measured = parentRowFromRun(modelPath_, run, metrics);
                    if (measured.perplexity || measured.tokensPerSecond) parentMeasure = measured;
                }
                variants.push_back(std::move(*row));
            }
        } catch (const std::exception& e) {
            showError(tr("Could not read the variants from the run store: %1")
                          .arg(QString::fromStdString(e.what())));
        }
    }
    for (auto& [id, row] : sessionByRun)
        variants.push_back(std::move(row));
    for (VariantRow& row : unrecorded)
        variants.push_back(std::move(row));
    std::stable_sort(variants.begin(), variants.end(),
                     [](const VariantRow& a, const VariantRow& b) { return a.createdMs > b.createdMs; });

    if (parentMeasure) {
        parent.runId = parentMeasure->runId;
        parent.perplexity = parentMeasure->perplexity;
        parent.perplexityError = parentMeasure->perplexityError;
        parent.tokensPerSecond = parentMeasure->tokensPerSecond;
        parent.peakRssBytes = parentMeasure->peakRssBytes;
        if (!parent.bytes) parent.bytes = parentMeasure->bytes;
    }
    rows.push_back(std::move(parent));
    for (VariantRow& row : variants)
        rows.push_back(std::move(row));
    variants_->setRows(std::move(rows));
    const int again = selectedPath.isEmpty() ? -1 : variants_->rowOfPath(selectedPath);
    if (again >= 0) table_->selectRow(again);
}

void OptimizePage::saveSettings() const {
    QSettings settings;
    try {
        settings.setValue("optimize/recipe", QString::fromStdString(editor_->recipe().toJson().dump()));
    } catch (const std::exception&) {
    }
    const VariantEvaluation e = evaluation();
    settings.setValue("optimize/quality", e.quality);
    settings.setValue("optimize/evalContext", e.perplexity.contextTokens);
    settings.setValue("optimize/evalChunks", e.perplexity.maxChunks);
    settings.setValue("optimize/speed", e.speed);
    settings.setValue("optimize/speedTokens", e.generatedTokens);
    settings.setValue("optimize/speedRepetitions", e.repetitions);
}

void OptimizePage::loadSettings() {
    QSettings settings;
    VariantEvaluation e;
    e.quality = settings.value("optimize/quality", e.quality).toBool();
    e.perplexity.contextTokens = settings.value("optimize/evalContext", e.perplexity.contextTokens).toInt();
    e.perplexity.maxChunks = settings.value("optimize/evalChunks", e.perplexity.maxChunks).toInt();
    e.speed = settings.value("optimize/speed", e.speed).toBool();
    e.generatedTokens = settings.value("optimize/speedTokens", e.generatedTokens).toInt();
    e.repetitions = settings.value("optimize/speedRepetitions", e.repetitions).toInt();
    setEvaluation(e);
    const QString recipe = settings.value("optimize/recipe").toString();
    bool restored = false;
    if (!recipe.isEmpty()) {
        try {
            editor_->setRecipe(Recipe::fromJson(nlohmann::json::parse(recipe.toStdString())));
            restored = true;
        } catch (const std::exception&) {
        }
    }
    if (!restored) editor_->applyPreset(QStringLiteral("RTN int8"));
}

} // namespace lathe::gui
