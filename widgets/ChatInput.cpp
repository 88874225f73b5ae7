#include "widgets/ChatInput.h"

#include <QKeyEvent>
#include <algorithm>

namespace lathe::widgets {

ChatInput::ChatInput(QWidget* parent) : QPlainTextEdit(parent) {
    setPlaceholderText(tr("Message the model  (Enter sends, Shift+Enter for a new line)"));
    setTabChangesFocus(true);
    setSizePolicy(QSizePolicy::Expanding, QSizePolicy::Fixed);
    connect(this, &QPlainTextEdit::textChanged, this, &ChatInput::fitHeight);
    fitHeight();
}

QSize ChatInput::sizeHint() const {
    return {400, height()};
}

void ChatInput::keyPressEvent(QKeyEvent* event) {
    const bool enter = event->key() == Qt::Key_Return || event->key() == Qt::Key_Enter;
    if (enter && !(event->modifiers() & Qt::ShiftModifier)) {
        emit sendRequested();
        return;
    }
    QPlainTextEdit::keyPressEvent(event);
}

void ChatInput::fitHeight() {
    const int lines = std::clamp(int(document()->blockCount()), 1, 6);
    const int lineHeight = fontMetrics().lineSpacing();
    setFixedHeight(lines * lineHeight + 2 * int(document()->documentMargin()) + 14);
}

} // namespace lathe::widgets
