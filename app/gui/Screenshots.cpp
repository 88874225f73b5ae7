#include "Screenshots.h"

#include "ChatPage.h"
#include "MainWindow.h"
#include "ModelsPage.h"
#include "OptimizePage.h"
#include "RecipeEditor.h"
#include "RunTableModel.h"
#include "RunsPage.h"

#include <QApplication>
#include <QDir>
#include <QElapsedTimer>
#include <QFileInfo>
#include <QItemSelectionModel>
#include <QSortFilterProxyModel>
#include <QTableView>
#include <QTimer>

namespace lathe::gui {
namespace {

void settle(int ms) {
    QElapsedTimer timer;
    timer.start();
    while (timer.elapsed() < ms)
        QApplication::processEvents(QEventLoop::AllEvents, 20);
}

} // namespace

Autopilot::Autopilot(MainWindow& window, AutopilotPlan plan, QObject* parent)
    : QObject(parent), window_(window), plan_(std::move(plan)) {}

void Autopilot::start() {
    if (plan_.send.isEmpty() && !plan_.bench && plan_.optimize.isEmpty()) {
        QTimer::singleShot(500, this, &Autopilot::takeScreenshots);
        return;
    }
    connect(&window_, &MainWindow::modelActivated, this, [this] {
        if (!started_) {
            started_ = true;
            afterModel();
        }
    });
    connect(&window_, &MainWindow::modelActivationFailed, this, [this] { takeScreenshots(); });
    if (window_.activeModelId()) {
        started_ = true;
        afterModel();
    }
}

void Autopilot::afterModel() {
    if (plan_.send.isEmpty()) return afterReply();
    window_.showPage(MainWindow::ChatPageIndex);
    connect(
        window_.chatPage(), &ChatPage::replyFinished, this, [this] { afterReply(); },
        Qt::SingleShotConnection);
    window_.chatPage()->send(plan_.send);
}

void Autopilot::afterReply() {
    if (!plan_.bench) return afterBench();
    window_.showPage(MainWindow::ModelsPageIndex);
    connect(
        window_.modelsPage(), &ModelsPage::benchmarkFinished, this, [this] { afterBench(); },
        Qt::SingleShotConnection);
    window_.modelsPage()->startBenchmark();
}

void Autopilot::afterBench() {
    if (plan_.optimize.isEmpty()) return afterOptimize();
    window_.showPage(MainWindow::OptimizePageIndex);
    OptimizePage* page = window_.optimizePage();
    if (!page->editor()->applyPreset(plan_.optimize)) return afterOptimize();
    VariantEvaluation evaluation = page->evaluation();
    evaluation.perplexity.maxChunks = 4; // enough for the picture
    evaluation.repetitions = 1;
    page->setEvaluation(evaluation);
    if (!plan_.optimizeDir.isEmpty()) {
        QDir().mkpath(plan_.optimizeDir);
        page->setOutputPath(QDir(plan_.optimizeDir).filePath(QFileInfo(page->outputPath()).fileName()));
    }
    connect(
        page, &OptimizePage::buildFinished, this, [this] { afterOptimize(); }, Qt::SingleShotConnection);
    if (!page->startBuild()) {
        disconnect(page, &OptimizePage::buildFinished, this, nullptr);
        afterOptimize();
    }
}

void Autopilot::afterOptimize() {
    QTimer::singleShot(300, this, &Autopilot::takeScreenshots);
}

void Autopilot::takeScreenshots() {
    if (!plan_.screenshotDir.isEmpty()) {
        // Compare the two newest runs so the Runs page shows its comparison pane.
        RunsPage* runs = window_.runsPage();
        window_.showPage(MainWindow::RunsPageIndex);
        settle(100);
        QTableView* table = runs->table();
        if (runs->proxyModel()->rowCount() >= 2) {
            table->selectionModel()->select(runs->proxyModel()->index(0, 0),
                                            QItemSelectionModel::Select | QItemSelectionModel::Rows);
            table->selectionModel()->select(runs->proxyModel()->index(1, 0),
                                            QItemSelectionModel::Select | QItemSelectionModel::Rows);
        }
        grabPages(window_, plan_.screenshotDir, plan_.sizes);
    }
    if (plan_.quitWhenDone) QApplication::quit();
}

QStringList grabPages(MainWindow& window, const QString& dir, const QList<QSize>& sizes) {
    QDir().mkpath(dir);
    QStringList written;
    for (const QSize& size : sizes) {
        window.resize(size);
        for (int page = 0; page < window.pageCount(); ++page) {
            window.showPage(page);
            settle(400);
            const QString file = QDir(dir).filePath(QStringLiteral("%1-%2x%3.png")
                                                        .arg(window.pageName(page).toLower())
                                                        .arg(size.width())
                                                        .arg(size.height()));
            if (window.grab().save(file)) written.append(file);
        }
    }
    return written;
}

} // namespace lathe::gui
