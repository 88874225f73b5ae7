#include "widgets/ChatView.h"

#include "widgets/EmptyState.h"

#include <QScrollArea>
#include <QScrollBar>
#include <QTimer>
#include <QVBoxLayout>
#include <algorithm>

namespace lathe::widgets {

ChatView::ChatView(QWidget* parent) : QWidget(parent) {
    auto* layout = new QVBoxLayout(this);
    layout->setContentsMargins(0, 0, 0, 0);
    scroll_ = new QScrollArea(this);
    scroll_->setObjectName("chatScroll");
    scroll_->setWidgetResizable(true);
    scroll_->setHorizontalScrollBarPolicy(Qt::ScrollBarAlwaysOff);
    canvas_ = new QWidget(scroll_);
    canvas_->setObjectName("chatCanvas");
    column_ = new QVBoxLayout(canvas_);
    column_->setContentsMargins(24, 16, 24, 16);
    column_->setSpacing(12);
    empty_ = new EmptyState(canvas_);
    empty_->setContent(
        tr("Start a conversation"),
        tr("Type a message below. Enter sends, Shift+Enter starts a new line, Esc stops a reply."));
    column_->addWidget(empty_, 1);
    column_->addStretch(0);
    scroll_->setWidget(canvas_);
    layout->addWidget(scroll_);

    renderTimer_ = new QTimer(this);
    renderTimer_->setSingleShot(true);
    connect(renderTimer_, &QTimer::timeout, this, &ChatView::renderPending);
    // Follow the reply only while the user has not scrolled up to read.
    connect(scroll_->verticalScrollBar(), &QScrollBar::valueChanged, this,
            [this] { follow_ = isAtBottom(); });
    connect(scroll_->verticalScrollBar(), &QScrollBar::rangeChanged, this,
            [this] { scrollToBottomIfFollowing(); });
}

int ChatView::addMessage(MessageRole role, const QString& text) {
    auto* message = new MessageWidget(role, canvas_);
    const int index = int(messages_.size());
    messages_.append(message);
    pending_.append(QString());
    // Before the final stretch.
    column_->insertWidget(column_->count() - 1, message);
    message->setText(text);
    connect(message, &MessageWidget::editRequested, this,
            [this, message] { emit editRequested(int(messages_.indexOf(message))); });
    connect(message, &MessageWidget::regenerateRequested, this,
            [this, message] { emit regenerateRequested(int(messages_.indexOf(message))); });
    empty_->setVisible(false);
    column_->setStretch(column_->count() - 1, 1);
    updateActions();
    follow_ = true;
    return index;
}

void ChatView::appendText(int index, const QString& chunk) {
    if (index < 0 || index >= messages_.size() || chunk.isEmpty()) return;
    pending_[index] += chunk;
    scheduleRender();
}

void ChatView::setText(int index, const QString& text) {
    if (index < 0 || index >= messages_.size()) return;
    pending_[index].clear();
    messages_[index]->setText(text);
}

void ChatView::setStats(int index, const QString& line) {
    if (index >= 0 && index < messages_.size()) messages_[index]->setStats(line);
}

void ChatView::setStreaming(int index, bool streaming) {
    if (index < 0 || index >= messages_.size()) return;
    if (!streaming) flush();
    messages_[index]->setStreaming(streaming);
    updateActions();
}

void ChatView::removeFrom(int index) {
    while (messages_.size() > std::max(index, 0)) {
        MessageWidget* message = messages_.takeLast();
        pending_.removeLast();
        column_->removeWidget(message);
        message->deleteLater();
    }
    if (messages_.isEmpty()) {
        empty_->setVisible(true);
        column_->setStretch(column_->count() - 1, 0);
    }
    updateActions();
}

void ChatView::clear() {
    removeFrom(0);
}

void ChatView::flush() {
    renderTimer_->stop();
    renderPending();
}

QString ChatView::text(int index) const {
    return messages_.at(index)->text() + pending_.at(index);
}

QString ChatView::stats(int index) const {
    return messages_.at(index)->stats();
}

MessageRole ChatView::role(int index) const {
    return messages_.at(index)->role();
}

void ChatView::setEmptyState(const QString& title, const QString& text) {
    empty_->setContent(title, text);
}

QString ChatView::formatStats(double ttftMs, double tokensPerSecond, qint64 tokens, const QString& note) {
    QString line = tr("TTFT %1 ms  ·  %2 tok/s  ·  %3 tokens")
                       .arg(ttftMs, 0, 'f', 0)
                       .arg(tokensPerSecond, 0, 'f', 1)
                       .arg(tokens);
    if (!note.isEmpty()) line += QStringLiteral("  ·  ") + note;
    return line;
}

void ChatView::scheduleRender() {
    if (!renderTimer_->isActive()) renderTimer_->start(coalesceMs_);
}

void ChatView::renderPending() {
    double slowest = 0;
    for (int i = 0; i < messages_.size(); ++i) {
        if (pending_[i].isEmpty()) continue;
        const QString text = messages_[i]->text() + pending_[i];
        pending_[i].clear();
        slowest = std::max(slowest, messages_[i]->setText(text));
        ++renderCount_;
    }
    // Rendering a long reply costs more each time; space renders out so that it never takes more
    // than about a fifth of the UI thread.
    coalesceMs_ = std::clamp(int(slowest * 5), 40, 400);
    scrollToBottomIfFollowing();
}

void ChatView::updateActions() {
    int lastAssistant = -1;
    bool streaming = false;
    for (int i = 0; i < messages_.size(); ++i) {
        if (messages_[i]->role() == MessageRole::Assistant) lastAssistant = i;
        streaming = streaming || messages_[i]->isStreaming();
    }
    for (int i = 0; i < messages_.size(); ++i) {
        messages_[i]->setRegenerateVisible(i == lastAssistant && !streaming);
        messages_[i]->setEditVisible(!streaming);
    }
}

bool ChatView::isAtBottom() const {
    const QScrollBar* bar = scroll_->verticalScrollBar();
    return bar->value() >= bar->maximum() - 24;
}

void ChatView::scrollToBottomIfFollowing() {
    if (follow_) scroll_->verticalScrollBar()->setValue(scroll_->verticalScrollBar()->maximum());
}

} // namespace lathe::widgets
