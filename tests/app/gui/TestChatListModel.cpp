// ChatListModel over real store rows, checked by QAbstractItemModelTester.

#include "ChatListModel.h"
#include "store/RunStore.h"

#include <QAbstractItemModelTester>
#include <QTemporaryDir>
#include <QTest>

using namespace lathe;
using namespace lathe::gui;

class TestChatListModel : public QObject {
    Q_OBJECT
private slots:
    void listsChatsNewestFirst() {
        QTemporaryDir dir;
        auto store = RunStore::open(dir.filePath("t.db").toStdString());
        const int64_t first = store->createChat("First");
        QTest::qWait(5);
        const int64_t second = store->createChat("Second");
        ChatListModel model;
        QAbstractItemModelTester tester(&model, QAbstractItemModelTester::FailureReportingMode::QtTest);
        model.setChats(store->listChats("", 0, 100));
        QCOMPARE(model.rowCount(), 2);
        QCOMPARE(model.data(model.index(0), ChatListModel::TitleRole).toString(), QString("Second"));
        QCOMPARE(model.data(model.index(0), ChatListModel::IdRole).toLongLong(), second);
        QCOMPARE(model.rowOfId(first), 1);
        model.setChats(store->listChats("Fir", 0, 100));
        QCOMPARE(model.rowCount(), 1);
    }
};

QTEST_MAIN(TestChatListModel)
#include "TestChatListModel.moc"
