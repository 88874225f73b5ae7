#pragma once
// The Optimize page: build a compressed variant of the loaded model from a recipe (presets, steps and
// their fields, calibration, JSON files), run it on the engine worker with progress and cancel, and
// compare the variants beside their parent: size, perplexity, KL divergence, top-1 agreement,
// tokens/s and peak memory, from this session's builds and from the run store.

#include "EngineWorker.h"

#include <QElapsedTimer>
#include <QWidget>
#include <optional>
#include <vector>

class QCheckBox;
class QLabel;
class QLineEdit;
class QProgressBar;
class QPushButton;
class QSpinBox;
class QStackedWidget;
class QTableView;

namespace lathe::widgets {
class EmptyState;
class ErrorBanner;
} // namespace lathe::widgets

namespace lathe::gui {

class AppContext;
class RecipeEditor;
class VariantTableModel;

class OptimizePage : public QWidget {
    Q_OBJECT
public:
    explicit OptimizePage(AppContext& context, QWidget* parent = nullptr);

    // The model the recipes apply to: the one loaded in the engine (id 0: none).
    void setActiveModel(int64_t modelId, const QString& name, const QString& path);
    QString modelPath() const { return modelPath_; }

    RecipeEditor* editor() const { return editor_; }
    VariantTableModel* variantModel() const { return variants_; }
    QTableView* table() const { return table_; }

    VariantEvaluation evaluation() const;
    void setEvaluation(const VariantEvaluation& evaluation);
    QString outputPath() const;
    // A path chosen by the user; an empty one goes back to the name derived from the recipe.
    void setOutputPath(const QString& path);

    // Starts building the variant on the engine worker; false (with problemText() saying why) when the
    // recipe, the output path or the model do not allow it.
    bool startBuild();
    void cancelBuild();
    bool isBuilding() const { return job_ != 0; }
    // Re-reads the variants of the current model from the store.
    void refreshVariants();

    QString problemText() const; // why the recipe cannot run, empty when it can
    QString errorText() const;   // the last build's error, empty when none
    QString stageText() const;   // the progress line

signals:
    void buildFinished(const lathe::gui::VariantOutcome& outcome);
    void loadVariantRequested(const QString& path); // open it as the current model and chat with it
    void modelsPageRequested();
    void statusMessage(const QString& text);

private:
    struct SessionBuild {
        QString parent;
        Recipe recipe;
        VariantResult result;
    };

    void onProgress(quint64 jobId, double fraction, const QString& stage);
    void onFinished(const VariantOutcome& outcome);
    void updateProblem();
    void updateOutput();
    void updateControls();
    void showError(const QString& text);
    QString shapeProblem(const Recipe& recipe) const;
    void saveSettings() const;
    void loadSettings();

    AppContext& context_;
    QStackedWidget* stack_;
    widgets::EmptyState* empty_;
    QLabel* subtitle_;
    RecipeEditor* editor_;
    QLabel* problem_;
    QCheckBox* quality_;
    QSpinBox* evalContext_;
    QSpinBox* evalChunks_;
    QCheckBox* speed_;
    QSpinBox* speedTokens_;
    QSpinBox* speedReps_;
    QLineEdit* output_;
    QLabel* outputNote_;
    QPushButton* buildButton_;
    QPushButton* cancelButton_;
    QProgressBar* progress_;
    QLabel* stage_;
    widgets::ErrorBanner* errorBanner_;
    QLabel* variantsTitle_;
    VariantTableModel* variants_;
    QTableView* table_;
    QPushButton* loadButton_;
    QPushButton* reuseButton_;

    int64_t modelId_ = 0;
    QString modelName_;
    QString modelPath_;
    bool outputChosen_ = false; // the user picked the output path; the recipe no longer renames it
    quint64 job_ = 0;
    CancelToken cancel_;
    QString jobOutput_;
    Recipe jobRecipe_;
    QString jobParent_;
    QElapsedTimer jobClock_;
    std::vector<SessionBuild> builds_; // this session's variants, newest last
};

} // namespace lathe::gui
