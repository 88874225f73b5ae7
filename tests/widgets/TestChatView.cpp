// ChatView: streamed text is buffered and rendered on a timer (not once per token), Markdown code
// blocks get a monospace font, and the actions follow the conversation's state.

#include "widgets/ChatView.h"
#include "widgets/MarkdownView.h"

#include <QTest>
#include <QTextBlock>

using lathe::widgets::ChatView;
using lathe::widgets::MarkdownView;
using lathe::widgets::MessageRole;

class TestChatView : public QObject {
    Q_OBJECT
private slots:
    void coalescesStreamedText() {
        ChatView view;
        view.resize(600, 400);
        view.show();
        const int index = view.addMessage(MessageRole::Assistant, {});
        view.setStreaming(index, true);
        QString expected;
        for (int i = 0; i < 500; ++i) {
            const QString chunk = QStringLiteral("word%1 ").arg(i);
            expected += chunk;
            view.appendText(index, chunk);
        }
        // Nothing rendered yet: 500 tokens arrived within one timer period.
        QCOMPARE(view.renderCount(), 0);
        QCOMPARE(view.text(index), expected);
        QTRY_COMPARE(view.renderCount(), 1);
        QCOMPARE(view.message(index)->text(), expected);
    }

    void finishingFlushesAndShowsStats() {
        ChatView view;
        const int user = view.addMessage(MessageRole::User, "Hello");
        const int reply = view.addMessage(MessageRole::Assistant, {});
        view.setStreaming(reply, true);
        view.appendText(reply, "Hi there");
        view.setStreaming(reply, false); // flushes without waiting for the timer
        QCOMPARE(view.message(reply)->text(), QString("Hi there"));
        view.setStats(reply, ChatView::formatStats(182.4, 41.25, 57));
        QCOMPARE(view.stats(reply), QString("TTFT 182 ms  ·  41.3 tok/s  ·  57 tokens"));
        QCOMPARE(view.role(user), MessageRole::User);
        view.removeFrom(1);
        QCOMPARE(view.count(), 1);
        view.clear();
        QCOMPARE(view.count(), 0);
    }

    void formatsStatsWithStopNote() {
        QCOMPARE(ChatView::formatStats(1000, 5, 3, "stopped"),
                 QString("TTFT 1000 ms  ·  5.0 tok/s  ·  3 tokens  ·  stopped"));
    }

    void rendersCodeBlocksMonospace() {
        MarkdownView view;
        view.resize(400, 100);
        view.setMarkdownText("Text with _emphasis_.\n\n```cpp\nint x = 1;\n```\n");
        bool sawCode = false, sawItalic = false;
        for (QTextBlock block = view.document()->begin(); block.isValid(); block = block.next()) {
            if (block.text() == "int x = 1;") {
                sawCode = true;
                QVERIFY(block.blockFormat().background().style() != Qt::NoBrush);
                QVERIFY(block.begin().fragment().charFormat().fontFixedPitch());
            }
            for (auto it = block.begin(); !it.atEnd(); ++it)
                if (it.fragment().text() == "emphasis") sawItalic = it.fragment().charFormat().fontItalic();
        }
        QVERIFY(sawCode);
        QVERIFY2(sawItalic, "CommonMark renders _x_ as italics (GitHub's dialect would underline it)");
        view.show();
        // Grew to fit its two blocks (the paragraph and the code line) without a scroll bar.
        QTRY_VERIFY2(view.height() >= 2 * view.fontMetrics().lineSpacing(),
                     qPrintable(QString::number(view.height())));
    }
};

QTEST_MAIN(TestChatView)
#include "TestChatView.moc"
