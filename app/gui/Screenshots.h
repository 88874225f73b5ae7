#pragma once
// Drives the window without a user, for the screenshot script and the kill-and-restart test:
// waits for the model, optionally sends a chat message, runs a benchmark and builds a variant on the
// Optimize page, then grabs every page
// at each requested size into PNG files and quits.

#include <QObject>
#include <QSize>
#include <QStringList>

namespace lathe::gui {

class MainWindow;

struct AutopilotPlan {
    QString send;          // a chat message to send once the model is loaded
    bool bench = false;    // run a short benchmark after the reply
    QString optimize;      // a recipe preset to build on the Optimize page after that ("RTN int8")
    QString optimizeDir;   // where the variant goes (empty: next to the model)
    QString screenshotDir; // empty: no screenshots
    QList<QSize> sizes;    // window sizes for the screenshots
    bool quitWhenDone = false;
};

class Autopilot : public QObject {
    Q_OBJECT
public:
    Autopilot(MainWindow& window, AutopilotPlan plan, QObject* parent = nullptr);
    void start();

private:
    void afterModel();
    void afterReply();
    void afterBench();
    void afterOptimize();
    void takeScreenshots();

    MainWindow& window_;
    AutopilotPlan plan_;
    bool started_ = false;
};

// Saves window.grab() of every page as DIR/<page>-<W>x<H>.png; returns the files written.
QStringList grabPages(MainWindow& window, const QString& dir, const QList<QSize>& sizes);

} // namespace lathe::gui
