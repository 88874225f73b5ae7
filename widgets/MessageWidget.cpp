#include "widgets/MessageWidget.h"

#include "widgets/MarkdownView.h"
#include "widgets/Theme.h"

#include <QClipboard>
#include <QGuiApplication>
#include <QHBoxLayout>
#include <QLabel>
#include <QToolButton>
#include <QVBoxLayout>

namespace lathe::widgets {
namespace {

QString authorName(MessageRole role) {
    switch (role) {
    case MessageRole::System:
        return QObject::tr("System prompt");
    case MessageRole::User:
        return QObject::tr("You");
    case MessageRole::Assistant:
        return QObject::tr("Assistant");
    }
    return {};
}

const char* objectNameFor(MessageRole role) {
    switch (role) {
    case MessageRole::System:
        return "messageSystem";
    case MessageRole::User:
        return "messageUser";
    case MessageRole::Assistant:
        return "messageAssistant";
    }
    return "messageAssistant";
}

QToolButton* smallButton(const QString& text, const QString& tip, QWidget* parent) {
    auto* button = new QToolButton(parent);
    button->setText(text);
    button->setToolTip(tip);
    button->setCursor(Qt::PointingHandCursor);
    return button;
}

} // namespace

MessageWidget::MessageWidget(MessageRole role, QWidget* parent) : QFrame(parent), role_(role) {
    setObjectName(objectNameFor(role));
    setAttribute(Qt::WA_StyledBackground, true);
    auto* layout = new QVBoxLayout(this);
    layout->setContentsMargins(14, 8, 14, 8);
    layout->setSpacing(2);

    auto* header = new QHBoxLayout;
    header->setSpacing(4);
    author_ = new QLabel(authorName(role), this);
    author_->setStyleSheet("font-weight: 600; color: #444c56;");
    header->addWidget(author_);
    header->addStretch(1);
    copyButton_ = smallButton(tr("Copy"), tr("Copy the message as Markdown"), this);
    editButton_ = smallButton(tr("Edit"), tr("Edit this message and send it again"), this);
    regenerateButton_ = smallButton(tr("Regenerate"), tr("Generate this reply again"), this);
    header->addWidget(copyButton_);
    header->addWidget(editButton_);
    header->addWidget(regenerateButton_);
    editButton_->setVisible(role == MessageRole::User);
    regenerateButton_->setVisible(false);
    layout->addLayout(header);

    body_ = new MarkdownView(this);
    layout->addWidget(body_);

    statsLabel_ = new QLabel(this);
    setRole(statsLabel_, "stat");
    statsLabel_->setVisible(false);
    statsLabel_->setTextInteractionFlags(Qt::TextSelectableByMouse);
    layout->addWidget(statsLabel_);

    connect(copyButton_, &QToolButton::clicked, this,
            [this] { QGuiApplication::clipboard()->setText(text_); });
    connect(editButton_, &QToolButton::clicked, this, &MessageWidget::editRequested);
    connect(regenerateButton_, &QToolButton::clicked, this, &MessageWidget::regenerateRequested);
}

double MessageWidget::setText(const QString& text) {
    text_ = text;
    if (text.isEmpty() && streaming_) {
        body_->setPlain(tr("…"));
        return 0;
    }
    return body_->setMarkdownText(text);
}

void MessageWidget::setStats(const QString& line) {
    statsLabel_->setText(line);
    statsLabel_->setVisible(!line.isEmpty());
}

QString MessageWidget::stats() const {
    return statsLabel_->text();
}

void MessageWidget::setStreaming(bool streaming) {
    streaming_ = streaming;
    author_->setText(streaming ? authorName(role_) + tr("  · generating…") : authorName(role_));
    copyButton_->setEnabled(!streaming);
    if (streaming && text_.isEmpty()) body_->setPlain(tr("…"));
}

void MessageWidget::setRegenerateVisible(bool visible) {
    regenerateButton_->setVisible(visible);
}

void MessageWidget::setEditVisible(bool visible) {
    editButton_->setVisible(visible && role_ == MessageRole::User);
}

} // namespace lathe::widgets
