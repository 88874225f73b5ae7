// Killing the app (SIGKILL, no chance to clean up) in the middle of a streaming reply, then starting
// it again: the conversation is there with the partial reply kept, marked as interrupted.

#include "ChatPage.h"
#include "GuiTestSupport.h"
#include "TestSupport.h"
#include "store/RunStore.h"
#include "widgets/ChatView.h"

#include <QProcess>
#include <QSignalSpy>
#include <QTemporaryDir>
#include <QTest>

using namespace lathe;
using namespace lathe::gui;

class TestKillRestart : public QObject {
    Q_OBJECT
    QTemporaryDir dir_;

private slots:
    void initTestCase() { test::isolateSettings(dir_); }

    void partialReplySurvivesSigkill() {
        const auto model = test::defaultModelPath();
        if (!model) QSKIP(test::kNoDefaultModel);
        const QString db = dir_.filePath("lathe.db");
        QProcess app;
        QProcessEnvironment env = QProcessEnvironment::systemEnvironment();
        env.insert("QT_QPA_PLATFORM", "offscreen");
        app.setProcessEnvironment(env);
        app.setProcessChannelMode(QProcess::ForwardedErrorChannel);
        app.start(LATHE_GUI_BINARY, {QString::fromStdString(model->string()), "--db", db, "--send",
                                     "Tell me a long story about a clockmaker and her apprentice."});
        QVERIFY(app.waitForStarted());

        // Wait until the reply has streamed for a while and at least one partial save is committed.
        std::string partial;
        int64_t chatId = 0;
        QVERIFY(QTest::qWaitFor(
            [&] {
                try {
                    auto store = RunStore::open(db.toStdString());
                    const auto chats = store->listChats("", 0, 10);
                    if (chats.empty()) return false;
                    chatId = chats[0].id;
                    const auto messages = store->messages(chatId);
                    if (messages.size() == 2 && !messages[1].complete && messages[1].content.size() > 20) {
                        partial = messages[1].content;
                        return true;
                    }
                } catch (const std::exception&) {
                }
                return false;
            },
            180000));
        app.kill(); // SIGKILL
        QVERIFY(app.waitForFinished(10000));
        QCOMPARE(app.exitStatus(), QProcess::CrashExit);

        // Restart: the store marks the run interrupted and the page shows the partial reply.
        auto context = test::makeContext(dir_);
        QCOMPARE(context->store().interruptedAtOpen().size(), size_t(1));
        const auto messages = context->store().messages(chatId);
        QCOMPARE(messages.size(), size_t(2));
        QVERIFY(!messages[1].complete);
        QVERIFY(messages[1].content.size() >= partial.size()); // saved at least once more before the kill
        QVERIFY(messages[1].content.compare(0, partial.size(), partial) == 0);
        ChatPage page(*context);
        page.openChat(chatId);
        QCOMPARE(page.view()->count(), 2);
        QCOMPARE(page.view()->text(1), QString::fromStdString(messages[1].content));
        QVERIFY(page.view()->stats(1).contains("Interrupted"));
    }
};

QTEST_MAIN(TestKillRestart)
#include "TestKillRestart.moc"
