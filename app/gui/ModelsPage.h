#pragma once
// The model library: drop or open a model to validate and register it, read its card, and chat
// with it, benchmark it or remove it from the library.

#include "ModelInspection.h"

#include <QWidget>
#include <optional>

class QLabel;
class QListView;
class QProgressBar;
class QPushButton;
class QSpinBox;
class QStackedWidget;

namespace lathe::widgets {
class DropZone;
class EmptyState;
class ErrorBanner;
class KeyValueCard;
} // namespace lathe::widgets

namespace lathe::gui {

class AppContext;
class ModelListModel;
struct BenchOutcome;

class ModelsPage : public QWidget {
    Q_OBJECT
public:
    explicit ModelsPage(AppContext& context, QWidget* parent = nullptr);

    // Validates each path off the UI thread, then registers and lists the good ones.
    void addModelPaths(const QStringList& paths);
    void refresh();
    void setActiveModel(int64_t modelId);
    void selectModel(int64_t modelId);
    std::optional<int64_t> selectedModelId() const;
    ModelListModel* listModel() const { return model_; }
    QString errorText() const; // the visible error banner's text, empty when hidden
    int pendingInspections() const { return pending_; }
    void startBenchmark();
    void showError(const QString& text);

signals:
    void activateRequested(qint64 modelId); // load it into the engine
    void chatRequested(qint64 modelId);
    void modelAdded(qint64 modelId);
    void addFailed(const QString& path, const QString& error);
    void benchmarkFinished(qint64 runId);
    void statusMessage(const QString& text);

private:
    void onInspected(const InspectionResult& result);
    void showCard();
    void onBenchFinished(const BenchOutcome& outcome);
    void removeSelected();
    QStringList hiddenPaths() const;
    void setHiddenPaths(const QStringList& paths);

    AppContext& context_;
    ModelListModel* model_;
    QListView* list_;
    widgets::DropZone* dropZone_;
    widgets::ErrorBanner* errorBanner_;
    QStackedWidget* detailStack_;
    widgets::EmptyState* emptyDetail_;
    QLabel* cardTitle_;
    QLabel* cardSubtitle_;
    widgets::KeyValueCard* overview_;
    widgets::KeyValueCard* architecture_;
    widgets::KeyValueCard* tensors_;
    QPushButton* chatButton_;
    QPushButton* benchButton_;
    QPushButton* removeButton_;
    QSpinBox* benchPrompt_;
    QSpinBox* benchGenerated_;
    QSpinBox* benchReps_;
    QProgressBar* benchProgress_;
    QPushButton* benchCancel_;
    QLabel* benchResult_;
    QLabel* subtitle_;
    int64_t activeModelId_ = 0;
    quint64 benchJob_ = 0;
    int pending_ = 0;
};

} // namespace lathe::gui
