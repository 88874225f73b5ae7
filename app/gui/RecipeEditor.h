#pragma once
// Edits a compression recipe: an ordered list of steps (add by method, remove, reorder), the fields of
// the selected step (only those its method uses), calibration settings, presets, and recipe JSON files.
// The editor holds no model: what a recipe means for one model's shapes is the page's concern. The page
// may pass the model's attention layout, so that a head-pruning step can say what its share removes.

#include "compress/Recipe.h"

#include <QWidget>
#include <optional>

class QCheckBox;
class QComboBox;
class QDoubleSpinBox;
class QFormLayout;
class QLabel;
class QLineEdit;
class QListWidget;
class QPushButton;
class QSpinBox;
class QToolButton;

namespace lathe::gui {

class RecipeEditor : public QWidget {
    Q_OBJECT
public:
    explicit RecipeEditor(QWidget* parent = nullptr);

    // The recipe as edited; an empty name becomes the steps' description.
    Recipe recipe() const;
    void setRecipe(const Recipe& recipe);
    // Recipe::validate()'s message, empty when the recipe is valid.
    QString validationError() const;
    // The attention layout of the model the recipe is for (nullopt: none known). A selected
    // head-pruning step then says how many heads its share removes there, or which shares are possible.
    void setHeadLayout(std::optional<HeadLayout> layout);
    // That sentence for the selected step (shown under its hint), empty when it does not apply.
    QString headPruningNote() const;

    int stepCount() const { return int(steps_.size()); }
    int currentStep() const { return current_; }
    const RecipeStep& step(int index) const { return steps_[size_t(index)]; }
    // Appends a step with the method's defaults; a non-quantizing step goes before a trailing
    // quantizing one (a recipe quantizes last). Returns its index, and selects it.
    int addStep(CompressMethod method);
    void setStep(int index, const RecipeStep& step);
    void removeStep(int index);
    void moveStep(int from, int to);
    void selectStep(int index);
    // Replaces the recipe with the preset of that label; false when there is none.
    bool applyPreset(const QString& label);

    // Recipe JSON files. Return an error message, empty on success.
    QString loadFile(const QString& path);
    QString saveFile(const QString& path) const;
    // The same through file dialogs (errors in a message box), for the page's Open… and Save… buttons.
    void openWithDialog();
    void saveWithDialog();

    // Shows whether each of the selected step's fields is visible (for tests: "bits", "group", ...).
    bool isFieldVisible(const QString& field) const;

signals:
    void changed();
    void statusMessage(const QString& text);

private:
    void rebuildList();
    void refreshItem(int index);
    void showStep();
    void readStepFields();
    void updateVisibility();
    void emitChanged();

    std::vector<RecipeStep> steps_;
    int current_ = -1;
    bool loading_ = false;
    std::optional<HeadLayout> headLayout_;

    QComboBox* preset_;
    QLineEdit* name_;
    QListWidget* list_;
    QToolButton* addButton_;
    QPushButton* removeButton_;
    QPushButton* upButton_;
    QPushButton* downButton_;
    QWidget* stepBox_;
    QFormLayout* stepForm_;
    QLabel* stepHint_;
    QComboBox* method_;
    QComboBox* bits_;
    QComboBox* group_;
    QCheckBox* symmetric_;
    QComboBox* pattern_;
    QDoubleSpinBox* sparsity_;
    QComboBox* headUnit_;
    QLabel* headNote_;
    QDoubleSpinBox* damp_;
    QCheckBox* actOrder_;
    QDoubleSpinBox* alpha_;
    QSpinBox* awqGrid_;
    QLabel* calibrationLabel_;
    QSpinBox* calibrationTokens_;
    QSpinBox* calibrationContext_;
    QLineEdit* calibrationText_;
    QWidget* calibrationTextRow_;
    QFormLayout* extraForm_;
    QComboBox* storage_;
};

// "RTN (round to nearest)", "Wanda pruning", ...
QString compressMethodLabel(CompressMethod method);
// What the method does, in a sentence (tooltips and the step hint).
QString compressMethodHint(CompressMethod method);
// "query heads within each KV group", "whole KV groups".
QString headUnitLabel(HeadUnit unit);

// The attention layout a model of `layout` has after `step`: fewer heads after an attn_heads step (the
// same count in every layer, as the engine removes them), `layout` itself after any other step. Throws
// lathe::Error (headUnitsToRemove's message) when the step's share removes none or all of the units.
HeadLayout headLayoutAfter(const HeadLayout& layout, const RecipeStep& step);
// What `step` (attn_heads) removes from a model of `layout`, or which shares that model allows; one
// sentence for the editor's note.
QString describeHeadPruning(const HeadLayout& layout, const RecipeStep& step);

} // namespace lathe::gui
