// lathe: the desktop workbench. Usage: lathe [MODEL] [--db PATH] [--threads N]
//   [--send TEXT] [--bench] [--optimize PRESET [--optimize-dir DIR]]
//   [--screenshots DIR --sizes 1280x800,1920x1080] [--quit]

#include "AppContext.h"
#include "MainWindow.h"
#include "Screenshots.h"
#include "core/BuildInfo.h"
#include "core/Log.h"
#include "core/Paths.h"
#include "widgets/Theme.h"

#include <QApplication>
#include <QCommandLineParser>
#include <QMessageBox>
#include <cstdio>

int main(int argc, char** argv) {
    QApplication app(argc, argv);
    QApplication::setOrganizationName("Lathe");
    QApplication::setApplicationName("lathe");
    QApplication::setApplicationVersion(QString::fromUtf8(lathe::latheVersion()));
    QApplication::setDesktopFileName("io.github.lathe.Lathe");
    Q_INIT_RESOURCE(lathe);
    lathe::widgets::applyTheme(app);

    QCommandLineParser parser;
    parser.setApplicationDescription("Lathe: an LLM workbench");
    parser.addHelpOption();
    parser.addVersionOption();
    parser.addPositionalArgument("model", "A .gguf file or a Hugging Face model folder to open and load");
    const QCommandLineOption db("db", "Run store file (default: lathe.db in the data folder)", "path");
    const QCommandLineOption threads("threads", "Engine threads (0 = all)", "n", "0");
    const QCommandLineOption send("send", "Send this chat message once the model is loaded", "text");
    const QCommandLineOption bench("bench", "Run a short benchmark after the chat message");
    const QCommandLineOption optimize(
        "optimize", "Build a variant with this recipe preset after that (\"RTN int8\")", "preset");
    const QCommandLineOption optimizeDir(
        "optimize-dir", "Folder for the --optimize variant (default: next to the model)", "dir");
    const QCommandLineOption screenshots("screenshots", "Save a PNG of every page into this folder", "dir");
    const QCommandLineOption sizes("sizes", "Window sizes for --screenshots", "WxH,...",
                                   "1280x800,1920x1080");
    const QCommandLineOption quit("quit", "Quit when the --send/--bench/--screenshots work is done");
    const QCommandLineOption logLevel("log-level", "trace, debug, info, warn, error, off", "level", "info");
    parser.addOptions({db, threads, send, bench, optimize, optimizeDir, screenshots, sizes, quit, logLevel});
    parser.process(app);

    lathe::setupLogging(parser.value(logLevel).toStdString(), lathe::userDataDir() / "logs");
    lathe::gui::AppOptions options;
    options.dbPath = parser.value(db);
    options.threads = parser.value(threads).toInt();
    std::unique_ptr<lathe::gui::AppContext> context;
    try {
        context = std::make_unique<lathe::gui::AppContext>(options);
    } catch (const std::exception& e) {
        QMessageBox::critical(nullptr, "Lathe", QString("Could not open the run store: %1").arg(e.what()));
        return 1;
    }
    lathe::gui::MainWindow window(*context);
    window.show();
    const QStringList models = parser.positionalArguments();
    if (models.isEmpty())
        window.startUp();
    else
        window.openModel(models.first());

    lathe::gui::AutopilotPlan plan;
    plan.send = parser.value(send);
    plan.bench = parser.isSet(bench);
    plan.optimize = parser.value(optimize);
    plan.optimizeDir = parser.value(optimizeDir);
    plan.screenshotDir = parser.value(screenshots);
    for (const QString& size : parser.value(sizes).split(',', Qt::SkipEmptyParts)) {
        const QStringList wh = size.split('x');
        if (wh.size() == 2) plan.sizes.append(QSize(wh[0].toInt(), wh[1].toInt()));
    }
    plan.quitWhenDone = parser.isSet(quit);
    std::unique_ptr<lathe::gui::Autopilot> autopilot;
    if (!plan.send.isEmpty() || plan.bench || !plan.optimize.isEmpty() || !plan.screenshotDir.isEmpty()) {
        autopilot = std::make_unique<lathe::gui::Autopilot>(window, plan);
        autopilot->start();
    }
    const int status = app.exec();
    autopilot.reset();
    return status;
}
