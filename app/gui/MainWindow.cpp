#include "MainWindow.h"

#include "AppContext.h"
#include "ChatPage.h"
#include "EngineWorker.h"
#include "ModelsPage.h"
#include "MonitorPage.h"
#include "OptimizePage.h"
#include "RunsPage.h"
#include "core/BuildInfo.h"
#include "core/Paths.h"
#include "store/RunStore.h"
#include "widgets/DropZone.h"

#include <QAction>
#include <QApplication>
#include <QCloseEvent>
#include <QDragEnterEvent>
#include <QDropEvent>
#include <QFileDialog>
#include <QFileInfo>
#include <QHBoxLayout>
#include <QLabel>
#include <QListWidget>
#include <QMenuBar>
#include <QMessageBox>
#include <QMimeData>
#include <QProgressBar>
#include <QSettings>
#include <QSplitter>
#include <QStackedWidget>
#include <QStatusBar>
#include <QVBoxLayout>

namespace lathe::gui {

MainWindow::MainWindow(AppContext& context, QWidget* parent) : QMainWindow(parent), context_(context) {
    setWindowTitle(tr("Lathe"));
    setWindowIcon(QIcon(":/icons/lathe.png"));
    setAcceptDrops(true);
    setMinimumSize(1024, 640);

    auto* central = new QWidget(this);
    auto* row = new QHBoxLayout(central);
    row->setContentsMargins(0, 0, 0, 0);
    row->setSpacing(0);
    auto* side = new QWidget(central);
    side->setFixedWidth(190);
    side->setStyleSheet("background: #1e232c;");
    auto* sideLayout = new QVBoxLayout(side);
    sideLayout->setContentsMargins(0, 0, 0, 0);
    sideLayout->setSpacing(0);
    auto* brand = new QLabel(tr("Lathe"), side);
    brand->setObjectName("brand");
    auto* tagline = new QLabel(tr("LLM workbench"), side);
    tagline->setStyleSheet("color: #8b95a3; padding: 0 16px 12px 16px; background: #1e232c;");
    sidebar_ = new QListWidget(side);
    sidebar_->setObjectName("sidebar");
    sidebar_->setFocusPolicy(Qt::NoFocus);
    sideLayout->addWidget(brand);
    sideLayout->addWidget(tagline);
    sideLayout->addWidget(sidebar_, 1);
    auto* version = new QLabel(tr("version %1").arg(QString::fromUtf8(latheVersion())), side);
    version->setStyleSheet("color: #6b7482; padding: 10px 16px; background: #1e232c;");
    sideLayout->addWidget(version);
    pages_ = new QStackedWidget(central);
    row->addWidget(side);
    row->addWidget(pages_, 1);
    setCentralWidget(central);

    modelsPage_ = new ModelsPage(context_, pages_);
    chatPage_ = new ChatPage(context_, pages_);
    optimizePage_ = new OptimizePage(context_, pages_);
    monitorPage_ = new MonitorPage(context_, pages_);
    runsPage_ = new RunsPage(context_, pages_);
    addPage(modelsPage_, tr("Models"));
    addPage(chatPage_, tr("Chat"));
    addPage(optimizePage_, tr("Optimize"));
    addPage(monitorPage_, tr("Monitor"));
    addPage(runsPage_, tr("Runs"));
    connect(sidebar_, &QListWidget::currentRowChanged, pages_, &QStackedWidget::setCurrentIndex);

    modelLabel_ = new QLabel(this);
    deviceLabel_ = new QLabel(this);
    stateLabel_ = new QLabel(tr("No model loaded"), this);
    loadProgress_ = new QProgressBar(this);
    loadProgress_->setRange(0, 100);
    loadProgress_->setMaximumWidth(160);
    loadProgress_->setTextVisible(false);
    loadProgress_->setVisible(false);
    statusBar()->addPermanentWidget(loadProgress_);
    statusBar()->addPermanentWidget(stateLabel_);
    statusBar()->addPermanentWidget(deviceLabel_);
    statusBar()->addPermanentWidget(modelLabel_);
    statusBar()->setSizeGripEnabled(false);
    modelLabel_->setText(tr("Model: none"));
    deviceLabel_->setText(tr("Device: CPU"));
    buildMenus();

    EngineWorker* worker = &context_.worker();
    connect(
        worker, &EngineWorker::stateChanged, this,
        [this](const QString& state) { stateLabel_->setText(state); }, Qt::QueuedConnection);
    connect(
        worker, &EngineWorker::loadProgress, this,
        [this](double fraction, const QString& stage) {
            loadProgress_->setVisible(fraction < 1.0);
            loadProgress_->setValue(int(fraction * 100));
            stateLabel_->setText(tr("Loading: %1").arg(stage));
        },
        Qt::QueuedConnection);
    connect(worker, &EngineWorker::modelLoaded, this, &MainWindow::onModelLoaded, Qt::QueuedConnection);
    connect(
        worker, &EngineWorker::loadFailed, this,
        [this](const QString& path, const QString& error) {
            loadingModelId_.reset();
            loadProgress_->setVisible(false);
            const QString text = tr("Could not load %1: %2").arg(QFileInfo(path).fileName(), error);
            modelsPage_->showError(text);
            showStatus(text);
            emit modelActivationFailed(error);
        },
        Qt::QueuedConnection);
    connect(
        worker, &EngineWorker::runStarted, this,
        [this](quint64, qint64 runId) {
            const std::optional<RunRecord> run = context_.store().getRun(runId);
            monitorPage_->setWatchedRun(
                runId, run ? QStringLiteral("%1  ·  %2").arg(runKindName(run->kind), modelLabel_->text())
                           : QString());
        },
        Qt::QueuedConnection);
    connect(
        worker, &EngineWorker::runEnded, this, [this](qint64) { monitorPage_->setWatchedRun(0, {}); },
        Qt::QueuedConnection);

    connect(modelsPage_, &ModelsPage::activateRequested, this, &MainWindow::activateModel);
    connect(modelsPage_, &ModelsPage::chatRequested, this, [this](qint64 id) {
        activateModel(id);
        showPage(ChatPageIndex);
    });
    connect(modelsPage_, &ModelsPage::modelAdded, this, [this](qint64 id) {
        const std::optional<ModelRecord> m = context_.store().getModel(id);
        if (m && !openAfterAdd_.isEmpty() &&
            QFileInfo(QString::fromStdString(m->path)) == QFileInfo(openAfterAdd_)) {
            openAfterAdd_.clear();
            activateModel(id);
        }
    });
    connect(modelsPage_, &ModelsPage::addFailed, this, [this](const QString& path, const QString& error) {
        if (!openAfterAdd_.isEmpty() && QFileInfo(path) == QFileInfo(openAfterAdd_)) {
            openAfterAdd_.clear();
            emit modelActivationFailed(error);
        }
    });
    connect(modelsPage_, &ModelsPage::statusMessage, this, &MainWindow::showStatus);
    connect(chatPage_, &ChatPage::statusMessage, this, &MainWindow::showStatus);
    connect(runsPage_, &RunsPage::statusMessage, this, &MainWindow::showStatus);
    connect(optimizePage_, &OptimizePage::statusMessage, this, &MainWindow::showStatus);
    connect(optimizePage_, &OptimizePage::modelsPageRequested, this, [this] { showPage(ModelsPageIndex); });
    connect(optimizePage_, &OptimizePage::loadVariantRequested, this, [this](const QString& path) {
        openModel(path); // registered, then loaded, as a dropped file is
        showPage(ChatPageIndex);
    });

    QSettings settings;
    if (!restoreGeometry(settings.value("window/geometry").toByteArray())) resize(1280, 800);
    restoreState(settings.value("window/state").toByteArray());
    showPage(settings.value("window/page", ModelsPageIndex).toInt());
}

MainWindow::~MainWindow() = default;

void MainWindow::addPage(QWidget* page, const QString& name) {
    pages_->addWidget(page);
    sidebar_->addItem(name);
}

int MainWindow::pageCount() const {
    return pages_->count();
}

QString MainWindow::pageName(int index) const {
    return sidebar_->item(index)->text();
}

void MainWindow::showPage(int index) {
    if (index < 0 || index >= pages_->count()) index = 0;
    sidebar_->setCurrentRow(index);
    pages_->setCurrentIndex(index);
}

QString MainWindow::engineState() const {
    return stateLabel_->text();
}

void MainWindow::buildMenus() {
    QMenu* file = menuBar()->addMenu(tr("&File"));
    file->addAction(tr("&Open model file…"), QKeySequence::Open, this, [this] {
        const QString path = QFileDialog::getOpenFileName(this, tr("Open a model"), {},
                                                          tr("GGUF models (*.gguf);;All files (*)"));
        if (!path.isEmpty()) openModel(path);
    });
    file->addAction(tr("Open model &folder…"), this, [this] {
        const QString path = QFileDialog::getExistingDirectory(this, tr("Open a Hugging Face model folder"));
        if (!path.isEmpty()) openModel(path);
    });
    file->addSeparator();
    file->addAction(tr("&Quit"), QKeySequence::Quit, this, &QWidget::close);
    QMenu* view = menuBar()->addMenu(tr("&View"));
    for (int i = 0; i < pages_->count(); ++i)
        view->addAction(pageName(i), QKeySequence(Qt::CTRL | Qt::Key(Qt::Key_1 + i)), this,
                        [this, i] { showPage(i); });
    QMenu* chat = menuBar()->addMenu(tr("&Chat"));
    chat->addAction(tr("&New chat"), this, [this] {
        showPage(ChatPageIndex);
        chatPage_->newChat();
    });
    chat->addAction(tr("&Stop reply"), this, [this] { chatPage_->stop(); });
    chat->addAction(tr("&Regenerate reply"), this, [this] { chatPage_->regenerate(); });
    QMenu* help = menuBar()->addMenu(tr("&Help"));
    help->addAction(tr("&About Lathe"), this, [this] {
        QMessageBox::about(
            this, tr("About Lathe"),
            tr("<b>Lathe %1</b> (%2)<p>A workbench for making large language models fast: load, "
               "chat, measure and compare.</p><p>Run store: %3</p>")
                .arg(QString::fromUtf8(latheVersion()), QString::fromUtf8(latheCommit()),
                     QString::fromStdString(context_.store().path().string())));
    });
}

void MainWindow::openModel(const QString& path) {
    openAfterAdd_ = path;
    showPage(ModelsPageIndex);
    modelsPage_->addModelPaths({path});
}

void MainWindow::activateModel(int64_t modelId) {
    if (activeModelId_ == modelId || loadingModelId_ == modelId) return;
    const std::optional<ModelRecord> m = context_.store().getModel(modelId);
    if (!m) return;
    loadingModelId_ = modelId;
    loadProgress_->setValue(0);
    loadProgress_->setVisible(true);
    stateLabel_->setText(tr("Loading %1").arg(QString::fromStdString(m->name)));
    EngineWorker* worker = &context_.worker();
    const QString path = QString::fromStdString(m->path);
    worker->post([worker, path] { worker->loadModel(path); });
}

void MainWindow::onModelLoaded(const LoadedModel& model) {
    loadProgress_->setVisible(false);
    activeModelId_ = loadingModelId_;
    loadingModelId_.reset();
    const int64_t id = activeModelId_.value_or(0);
    modelLabel_->setText(tr("Model: %1").arg(model.name));
    deviceLabel_->setText(tr("Device: %1 · %2 threads").arg(model.device.toUpper()).arg(model.threads));
    chatPage_->setActiveModel(id, model.name, model.chatTemplate);
    optimizePage_->setActiveModel(id, model.name, model.path);
    modelsPage_->setActiveModel(id);
    QSettings().setValue("engine/lastModelPath", model.path);
    showStatus(tr("Loaded %1 (%2 tokens of context)").arg(model.name).arg(model.contextTokens));
    emit modelActivated(id);
}

void MainWindow::startUp() {
    const std::vector<ModelRecord> models = context_.store().listModels();
    const QString last = QSettings().value("engine/lastModelPath").toString();
    for (const ModelRecord& m : models)
        if (QString::fromStdString(m.path) == last && QFileInfo::exists(last)) {
            modelsPage_->selectModel(m.id);
            activateModel(m.id);
            return;
        }
    const QString defaultModel = QString::fromStdString(defaultModelPath().string());
    if (!context_.options().registerDefaultModel || !QFileInfo::exists(defaultModel)) return;
    for (const ModelRecord& m : models)
        if (QString::fromStdString(m.path) == defaultModel) {
            activateModel(m.id);
            return;
        }
    openModel(defaultModel);
}

void MainWindow::showStatus(const QString& text) {
    statusBar()->showMessage(text, 8000);
}

void MainWindow::closeEvent(QCloseEvent* event) {
    QSettings settings;
    settings.setValue("window/geometry", saveGeometry());
    settings.setValue("window/state", saveState());
    settings.setValue("window/page", pages_->currentIndex());
    context_.worker().stop();
    QMainWindow::closeEvent(event);
}

void MainWindow::dragEnterEvent(QDragEnterEvent* event) {
    if (!widgets::DropZone::pathsFromMime(event->mimeData()).isEmpty()) event->acceptProposedAction();
}

void MainWindow::dropEvent(QDropEvent* event) {
    const QStringList paths = widgets::DropZone::pathsFromMime(event->mimeData());
    if (paths.isEmpty()) return;
    event->acceptProposedAction();
    showPage(ModelsPageIndex);
    modelsPage_->addModelPaths(paths);
}

} // namespace lathe::gui
