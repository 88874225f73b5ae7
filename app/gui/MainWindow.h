#pragma once
// The main window: a sidebar of pages (Models, Chat, Optimize, Monitor, Runs), a status bar with the active
// model, device and engine state, drops of model files anywhere, and persistent layout. Adding a
// page is one addPage() call.

#include <QMainWindow>
#include <optional>

class QLabel;
class QListWidget;
class QProgressBar;
class QStackedWidget;

namespace lathe::gui {

class AppContext;
class ChatPage;
class ModelsPage;
class MonitorPage;
class OptimizePage;
class RunsPage;
struct LoadedModel;

class MainWindow : public QMainWindow {
    Q_OBJECT
public:
    // The order of the sidebar (and of addPage() calls).
    enum Page { ModelsPageIndex, ChatPageIndex, OptimizePageIndex, MonitorPageIndex, RunsPageIndex };

    explicit MainWindow(AppContext& context, QWidget* parent = nullptr);
    ~MainWindow() override;

    // Adds the model at `path` to the library (validating it) and loads it.
    void openModel(const QString& path);
    // Loads a registered model into the engine (queued behind whatever the engine is doing).
    void activateModel(int64_t modelId);
    // Registers the default model on first start and loads the last used one.
    void startUp();

    void showPage(int index);
    int pageCount() const;
    QString pageName(int index) const;
    std::optional<int64_t> activeModelId() const { return activeModelId_; }
    QString engineState() const;

    ModelsPage* modelsPage() const { return modelsPage_; }
    ChatPage* chatPage() const { return chatPage_; }
    OptimizePage* optimizePage() const { return optimizePage_; }
    MonitorPage* monitorPage() const { return monitorPage_; }
    RunsPage* runsPage() const { return runsPage_; }

signals:
    void modelActivated(qint64 modelId);
    void modelActivationFailed(const QString& error);

protected:
    void closeEvent(QCloseEvent* event) override;
    void dragEnterEvent(QDragEnterEvent* event) override;
    void dropEvent(QDropEvent* event) override;

private:
    void addPage(QWidget* page, const QString& name);
    void buildMenus();
    void onModelLoaded(const LoadedModel& model);
    void showStatus(const QString& text);

    AppContext& context_;
    QListWidget* sidebar_;
    QStackedWidget* pages_;
    ModelsPage* modelsPage_;
    ChatPage* chatPage_;
    OptimizePage* optimizePage_;
    MonitorPage* monitorPage_;
    RunsPage* runsPage_;
    QLabel* modelLabel_;
    QLabel* deviceLabel_;
    QLabel* stateLabel_;
    QProgressBar* loadProgress_;
    std::optional<int64_t> activeModelId_;
    std::optional<int64_t> loadingModelId_;
    QString openAfterAdd_; // a path from the command line or File ▸ Open, loaded once registered
};

} // namespace lathe::gui
