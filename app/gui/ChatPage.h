#pragma once
// Conversations: the list from the store (new, rename, delete, search), the streaming chat view with
// its composer, and the conversation's settings. Every message is in the store before it is shown;
// the reply is filled in by the engine worker as it streams.

#include "EngineWorker.h"

#include <QWidget>
#include <optional>

class QLabel;
class QLineEdit;
class QListView;
class QPushButton;
class QStackedWidget;
class QTimer;

namespace lathe::widgets {
class ChatInput;
class ChatView;
class EmptyState;
} // namespace lathe::widgets

namespace lathe::gui {

class AppContext;
class ChatListModel;
class DecodingPanel;

class ChatPage : public QWidget {
    Q_OBJECT
public:
    explicit ChatPage(AppContext& context, QWidget* parent = nullptr);

    void setActiveModel(int64_t modelId, const QString& name, const QString& chatTemplate);
    void newChat();
    void openChat(int64_t chatId);
    void send(const QString& text);
    void regenerate();
    void stop();
    void refreshChats();

    bool isStreaming() const { return currentJob_ != 0; }
    int64_t currentChatId() const { return chatId_; }
    widgets::ChatView* view() const { return view_; }
    ChatListModel* chatList() const { return chats_; }
    DecodingPanel* decodingPanel() const { return decoding_; }

signals:
    void replyStarted(qint64 runId);
    void replyFinished(const lathe::gui::ReplyOutcome& outcome);
    void statusMessage(const QString& text);

private:
    void startReply(std::optional<int64_t> reuseMessageId);
    void onReplyText(quint64 jobId, const QString& text);
    void onReplyFinished(const ReplyOutcome& outcome);
    void editMessage(int index);
    void renameChat(int64_t chatId);
    void deleteChat(int64_t chatId);
    void saveSettings();
    void loadSettings();
    void updateControls();
    QString settingsKey(int64_t chatId) const;

    AppContext& context_;
    ChatListModel* chats_;
    QListView* chatListView_;
    QStackedWidget* listStack_;
    widgets::EmptyState* listEmpty_;
    QLineEdit* search_;
    QTimer* searchDelay_;
    QLabel* title_;
    QLabel* modelLabel_;
    widgets::ChatView* view_;
    widgets::ChatInput* input_;
    QPushButton* sendButton_;
    QPushButton* stopButton_;
    DecodingPanel* decoding_;

    int64_t chatId_ = 0;
    std::optional<int64_t> modelId_;
    QList<int64_t> messageIds_; // store id of each message in the view
    quint64 currentJob_ = 0;
    int64_t jobChatId_ = 0;
    int streamingIndex_ = -1;
};

} // namespace lathe::gui
