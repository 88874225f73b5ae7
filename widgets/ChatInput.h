#pragma once
// The message composer: Enter sends, Shift+Enter adds a line, and the box grows with its text up to a
// few lines before it scrolls.

#include <QPlainTextEdit>

namespace lathe::widgets {

class ChatInput : public QPlainTextEdit {
    Q_OBJECT
public:
    explicit ChatInput(QWidget* parent = nullptr);
    QSize sizeHint() const override;

signals:
    void sendRequested();

protected:
    void keyPressEvent(QKeyEvent* event) override;

private:
    void fitHeight();
};

} // namespace lathe::widgets
