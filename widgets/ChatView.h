#pragma once
// A conversation as a scrolling column of messages. Streaming text is coalesced: appendText() only
// buffers, and a timer renders the buffered text (re-rendering the message's Markdown) every
// `coalesceMs` or more — longer when rendering itself gets slow — so a fast model cannot flood the
// event loop. The view follows the newest text while the user is at the bottom.

#include "widgets/MessageWidget.h"

#include <QWidget>

class QScrollArea;
class QTimer;
class QVBoxLayout;

namespace lathe::widgets {

class EmptyState;

class ChatView : public QWidget {
    Q_OBJECT
public:
    explicit ChatView(QWidget* parent = nullptr);

    int addMessage(MessageRole role, const QString& text);
    void appendText(int index, const QString& chunk); // buffered, rendered on the timer
    void setText(int index, const QString& text);     // immediate
    void setStats(int index, const QString& line);
    void setStreaming(int index, bool streaming);
    void removeFrom(int index); // removes messages index.. end
    void clear();
    void flush(); // renders buffered text now

    int count() const { return int(messages_.size()); }
    QString text(int index) const; // including text still buffered
    QString stats(int index) const;
    MessageRole role(int index) const;
    MessageWidget* message(int index) const { return messages_.at(index); }
    void setEmptyState(const QString& title, const QString& text);
    void setCoalesceIntervalMs(int ms) { coalesceMs_ = ms; }
    int renderCount() const { return renderCount_; }

    // "TTFT 182 ms · 41.3 tok/s · 57 tokens" (and why it stopped, when not the model's own end).
    static QString formatStats(double ttftMs, double tokensPerSecond, qint64 tokens,
                               const QString& note = {});

signals:
    void editRequested(int index);
    void regenerateRequested(int index);

private:
    void scheduleRender();
    void renderPending();
    void updateActions();
    void scrollToBottomIfFollowing();
    bool isAtBottom() const;

    QScrollArea* scroll_;
    QWidget* canvas_;
    QVBoxLayout* column_;
    EmptyState* empty_;
    QList<MessageWidget*> messages_;
    QList<QString> pending_; // per message, text not yet rendered
    QTimer* renderTimer_;
    int coalesceMs_ = 40;
    int renderCount_ = 0;
    bool follow_ = true;
};

} // namespace lathe::widgets
