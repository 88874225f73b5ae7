#include "RecipeEditor.h"

#include "RecipePresets.h"
#include "core/Error.h"
#include "widgets/Theme.h"

#include <QCheckBox>
#include <QComboBox>
#include <QDoubleSpinBox>
#include <QFile>
#include <QFileDialog>
#include <QFormLayout>
#include <QHBoxLayout>
#include <QLabel>
#include <QLineEdit>
#include <QListWidget>
#include <QMenu>
#include <QMessageBox>
#include <QPushButton>
#include <QRegularExpression>
#include <QSpinBox>
#include <QToolButton>
#include <QVBoxLayout>
#include <algorithm>

namespace lathe::gui {
namespace {

constexpr CompressMethod kMethods[] = {
    CompressMethod::Rtn,         CompressMethod::Awq,         CompressMethod::Gptq,
    CompressMethod::SmoothQuant, CompressMethod::Magnitude,   CompressMethod::Wanda,
    CompressMethod::SparseGpt,   CompressMethod::FfnChannels, CompressMethod::AttnHeads,
};

bool usesQuantSpec(CompressMethod m) {
    return m == CompressMethod::Rtn || m == CompressMethod::Awq || m == CompressMethod::Gptq;
}
bool usesPattern(CompressMethod m) {
    return m == CompressMethod::Magnitude || m == CompressMethod::Wanda || m == CompressMethod::SparseGpt;
}
bool usesDamp(CompressMethod m) {
    return m == CompressMethod::Gptq || m == CompressMethod::SparseGpt;
}

bool fitsHeadLayout(const HeadLayout& layout) {
    return layout.nHeads > 0 && layout.nHeadsKv > 0 && layout.headDim > 0 &&
           layout.nHeads % layout.nHeadsKv == 0;
}

// "33%", as Recipe::describe() writes shares (and no space for a line break to fall into).
QString percent(double share) {
    return QString::number(share * 100.0, 'f', 0) + QLatin1Char('%');
}

// Selects the item whose data is `value`, adding one when a loaded recipe holds a value the list lacks.
void selectData(QComboBox* box, const QVariant& value, const QString& textIfMissing) {
    int index = box->findData(value);
    if (index < 0) {
        box->addItem(textIfMissing, value);
        index = box->count() - 1;
    }
    box->setCurrentIndex(index);
}

QDoubleSpinBox* doubleBox(double lo, double hi, double step, int decimals, QWidget* parent) {
    auto* box = new QDoubleSpinBox(parent);
    box->setRange(lo, hi);
    box->setSingleStep(step);
    box->setDecimals(decimals);
    return box;
}

QLabel* sectionLabel(const QString& text, QWidget* parent) {
    auto* label = new QLabel(text, parent);
    widgets::setRole(label, "section");
    return label;
}

QFormLayout* makeForm() {
    auto* form = new QFormLayout;
    form->setLabelAlignment(Qt::AlignLeft);
    form->setFieldGrowthPolicy(QFormLayout::AllNonFixedFieldsGrow);
    form->setContentsMargins(0, 0, 0, 0);
    form->setHorizontalSpacing(12);
    form->setVerticalSpacing(6);
    return form;
}

} // namespace

QString compressMethodLabel(CompressMethod method) {
    switch (method) {
    case CompressMethod::Rtn:
        return QObject::tr("RTN (round to nearest)");
    case CompressMethod::Awq:
        return QObject::tr("AWQ (activation-aware)");
    case CompressMethod::Gptq:
        return QObject::tr("GPTQ (second-order)");
    case CompressMethod::SmoothQuant:
        return QObject::tr("SmoothQuant W8A8");
    case CompressMethod::Magnitude:
        return QObject::tr("Magnitude pruning");
    case CompressMethod::Wanda:
        return QObject::tr("Wanda pruning");
    case CompressMethod::SparseGpt:
        return QObject::tr("SparseGPT pruning");
    case CompressMethod::FfnChannels:
        return QObject::tr("FFN channel pruning");
    case CompressMethod::AttnHeads:
        return QObject::tr("Head pruning");
    }
    return {};
}

QString compressMethodHint(CompressMethod method) {
    switch (method) {
    case CompressMethod::Rtn:
        return QObject::tr("Rounds each weight to the nearest point of its group's grid. No calibration.");
    case CompressMethod::Awq:
        return QObject::tr("Scales the input channels that matter most to the activations before rounding.");
    case CompressMethod::Gptq:
        return QObject::tr(
            "Rounds column by column and spreads each error over the columns not yet rounded.");
    case CompressMethod::SmoothQuant:
        return QObject::tr("Moves activation outliers into the weights; int8 weights and int8 activations.");
    case CompressMethod::Magnitude:
        return QObject::tr("Zeroes the weights of smallest magnitude. No calibration.");
    case CompressMethod::Wanda:
        return QObject::tr("Zeroes the weights of smallest |weight| × input norm.");
    case CompressMethod::SparseGpt:
        return QObject::tr("Zeroes weights and updates the others to make up for them.");
    case CompressMethod::FfnChannels:
        return QObject::tr("Removes whole feed-forward channels: the matrices shrink.");
    case CompressMethod::AttnHeads:
        return QObject::tr(
            "Removes the attention heads that change each layer's output least, the same number "
            "in every layer: the attention matrices shrink.");
    }
    return {};
}

QString headUnitLabel(HeadUnit unit) {
    switch (unit) {
    case HeadUnit::Query:
        return QObject::tr("query heads within each KV group");
    case HeadUnit::Group:
        return QObject::tr("whole KV groups");
    }
    return {};
}

HeadLayout headLayoutAfter(const HeadLayout& layout, const RecipeStep& step) {
    if (step.method != CompressMethod::AttnHeads) return layout;
    const int remove = headUnitsToRemove(layout, step.headUnit, step.sparsity);
    HeadLayout after = layout;
    if (step.headUnit == HeadUnit::Query && layout.groupSize() > 1) {
        after.nHeads -= remove * layout.nHeadsKv; // the same number from every group
    } else {
        after.nHeads -= remove * layout.groupSize(); // whole groups (a head is its own group without GQA)
        after.nHeadsKv -= remove;
    }
    return after;
}

QString describeHeadPruning(const HeadLayout& layout, const RecipeStep& step) {
    if (step.method != CompressMethod::AttnHeads || !fitsHeadLayout(layout)) return {};
    const int group = layout.groupSize();
    const bool withinGroups = step.headUnit == HeadUnit::Query && group > 1;
    const int units = withinGroups ? group : layout.nHeadsKv; // what headUnitsToRemove rounds to
    try {
        const HeadLayout after = headLayoutAfter(layout, step);
        const int remove = withinGroups ? (layout.nHeads - after.nHeads) / layout.nHeadsKv
                                        : layout.nHeadsKv - after.nHeadsKv;
        const QString share = percent(double(remove) / units);
        if (group == 1)
            return QObject::tr(
                       "On this model every query head has its own KV head, so both units remove whole "
                       "heads: each layer loses %1 of its %2 (%3) and keeps %4.")
                .arg(remove)
                .arg(units)
                .arg(share)
                .arg(after.nHeads);
        if (withinGroups && layout.nHeadsKv == 1)
            return QObject::tr(
                       "On this model each layer loses %1 of its %2 query heads (%3) and keeps %4, and "
                       "the one KV head they read.")
                .arg(remove)
                .arg(group)
                .arg(share)
                .arg(after.nHeads);
        if (withinGroups)
            return QObject::tr(
                       "On this model each layer loses %1 of the %2 query heads in each of its %3 KV groups "
                       "(%4 of the heads) and keeps %5 of %6 query heads and all %3 KV heads.")
                .arg(remove)
                .arg(group)
                .arg(layout.nHeadsKv)
                .arg(share)
                .arg(after.nHeads)
                .arg(layout.nHeads);
        return QObject::tr(
                   "On this model each layer loses %1 of its %2 KV groups, each a KV head with %3 query "
                   "heads (%4 of the heads), and keeps %5 of %6 query heads and %7 of %2 KV heads: the "
                   "KV cache shrinks with them.")
            .arg(remove)
            .arg(units)
            .arg(group)
            .arg(share)
            .arg(after.nHeads)
            .arg(layout.nHeads)
            .arg(after.nHeadsKv);
    } catch (const std::exception&) {
        // The share rounds to none or all of the units: say which shares this model allows.
    }
    if (units == 1)
        return group > 1 ? QObject::tr("This model has a single KV group per layer, which cannot go: remove "
                                       "query heads within it instead.")
                         : QObject::tr("This model has a single attention head per layer: none can go.");
    const QString where = withinGroups
                              ? QObject::tr("Each KV group of this model has %1 query heads").arg(units)
                          : group > 1 ? QObject::tr("Each layer of this model has %1 KV groups").arg(units)
                                      : QObject::tr("Each layer of this model has %1 heads").arg(units);
    if (units == 2)
        return QObject::tr("%1, and the share rounds to whole ones: only %2 (1 of them) removes some but not "
                           "all.")
            .arg(where, percent(0.5));
    return QObject::tr("%1, and the share rounds to whole ones: use %2 to %3 (1 to %4 of them).")
        .arg(where, percent(1.0 / units), percent(double(units - 1) / units))
        .arg(units - 1);
}

RecipeEditor::RecipeEditor(QWidget* parent) : QWidget(parent) {
    // Two columns: the recipe as a whole on the left, the selected step and calibration on the right.
    auto* columns = new QHBoxLayout(this);
    columns->setContentsMargins(0, 0, 0, 0);
    columns->setSpacing(20);
    auto* layout = new QVBoxLayout;
    layout->setSpacing(8);
    auto* right = new QVBoxLayout;
    right->setSpacing(8);
    columns->addLayout(layout, 1);
    columns->addLayout(right, 1);

    auto* presetForm = makeForm();
    preset_ = new QComboBox(this);
    preset_->setObjectName("recipePreset");
    preset_->addItem(tr("Custom recipe"));
    for (const RecipePreset& p : recipePresets())
        preset_->addItem(p.label, p.label);
    preset_->setToolTip(tr("Start from a ready-made recipe"));
    presetForm->addRow(tr("Preset"), preset_);
    layout->addLayout(presetForm);

    name_ = new QLineEdit(this);
    name_->setClearButtonEnabled(true);
    name_->setToolTip(tr("Empty: the steps name the recipe"));
    presetForm->addRow(tr("Name"), name_);

    layout->addWidget(sectionLabel(tr("Steps, applied in order"), this));
    auto* stepsRow = new QHBoxLayout;
    list_ = new QListWidget(this);
    list_->setObjectName("recipeSteps");
    list_->setMinimumHeight(96);
    list_->setEditTriggers(QAbstractItemView::NoEditTriggers);
    stepsRow->addWidget(list_, 1);
    auto* stepButtons = new QVBoxLayout;
    stepButtons->setSpacing(4);
    addButton_ = new QToolButton(this);
    addButton_->setText(tr("Add step"));
    addButton_->setPopupMode(QToolButton::InstantPopup);
    addButton_->setToolButtonStyle(Qt::ToolButtonTextOnly);
    addButton_->setStyleSheet(
        "QToolButton { border: 1px solid #c9ced6; background: #ffffff; border-radius: 5px;"
        " padding: 4px 10px; color: #1f2328; }"
        "QToolButton::menu-indicator { image: none; }");
    auto* addMenu = new QMenu(addButton_);
    for (CompressMethod m : kMethods) {
        QAction* action = addMenu->addAction(compressMethodLabel(m), this, [this, m] { addStep(m); });
        action->setToolTip(compressMethodHint(m));
    }
    addMenu->setToolTipsVisible(true);
    addButton_->setMenu(addMenu);
    removeButton_ = new QPushButton(tr("Remove"), this);
    upButton_ = new QPushButton(tr("Up"), this);
    downButton_ = new QPushButton(tr("Down"), this);
    for (QWidget* w : {static_cast<QWidget*>(addButton_), static_cast<QWidget*>(removeButton_),
                       static_cast<QWidget*>(upButton_), static_cast<QWidget*>(downButton_)}) {
        w->setMinimumWidth(84);
        stepButtons->addWidget(w);
    }
    stepButtons->addStretch(1);
    stepsRow->addLayout(stepButtons);
    layout->addLayout(stepsRow, 1);

    stepBox_ = new QWidget(this);
    auto* stepLayout = new QVBoxLayout(stepBox_);
    stepLayout->setContentsMargins(0, 0, 0, 0);
    stepLayout->setSpacing(6);
    stepHint_ = new QLabel(stepBox_);
    stepHint_->setWordWrap(true);
    widgets::setRole(stepHint_, "muted");
    stepForm_ = makeForm();
    method_ = new QComboBox(stepBox_);
    for (CompressMethod m : kMethods)
        method_->addItem(compressMethodLabel(m), int(m));
    bits_ = new QComboBox(stepBox_);
    for (int b : {3, 4, 8})
        bits_->addItem(tr("%1-bit").arg(b), b);
    group_ = new QComboBox(stepBox_);
    group_->addItem(tr("per channel"), 0);
    for (int g : {32, 64, 128})
        group_->addItem(tr("groups of %1").arg(g), g);
    group_->setToolTip(tr("Weights of a row that share one scale (and minimum)"));
    symmetric_ = new QCheckBox(tr("symmetric"), stepBox_);
    symmetric_->setToolTip(tr("A grid centred on zero, so zero stays exactly zero (needed after pruning)"));
    pattern_ = new QComboBox(stepBox_);
    pattern_->addItem(tr("unstructured"), QString());
    pattern_->addItem(tr("2:4 (keep 2 of every 4)"), QStringLiteral("2:4"));
    pattern_->addItem(tr("4:8 (keep 4 of every 8)"), QStringLiteral("4:8"));
    sparsity_ = doubleBox(1, 95, 5, 1, stepBox_);
    sparsity_->setSuffix(tr(" %"));
    headUnit_ = new QComboBox(stepBox_);
    headUnit_->setObjectName("headUnit");
    headUnit_->addItem(headUnitLabel(HeadUnit::Query), int(HeadUnit::Query));
    headUnit_->setItemData(
        0,
        tr("The same number of query heads leaves every KV group; the KV heads (and the KV "
           "cache) stay"),
        Qt::ToolTipRole);
    headUnit_->addItem(headUnitLabel(HeadUnit::Group), int(HeadUnit::Group));
    headUnit_->setItemData(
        1,
        tr("Whole KV groups leave: a KV head with every query head that reads it, so the KV "
           "cache shrinks too"),
        Qt::ToolTipRole);
    headUnit_->setToolTip(tr("What a layer loses: query heads from every KV group, or whole KV groups"));
    headNote_ = new QLabel(stepBox_);
    headNote_->setObjectName("headPruningNote");
    headNote_->setWordWrap(true);
    headNote_->setTextInteractionFlags(Qt::TextSelectableByMouse);
    widgets::setRole(headNote_, "muted");
    damp_ = doubleBox(0.0001, 1, 0.005, 4, stepBox_);
    damp_->setToolTip(tr("Added to the Hessian's diagonal, as a share of its mean"));
    actOrder_ = new QCheckBox(tr("largest activations first"), stepBox_);
    actOrder_->setToolTip(tr("Quantize columns by decreasing activation energy (groups keep their place)"));
    alpha_ = doubleBox(0, 1, 0.05, 2, stepBox_);
    alpha_->setToolTip(
        tr("Migration strength: 0 keeps the activations, 1 moves everything into the weights"));
    awqGrid_ = new QSpinBox(stepBox_);
    awqGrid_->setRange(1, 100);
    awqGrid_->setToolTip(tr("Scale exponents tried per layer"));
    stepForm_->addRow(tr("Method"), method_);
    stepForm_->addRow(tr("Bits"), bits_);
    stepForm_->addRow(tr("Group"), group_);
    stepForm_->addRow(QString(), symmetric_);
    stepForm_->addRow(tr("Pattern"), pattern_);
    stepForm_->addRow(tr("Unit"), headUnit_);
    stepForm_->addRow(tr("Sparsity"), sparsity_);
    stepForm_->addRow(tr("Damping"), damp_);
    stepForm_->addRow(tr("Act order"), actOrder_);
    stepForm_->addRow(tr("Alpha"), alpha_);
    stepForm_->addRow(tr("Scale grid"), awqGrid_);
    // Calibration rows share the step's form, so that the two columns of labels line up.
    calibrationLabel_ = sectionLabel(tr("Calibration"), stepBox_);
    calibrationLabel_->setContentsMargins(0, 6, 0, 0);
    calibrationTokens_ = new QSpinBox(stepBox_);
    calibrationTokens_->setRange(64, 1 << 20);
    calibrationTokens_->setSingleStep(256);
    calibrationTokens_->setToolTip(tr("Tokens of text run through the model to measure its activations"));
    calibrationContext_ = new QSpinBox(stepBox_);
    calibrationContext_->setRange(16, 32768);
    calibrationContext_->setSingleStep(128);
    calibrationContext_->setToolTip(tr("The calibration text is cut into chunks of this many tokens"));
    calibrationTextRow_ = new QWidget(stepBox_);
    auto* textRow = new QHBoxLayout(calibrationTextRow_);
    textRow->setContentsMargins(0, 0, 0, 0);
    textRow->setSpacing(4);
    calibrationText_ = new QLineEdit(calibrationTextRow_);
    calibrationText_->setPlaceholderText(tr("the default text"));
    calibrationText_->setClearButtonEnabled(true);
    auto* browseText = new QPushButton(tr("…"), calibrationTextRow_);
    browseText->setToolTip(tr("Choose a text file"));
    browseText->setStyleSheet("padding: 5px 8px;");
    textRow->addWidget(calibrationText_, 1);
    textRow->addWidget(browseText);
    stepForm_->addRow(calibrationLabel_);
    stepForm_->addRow(tr("Tokens"), calibrationTokens_);
    stepForm_->addRow(tr("Chunk length"), calibrationContext_);
    stepForm_->addRow(tr("Text"), calibrationTextRow_);
    stepLayout->addWidget(sectionLabel(tr("Selected step"), stepBox_));
    stepLayout->addWidget(stepHint_);
    // Outside the form: a word-wrapped label in a QFormLayout with hidden rows corrupts memory in Qt 6.4's
    // height-for-width layout (valgrind: invalid writes under QFormLayout::heightForWidth).
    stepLayout->addWidget(headNote_);
    stepLayout->addLayout(stepForm_);
    right->addWidget(stepBox_);
    right->addStretch(1);

    extraForm_ = makeForm();
    storage_ = new QComboBox(this);
    for (DType t : {DType::Q8_0, DType::F16, DType::F32})
        storage_->addItem(QString::fromUtf8(dtypeName(t).data()).toUpper(), int(t));
    storage_->setToolTip(tr("How pruned weights are stored when no quantizing step encodes them"));
    extraForm_->addRow(tr("Store changed weights as"), storage_);
    layout->addLayout(extraForm_);

    connect(preset_, &QComboBox::activated, this, [this](int index) {
        if (index > 0) applyPreset(preset_->itemData(index).toString());
    });
    connect(list_, &QListWidget::currentRowChanged, this, [this](int row) {
        if (loading_) return;
        current_ = row;
        showStep();
    });
    connect(removeButton_, &QPushButton::clicked, this, [this] { removeStep(current_); });
    connect(upButton_, &QPushButton::clicked, this, [this] { moveStep(current_, current_ - 1); });
    connect(downButton_, &QPushButton::clicked, this, [this] { moveStep(current_, current_ + 1); });
    connect(browseText, &QPushButton::clicked, this, [this] {
        const QString path =
            QFileDialog::getOpenFileName(this, tr("Calibration text"), {}, tr("Text (*.txt);;All files (*)"));
        if (!path.isEmpty()) calibrationText_->setText(path);
    });
    auto fieldChanged = [this] {
        if (loading_) return;
        readStepFields();
        updateVisibility();
        refreshItem(current_);
        emitChanged();
    };
    for (QComboBox* box : {method_, bits_, group_, pattern_, headUnit_})
        connect(box, &QComboBox::currentIndexChanged, this, fieldChanged);
    for (QCheckBox* box : {symmetric_, actOrder_})
        connect(box, &QCheckBox::toggled, this, fieldChanged);
    for (QDoubleSpinBox* box : {sparsity_, damp_, alpha_})
        connect(box, &QDoubleSpinBox::valueChanged, this, fieldChanged);
    connect(awqGrid_, &QSpinBox::valueChanged, this, fieldChanged);
    auto recipeChanged = [this] {
        if (loading_) return;
        emitChanged();
    };
    connect(name_, &QLineEdit::textChanged, this, recipeChanged);
    connect(calibrationTokens_, &QSpinBox::valueChanged, this, recipeChanged);
    connect(calibrationContext_, &QSpinBox::valueChanged, this, recipeChanged);
    connect(calibrationText_, &QLineEdit::textChanged, this, recipeChanged);
    connect(storage_, &QComboBox::currentIndexChanged, this, recipeChanged);

    setRecipe(Recipe{});
}

Recipe RecipeEditor::recipe() const {
    Recipe r;
    r.steps = steps_;
    r.calibration.tokens = calibrationTokens_->value();
    r.calibration.contextTokens = calibrationContext_->value();
    r.calibration.text = calibrationText_->text().trimmed().toStdString();
    r.storage = DType(storage_->currentData().toInt());
    const QString name = name_->text().trimmed();
    r.name = name.isEmpty() ? r.describe() : name.toStdString();
    return r;
}

void RecipeEditor::setRecipe(const Recipe& recipe) {
    loading_ = true;
    steps_ = recipe.steps;
    // A name that only repeats the steps stays empty, so it follows them as they are edited.
    name_->setText(recipe.name.empty() || recipe.name == recipe.describe()
                       ? QString()
                       : QString::fromStdString(recipe.name));
    calibrationTokens_->setValue(recipe.calibration.tokens);
    calibrationContext_->setValue(recipe.calibration.contextTokens);
    calibrationText_->setText(QString::fromStdString(recipe.calibration.text.string()));
    selectData(storage_, int(recipe.storage), QString::fromUtf8(dtypeName(recipe.storage).data()).toUpper());
    loading_ = false;
    current_ = steps_.empty() ? -1 : 0;
    rebuildList();
    emitChanged();
}

void RecipeEditor::setHeadLayout(std::optional<HeadLayout> layout) {
    if (layout && !fitsHeadLayout(*layout)) layout.reset();
    headLayout_ = layout;
    updateVisibility();
}

QString RecipeEditor::headPruningNote() const {
    if (!headLayout_ || current_ < 0 || current_ >= stepCount()) return {};
    // The steps before this one may have removed heads already.
    HeadLayout layout = *headLayout_;
    try {
        for (int i = 0; i < current_; ++i)
            layout = headLayoutAfter(layout, steps_[size_t(i)]);
    } catch (const std::exception&) {
        return {}; // an earlier step cannot run; the page says so
    }
    return describeHeadPruning(layout, steps_[size_t(current_)]);
}

QString RecipeEditor::validationError() const {
    try {
        recipe().validate();
    } catch (const std::exception& e) {
        return QString::fromStdString(e.what());
    }
    return {};
}

int RecipeEditor::addStep(CompressMethod method) {
    RecipeStep step;
    step.method = method;
    if (method == CompressMethod::FfnChannels || method == CompressMethod::AttnHeads) step.sparsity = 0.25;
    if (method == CompressMethod::Rtn) {
        // A new RTN step starts as llama.cpp's Q8_0: 8-bit, symmetric, groups of 32.
        step.quant.bits = 8;
        step.quant.group = 32;
        step.quant.symmetric = true;
    }
    // Quantizing pruned weights needs a grid on which zero is a value.
    if (isQuantizing(method) && !steps_.empty()) step.quant.symmetric = true;
    size_t at = steps_.size();
    if (!isQuantizing(method) && !steps_.empty() && isQuantizing(steps_.back().method))
        at = steps_.size() - 1;
    steps_.insert(steps_.begin() + std::ptrdiff_t(at), step);
    current_ = int(at);
    rebuildList();
    emitChanged();
    return current_;
}

void RecipeEditor::setStep(int index, const RecipeStep& step) {
    if (index < 0 || index >= stepCount()) return;
    steps_[size_t(index)] = step;
    refreshItem(index);
    if (index == current_) showStep();
    emitChanged();
}

void RecipeEditor::removeStep(int index) {
    if (index < 0 || index >= stepCount()) return;
    steps_.erase(steps_.begin() + index);
    current_ = std::min(index, stepCount() - 1);
    rebuildList();
    emitChanged();
}

void RecipeEditor::moveStep(int from, int to) {
    if (from < 0 || from >= stepCount() || to < 0 || to >= stepCount() || from == to) return;
    const RecipeStep step = steps_[size_t(from)];
    steps_.erase(steps_.begin() + from);
    steps_.insert(steps_.begin() + to, step);
    current_ = to;
    rebuildList();
    emitChanged();
}

void RecipeEditor::selectStep(int index) {
    if (index >= 0 && index < stepCount()) list_->setCurrentRow(index);
}

bool RecipeEditor::applyPreset(const QString& label) {
    const RecipePreset* preset = findRecipePreset(label);
    if (!preset) return false;
    Recipe r = preset->recipe;
    // Keep the calibration the user chose; a preset is about the steps.
    r.calibration.tokens = calibrationTokens_->value();
    r.calibration.contextTokens = calibrationContext_->value();
    r.calibration.text = calibrationText_->text().trimmed().toStdString();
    r.name.clear();
    setRecipe(r);
    const QSignalBlocker block(preset_);
    preset_->setCurrentIndex(preset_->findData(label));
    return true;
}

QString RecipeEditor::loadFile(const QString& path) {
    QFile file(path);
    if (!file.open(QIODevice::ReadOnly)) return tr("Could not open %1: %2").arg(path, file.errorString());
    try {
        const Recipe r = Recipe::fromJson(nlohmann::json::parse(file.readAll().toStdString()));
        setRecipe(r);
        const QSignalBlocker block(preset_);
        preset_->setCurrentIndex(0);
    } catch (const std::exception& e) {
        return tr("%1 is not a valid recipe: %2").arg(path, QString::fromStdString(e.what()));
    }
    emit statusMessage(tr("Loaded the recipe %1").arg(path));
    return {};
}

void RecipeEditor::openWithDialog() {
    const QString path =
        QFileDialog::getOpenFileName(this, tr("Open a recipe"), {}, tr("Recipes (*.json);;All files (*)"));
    if (path.isEmpty()) return;
    const QString error = loadFile(path);
    if (!error.isEmpty()) QMessageBox::warning(this, tr("Open recipe"), error);
}

void RecipeEditor::saveWithDialog() {
    const QString name =
        QString::fromStdString(recipe().name).replace(QRegularExpression("[^A-Za-z0-9_.+-]+"), "-");
    QString path =
        QFileDialog::getSaveFileName(this, tr("Save the recipe"), name + ".json", tr("Recipes (*.json)"));
    if (path.isEmpty()) return;
    if (!path.endsWith(".json", Qt::CaseInsensitive)) path += ".json";
    const QString error = saveFile(path);
    if (error.isEmpty())
        emit statusMessage(tr("Saved the recipe to %1").arg(path));
    else
        QMessageBox::warning(this, tr("Save recipe"), error);
}

QString RecipeEditor::saveFile(const QString& path) const {
    QString text;
    try {
        text = QString::fromStdString(recipe().toJson().dump(2)) + '\n';
    } catch (const std::exception& e) {
        return tr("Could not write the recipe: %1").arg(QString::fromStdString(e.what()));
    }
    QFile file(path);
    if (!file.open(QIODevice::WriteOnly | QIODevice::Truncate) || file.write(text.toUtf8()) < 0)
        return tr("Could not write %1: %2").arg(path, file.errorString());
    return {};
}

bool RecipeEditor::isFieldVisible(const QString& field) const {
    const std::pair<const char*, QWidget*> fields[] = {
        {"method", method_},       {"bits", bits_},          {"group", group_},
        {"symmetric", symmetric_}, {"pattern", pattern_},    {"sparsity", sparsity_},
        {"damp", damp_},           {"act_order", actOrder_}, {"alpha", alpha_},
        {"grid", awqGrid_},        {"storage", storage_},    {"calibration", calibrationTokens_},
        {"unit", headUnit_},       {"head_note", headNote_},
    };
    for (const auto& [name, widget] : fields)
        if (field == QLatin1String(name)) return widget->isVisibleTo(this);
    return false;
}

void RecipeEditor::rebuildList() {
    const bool wasLoading = loading_;
    loading_ = true;
    list_->clear();
    for (int i = 0; i < stepCount(); ++i) {
        list_->addItem(QString());
        refreshItem(i);
    }
    if (current_ >= 0) list_->setCurrentRow(current_);
    loading_ = wasLoading;
    showStep();
}

void RecipeEditor::refreshItem(int index) {
    if (index < 0 || index >= list_->count()) return;
    const RecipeStep& s = steps_[size_t(index)];
    QListWidgetItem* item = list_->item(index);
    item->setText(QStringLiteral("%1.  %2").arg(index + 1).arg(QString::fromStdString(s.describe())));
    item->setToolTip(compressMethodHint(s.method));
}

void RecipeEditor::showStep() {
    const bool has = current_ >= 0 && current_ < stepCount();
    stepBox_->setVisible(has);
    removeButton_->setEnabled(has);
    upButton_->setEnabled(has && current_ > 0);
    downButton_->setEnabled(has && current_ + 1 < stepCount());
    if (has) {
        const bool wasLoading = loading_;
        loading_ = true;
        const RecipeStep& s = steps_[size_t(current_)];
        selectData(method_, int(s.method), QString::fromUtf8(compressMethodName(s.method).data()));
        selectData(bits_, s.quant.bits, tr("%1-bit").arg(s.quant.bits));
        selectData(group_, s.quant.group, tr("groups of %1").arg(s.quant.group));
        symmetric_->setChecked(s.quant.symmetric);
        const QString pattern =
            s.patternM > 0 ? QStringLiteral("%1:%2").arg(s.patternN).arg(s.patternM) : QString();
        selectData(pattern_, pattern, pattern);
        sparsity_->setValue(s.sparsity * 100.0);
        selectData(headUnit_, int(s.headUnit), QString::fromUtf8(headUnitName(s.headUnit).data()));
        damp_->setValue(s.damp);
        actOrder_->setChecked(s.actOrder);
        alpha_->setValue(s.alpha);
        awqGrid_->setValue(s.awqGrid);
        stepHint_->setText(compressMethodHint(s.method));
        loading_ = wasLoading;
    }
    updateVisibility();
}

void RecipeEditor::readStepFields() {
    if (current_ < 0 || current_ >= stepCount()) return;
    RecipeStep& s = steps_[size_t(current_)];
    s.method = CompressMethod(method_->currentData().toInt());
    s.quant.bits = bits_->currentData().toInt();
    s.quant.group = group_->currentData().toInt();
    s.quant.symmetric = symmetric_->isChecked();
    const QStringList pattern = pattern_->currentData().toString().split(':');
    s.patternN = pattern.size() == 2 ? pattern[0].toInt() : 0;
    s.patternM = pattern.size() == 2 ? pattern[1].toInt() : 0;
    s.sparsity = sparsity_->value() / 100.0;
    s.headUnit = HeadUnit(headUnit_->currentData().toInt());
    s.damp = damp_->value();
    s.actOrder = actOrder_->isChecked();
    s.alpha = alpha_->value();
    s.awqGrid = awqGrid_->value();
    stepHint_->setText(compressMethodHint(s.method));
}

void RecipeEditor::updateVisibility() {
    if (current_ >= 0 && current_ < stepCount()) {
        const RecipeStep& s = steps_[size_t(current_)];
        const CompressMethod m = s.method;
        stepForm_->setRowVisible(bits_, usesQuantSpec(m));
        stepForm_->setRowVisible(group_, usesQuantSpec(m));
        stepForm_->setRowVisible(symmetric_, usesQuantSpec(m));
        stepForm_->setRowVisible(pattern_, usesPattern(m));
        const bool structured = m == CompressMethod::FfnChannels || m == CompressMethod::AttnHeads;
        stepForm_->setRowVisible(sparsity_, structured || (usesPattern(m) && s.patternM == 0));
        stepForm_->setRowVisible(headUnit_, m == CompressMethod::AttnHeads);
        stepForm_->setRowVisible(damp_, usesDamp(m));
        stepForm_->setRowVisible(actOrder_, m == CompressMethod::Gptq);
        stepForm_->setRowVisible(alpha_, m == CompressMethod::SmoothQuant);
        stepForm_->setRowVisible(awqGrid_, m == CompressMethod::Awq);
        if (auto* label = qobject_cast<QLabel*>(stepForm_->labelForField(sparsity_)))
            label->setText(m == CompressMethod::FfnChannels ? tr("Channels removed")
                           : m == CompressMethod::AttnHeads ? tr("Heads removed")
                                                            : tr("Sparsity"));
        sparsity_->setToolTip(
            m == CompressMethod::FfnChannels ? tr("Share of each layer's feed-forward channels")
            : m == CompressMethod::AttnHeads
                ? tr("Share of each layer's heads, rounded to whole units (the same number in "
                     "every layer)")
                : tr("Share of each row's weights set to zero"));
        const QString note = headPruningNote();
        headNote_->setText(note);
        headNote_->setVisible(!note.isEmpty());
    }
    const bool calibrate = std::any_of(steps_.begin(), steps_.end(),
                                       [](const RecipeStep& s) { return needsCalibration(s.method); });
    for (QWidget* row : {static_cast<QWidget*>(calibrationLabel_), static_cast<QWidget*>(calibrationTokens_),
                         static_cast<QWidget*>(calibrationContext_), calibrationTextRow_})
        stepForm_->setRowVisible(row, calibrate);
    const bool quantized =
        std::any_of(steps_.begin(), steps_.end(), [](const RecipeStep& s) { return isQuantizing(s.method); });
    extraForm_->setRowVisible(storage_, !steps_.empty() && !quantized);
    name_->setPlaceholderText(steps_.empty() ? tr("add a step below")
                                             : QString::fromStdString(recipe().describe()));
}

void RecipeEditor::emitChanged() {
    if (preset_->currentIndex() > 0) {
        // Still the preset? Compare the steps as JSON, the recipe's own equality.
        const RecipePreset* p = findRecipePreset(preset_->currentData().toString());
        Recipe mine;
        mine.steps = steps_;
        Recipe theirs;
        if (p) theirs.steps = p->recipe.steps;
        if (!p || mine.toJson()["steps"] != theirs.toJson()["steps"]) {
            const QSignalBlocker block(preset_);
            preset_->setCurrentIndex(0);
        }
    }
    emit changed();
}

} // namespace lathe::gui
