#include "ChatPage.h"

#include "AppContext.h"
#include "ChatListModel.h"
#include "DecodingPanel.h"
#include "store/RunStore.h"
#include "widgets/ChatInput.h"
#include "widgets/ChatView.h"
#include "widgets/EmptyState.h"
#include "widgets/Theme.h"

#include <QHBoxLayout>
#include <QInputDialog>
#include <QLabel>
#include <QLineEdit>
#include <QListView>
#include <QMenu>
#include <QMessageBox>
#include <QPushButton>
#include <QSettings>
#include <QShortcut>
#include <QSplitter>
#include <QStackedWidget>
#include <QTimer>
#include <QVBoxLayout>

namespace lathe::gui {
namespace {

using widgets::ChatView;
using widgets::MessageRole;

MessageRole roleOf(const std::string& role) {
    if (role == "user") return MessageRole::User;
    if (role == "system") return MessageRole::System;
    return MessageRole::Assistant;
}

QString titleFrom(const QString& text) {
    QString line = text.section('\n', 0, 0).simplified();
    if (line.size() > 48) line = line.left(46) + QStringLiteral("…");
    return line.isEmpty() ? QObject::tr("New chat") : line;
}

quint64 nextJobId() {
    static quint64 next = 1;
    return next++;
}

} // namespace

ChatPage::ChatPage(AppContext& context, QWidget* parent) : QWidget(parent), context_(context) {
    setObjectName("page");
    auto* outer = new QHBoxLayout(this);
    outer->setContentsMargins(0, 0, 0, 0);
    auto* splitter = new QSplitter(Qt::Horizontal, this);
    splitter->setObjectName("chatSplitter");
    splitter->setChildrenCollapsible(false);
    outer->addWidget(splitter);

    // Left: conversations.
    auto* left = new QWidget(splitter);
    left->setMinimumWidth(220);
    auto* leftLayout = new QVBoxLayout(left);
    leftLayout->setContentsMargins(12, 16, 8, 12);
    auto* chatsTitle = new QLabel(tr("Chats"), left);
    widgets::setRole(chatsTitle, "title");
    auto* newButton = new QPushButton(tr("New chat"), left);
    newButton->setProperty("accent", true);
    newButton->setShortcut(QKeySequence::New);
    newButton->setToolTip(tr("Start a new conversation (Ctrl+N)"));
    auto* titleRow = new QHBoxLayout;
    titleRow->addWidget(chatsTitle, 1);
    titleRow->addWidget(newButton);
    leftLayout->addLayout(titleRow);
    search_ = new QLineEdit(left);
    search_->setPlaceholderText(tr("Search chats"));
    search_->setClearButtonEnabled(true);
    leftLayout->addWidget(search_);
    chats_ = new ChatListModel(this);
    chatListView_ = new QListView(left);
    chatListView_->setObjectName("chatList");
    chatListView_->setModel(chats_);
    chatListView_->setContextMenuPolicy(Qt::CustomContextMenu);
    chatListView_->setEditTriggers(QAbstractItemView::NoEditTriggers);
    chatListView_->setHorizontalScrollBarPolicy(Qt::ScrollBarAlwaysOff);
    chatListView_->setTextElideMode(Qt::ElideRight);
    chatListView_->setWordWrap(false);
    listStack_ = new QStackedWidget(left);
    listStack_->addWidget(chatListView_);
    listEmpty_ = new widgets::EmptyState(listStack_);
    listStack_->addWidget(listEmpty_);
    leftLayout->addWidget(listStack_, 1);
    auto* listHint = new QLabel(tr("Right-click a chat to rename or delete it."), left);
    listHint->setWordWrap(true);
    widgets::setRole(listHint, "stat");
    leftLayout->addWidget(listHint);
    splitter->addWidget(left);

    // Centre: the conversation.
    auto* centre = new QWidget(splitter);
    auto* centreLayout = new QVBoxLayout(centre);
    centreLayout->setContentsMargins(0, 16, 0, 12);
    centreLayout->setSpacing(8);
    auto* header = new QVBoxLayout;
    header->setContentsMargins(24, 0, 24, 0);
    title_ = new QLabel(tr("New chat"), centre);
    widgets::setRole(title_, "title");
    modelLabel_ = new QLabel(centre);
    widgets::setRole(modelLabel_, "subtitle");
    header->addWidget(title_);
    header->addWidget(modelLabel_);
    centreLayout->addLayout(header);
    view_ = new ChatView(centre);
    centreLayout->addWidget(view_, 1);
    auto* composer = new QHBoxLayout;
    composer->setContentsMargins(24, 0, 24, 0);
    input_ = new widgets::ChatInput(centre);
    sendButton_ = new QPushButton(tr("Send"), centre);
    sendButton_->setProperty("accent", true);
    stopButton_ = new QPushButton(tr("Stop  (Esc)"), centre);
    composer->addWidget(input_, 1);
    composer->addWidget(sendButton_, 0, Qt::AlignBottom);
    composer->addWidget(stopButton_, 0, Qt::AlignBottom);
    centreLayout->addLayout(composer);
    splitter->addWidget(centre);

    // Right: the conversation's settings.
    decoding_ = new DecodingPanel(splitter);
    decoding_->setMinimumWidth(230);
    splitter->addWidget(decoding_);
    splitter->setStretchFactor(0, 0);
    splitter->setStretchFactor(1, 1);
    splitter->setStretchFactor(2, 0);
    splitter->setSizes({260, 800, 270});

    searchDelay_ = new QTimer(this);
    searchDelay_->setSingleShot(true);
    searchDelay_->setInterval(200);
    connect(search_, &QLineEdit::textChanged, searchDelay_, qOverload<>(&QTimer::start));
    connect(searchDelay_, &QTimer::timeout, this, &ChatPage::refreshChats);
    connect(newButton, &QPushButton::clicked, this, &ChatPage::newChat);
    connect(chatListView_, &QListView::clicked, this, [this](const QModelIndex& index) {
        if (const ChatRecord* chat = chats_->chatAt(index.row()); chat && chat->id != chatId_)
            openChat(chat->id);
    });
    connect(chatListView_, &QListView::customContextMenuRequested, this, [this](const QPoint& pos) {
        const ChatRecord* chat = chats_->chatAt(chatListView_->indexAt(pos).row());
        if (!chat) return;
        const int64_t id = chat->id;
        QMenu menu(this);
        menu.addAction(tr("Rename…"), this, [this, id] { renameChat(id); });
        menu.addAction(tr("Delete…"), this, [this, id] { deleteChat(id); });
        menu.exec(chatListView_->viewport()->mapToGlobal(pos));
    });
    connect(input_, &widgets::ChatInput::sendRequested, this, [this] {
        if (isStreaming()) return;
        const QString text = input_->toPlainText();
        input_->clear();
        send(text);
    });
    connect(sendButton_, &QPushButton::clicked, input_, &widgets::ChatInput::sendRequested);
    connect(stopButton_, &QPushButton::clicked, this, &ChatPage::stop);
    auto* escape = new QShortcut(QKeySequence(Qt::Key_Escape), this);
    escape->setContext(Qt::WidgetWithChildrenShortcut);
    connect(escape, &QShortcut::activated, this, &ChatPage::stop);
    connect(view_, &ChatView::regenerateRequested, this, [this] { regenerate(); });
    connect(view_, &ChatView::editRequested, this, &ChatPage::editMessage);
    connect(decoding_, &DecodingPanel::changed, this, &ChatPage::saveSettings);

    EngineWorker* worker = &context_.worker();
    connect(worker, &EngineWorker::replyText, this, &ChatPage::onReplyText, Qt::QueuedConnection);
    connect(worker, &EngineWorker::replyFinished, this, &ChatPage::onReplyFinished, Qt::QueuedConnection);
    connect(
        worker, &EngineWorker::replyStarted, this,
        [this](quint64 job, qint64 runId) {
            if (job == currentJob_) emit replyStarted(runId);
        },
        Qt::QueuedConnection);

    setActiveModel(0, {}, {});
    refreshChats();
    updateControls();
}

void ChatPage::setActiveModel(int64_t modelId, const QString& name, const QString& chatTemplate) {
    modelId_ = modelId > 0 ? std::optional<int64_t>(modelId) : std::nullopt;
    if (name.isEmpty()) {
        modelLabel_->setText(tr("No model loaded — choose one on the Models page"));
    } else {
        modelLabel_->setText(tr("%1  ·  %2 chat template").arg(name, chatTemplate));
    }
}

void ChatPage::refreshChats() {
    std::vector<ChatRecord> chats;
    try {
        chats = context_.store().listChats(search_->text().toStdString(), 0, 500);
    } catch (const std::exception& e) {
        emit statusMessage(tr("Could not read chats: %1").arg(QString::fromStdString(e.what())));
    }
    chats_->setChats(std::move(chats));
    if (chats_->rowCount() == 0)
        listEmpty_->setContent(
            search_->text().isEmpty() ? tr("No chats yet") : tr("No chats match"),
            search_->text().isEmpty()
                ? tr("Your conversations are kept here. Send a message to "
                     "start one.")
                : tr("Nothing in titles or messages matches \"%1\".").arg(search_->text()));
    listStack_->setCurrentIndex(chats_->rowCount() == 0 ? 1 : 0);
    const int row = chats_->rowOfId(chatId_);
    chatListView_->setCurrentIndex(row >= 0 ? chats_->index(row) : QModelIndex());
}

void ChatPage::newChat() {
    if (isStreaming()) return;
    chatId_ = 0;
    messageIds_.clear();
    view_->clear();
    title_->setText(tr("New chat"));
    // A new conversation starts from the settings of the last one (system prompt included).
    chatListView_->clearSelection();
    chatListView_->setCurrentIndex({});
    input_->setFocus();
    updateControls();
}

void ChatPage::openChat(int64_t chatId) {
    if (isStreaming() && chatId != jobChatId_) {
        emit statusMessage(tr("Stop the reply before switching chats"));
        refreshChats();
        return;
    }
    std::optional<ChatRecord> chat;
    std::vector<MessageRecord> messages;
    try {
        chat = context_.store().getChat(chatId);
        if (chat) messages = context_.store().messages(chatId);
    } catch (const std::exception& e) {
        emit statusMessage(tr("Could not open the chat: %1").arg(QString::fromStdString(e.what())));
        return;
    }
    if (!chat) return;
    chatId_ = chatId;
    title_->setText(QString::fromStdString(chat->title));
    view_->clear();
    messageIds_.clear();
    for (const MessageRecord& m : messages) {
        const int index = view_->addMessage(roleOf(m.role), QString::fromStdString(m.content));
        messageIds_.append(m.id);
        if (m.role != "assistant") continue;
        if (!m.complete) {
            view_->setStats(index,
                            tr("Interrupted: the app stopped while this reply was streaming; the text saved "
                               "until then is kept"));
        } else if (m.stats.tokenCount > 0) {
            view_->setStats(
                index, ChatView::formatStats(m.stats.ttftMs, m.stats.tokensPerSecond, m.stats.tokenCount));
        }
    }
    loadSettings();
    const int row = chats_->rowOfId(chatId);
    if (row >= 0) chatListView_->setCurrentIndex(chats_->index(row));
    updateControls();
}

void ChatPage::send(const QString& rawText) {
    const QString text = rawText.trimmed();
    if (text.isEmpty() || isStreaming()) return;
    try {
        if (chatId_ == 0) {
            chatId_ = context_.store().createChat(titleFrom(text).toStdString(), modelId_);
            title_->setText(titleFrom(text));
            saveSettings();
        }
        const int64_t id = context_.store().addMessage(chatId_, "user", text.toStdString());
        view_->addMessage(MessageRole::User, text);
        messageIds_.append(id);
    } catch (const std::exception& e) {
        emit statusMessage(tr("Could not save the message: %1").arg(QString::fromStdString(e.what())));
        return;
    }
    refreshChats();
    startReply(std::nullopt);
}

void ChatPage::regenerate() {
    if (isStreaming() || view_->count() == 0 || view_->role(view_->count() - 1) != MessageRole::Assistant)
        return;
    startReply(messageIds_.last());
}

void ChatPage::startReply(std::optional<int64_t> reuseMessageId) {
    const DecodingSettings settings = decoding_->settings();
    ReplyJob job;
    job.id = nextJobId();
    job.chatId = chatId_;
    job.modelId = modelId_;
    job.request.maxNewTokens = settings.maxNewTokens;
    job.request.sampling = settings.sampling;
    job.config = {{"chat_id", chatId_},
                  {"decoding", decodingToJson(settings)},
                  {"threads", context_.options().threads}};
    if (!settings.systemPrompt.empty()) job.messages.push_back({"system", settings.systemPrompt});
    try {
        for (const MessageRecord& m : context_.store().messages(chatId_)) {
            if (reuseMessageId && m.id == *reuseMessageId) break;
            if (m.role == "user" || m.role == "assistant") job.messages.push_back({m.role, m.content});
        }
        if (reuseMessageId) {
            context_.store().updateMessage(*reuseMessageId, "", {}, false);
            job.messageId = *reuseMessageId;
            streamingIndex_ = view_->count() - 1;
            view_->setText(streamingIndex_, {});
            view_->setStats(streamingIndex_, {});
        } else {
            job.messageId = context_.store().addMessage(chatId_, "assistant", "", {}, false);
            streamingIndex_ = view_->addMessage(MessageRole::Assistant, {});
            messageIds_.append(job.messageId);
        }
    } catch (const std::exception& e) {
        emit statusMessage(tr("Could not start the reply: %1").arg(QString::fromStdString(e.what())));
        return;
    }
    view_->setStreaming(streamingIndex_, true);
    currentJob_ = job.id;
    jobChatId_ = chatId_;
    updateControls();
    EngineWorker* worker = &context_.worker();
    worker->post([worker, job = std::move(job)] { worker->generateReply(job); });
}

void ChatPage::onReplyText(quint64 jobId, const QString& text) {
    if (jobId == currentJob_ && chatId_ == jobChatId_) view_->appendText(streamingIndex_, text);
}

void ChatPage::onReplyFinished(const ReplyOutcome& outcome) {
    if (outcome.id != currentJob_) return;
    currentJob_ = 0;
    if (chatId_ == jobChatId_ && streamingIndex_ >= 0 && streamingIndex_ < view_->count()) {
        view_->setStreaming(streamingIndex_, false);
        view_->setText(streamingIndex_, outcome.text);
        if (!outcome.error.isEmpty()) {
            view_->setStats(streamingIndex_, tr("Failed: %1").arg(outcome.error));
        } else {
            const QString note = outcome.stopReason == QLatin1String("end of generation") ||
                                         outcome.stopReason == QLatin1String("stop string")
                                     ? QString()
                                     : outcome.stopReason;
            view_->setStats(streamingIndex_, ChatView::formatStats(outcome.ttftMs, outcome.tokensPerSecond,
                                                                   outcome.tokens, note));
        }
    }
    streamingIndex_ = -1;
    updateControls();
    refreshChats();
    emit replyFinished(outcome);
}

void ChatPage::stop() {
    if (isStreaming()) context_.worker().stop();
}

void ChatPage::editMessage(int index) {
    if (isStreaming() || index < 0 || index >= messageIds_.size()) return;
    bool ok = false;
    const QString edited =
        QInputDialog::getMultiLineText(this, tr("Edit and resend"),
                                       tr("The conversation continues from this message in a new chat "
                                          "(the original stays as it was):"),
                                       view_->text(index), &ok);
    if (!ok || edited.trimmed().isEmpty()) return;
    // The store keeps conversations append-only, so an edit forks the chat at that message.
    try {
        const DecodingSettings settings = decoding_->settings();
        const std::vector<MessageRecord> messages = context_.store().messages(chatId_);
        const int64_t fork =
            context_.store().createChat(titleFrom(edited).toStdString() + " (edited)", modelId_);
        for (const MessageRecord& m : messages) {
            if (m.id == messageIds_[index]) break;
            context_.store().addMessage(fork, m.role, m.content, m.stats, m.complete);
        }
        openChat(fork);
        decoding_->setSettings(settings);
        saveSettings();
    } catch (const std::exception& e) {
        emit statusMessage(tr("Could not fork the chat: %1").arg(QString::fromStdString(e.what())));
        return;
    }
    send(edited);
}

void ChatPage::renameChat(int64_t chatId) {
    const std::optional<ChatRecord> chat = context_.store().getChat(chatId);
    if (!chat) return;
    bool ok = false;
    const QString title = QInputDialog::getText(this, tr("Rename chat"), tr("Title:"), QLineEdit::Normal,
                                                QString::fromStdString(chat->title), &ok);
    if (!ok || title.trimmed().isEmpty()) return;
    context_.store().renameChat(chatId, title.trimmed().toStdString());
    if (chatId == chatId_) title_->setText(title.trimmed());
    refreshChats();
}

void ChatPage::deleteChat(int64_t chatId) {
    if (isStreaming() && chatId == jobChatId_) return;
    const std::optional<ChatRecord> chat = context_.store().getChat(chatId);
    if (!chat) return;
    if (QMessageBox::question(this, tr("Delete chat"),
                              tr("Delete \"%1\" and all its messages? This cannot be undone.")
                                  .arg(QString::fromStdString(chat->title))) != QMessageBox::Yes)
        return;
    context_.store().deleteChat(chatId);
    QSettings().remove(settingsKey(chatId));
    if (chatId == chatId_) newChat();
    refreshChats();
}

QString ChatPage::settingsKey(int64_t chatId) const {
    return QStringLiteral("chats/%1/%2")
        .arg(QString::fromUtf8(QString::fromStdString(context_.store().path().string()).toUtf8().toHex()))
        .arg(chatId);
}

void ChatPage::saveSettings() {
    if (chatId_ == 0) return;
    QSettings().setValue(settingsKey(chatId_),
                         QString::fromStdString(decodingToJson(decoding_->settings()).dump()));
}

void ChatPage::loadSettings() {
    const QString saved = QSettings().value(settingsKey(chatId_)).toString();
    if (saved.isEmpty())
        return; // keep the panel as it is: a chat without saved settings uses the current ones
    decoding_->setSettings(decodingFromJson(nlohmann::json::parse(saved.toStdString(), nullptr, false)));
}

void ChatPage::updateControls() {
    const bool streaming = isStreaming();
    sendButton_->setVisible(!streaming);
    stopButton_->setVisible(streaming);
    input_->setReadOnly(false);
}

} // namespace lathe::gui
