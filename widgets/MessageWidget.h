#pragma once
// One message of a conversation: who wrote it, its Markdown body, and (under replies) the figures of
// its generation. Its buttons copy the text, edit a user message, or regenerate a reply.

#include <QFrame>

class QLabel;
class QToolButton;

namespace lathe::widgets {

class MarkdownView;

enum class MessageRole { System, User, Assistant };

class MessageWidget : public QFrame {
    Q_OBJECT
public:
    MessageWidget(MessageRole role, QWidget* parent = nullptr);

    MessageRole role() const { return role_; }
    // Renders the text (Markdown); returns how long rendering took in milliseconds.
    double setText(const QString& text);
    QString text() const { return text_; }
    void setStats(const QString& line);
    QString stats() const;
    void setStreaming(bool streaming);
    bool isStreaming() const { return streaming_; }
    void setRegenerateVisible(bool visible);
    void setEditVisible(bool visible);

signals:
    void editRequested();
    void regenerateRequested();

private:
    MessageRole role_;
    QString text_;
    bool streaming_ = false;
    QLabel* author_;
    QLabel* statsLabel_;
    MarkdownView* body_;
    QToolButton* copyButton_;
    QToolButton* editButton_;
    QToolButton* regenerateButton_;
};

} // namespace lathe::widgets
