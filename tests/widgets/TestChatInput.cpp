// ChatInput: Enter sends, Shift+Enter adds a line.

#include "widgets/ChatInput.h"

#include <QSignalSpy>
#include <QTest>

using lathe::widgets::ChatInput;

class TestChatInput : public QObject {
    Q_OBJECT
private slots:
    void enterSendsShiftEnterBreaksLine() {
        ChatInput input;
        input.show();
        QSignalSpy sends(&input, &ChatInput::sendRequested);
        QTest::keyClicks(&input, "first");
        QTest::keyClick(&input, Qt::Key_Return, Qt::ShiftModifier);
        QTest::keyClicks(&input, "second");
        QCOMPARE(sends.count(), 0);
        QCOMPARE(input.toPlainText(), QString("first\nsecond"));
        QTest::keyClick(&input, Qt::Key_Return);
        QCOMPARE(sends.count(), 1);
        QCOMPARE(input.toPlainText(), QString("first\nsecond")); // the page clears it after taking the text
        QTest::keyClick(&input, Qt::Key_Enter);
        QCOMPARE(sends.count(), 2);
    }
};

QTEST_MAIN(TestChatInput)
#include "TestChatInput.moc"
