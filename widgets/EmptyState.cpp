#include "widgets/EmptyState.h"

#include "widgets/Theme.h"

#include <QLabel>
#include <QPushButton>
#include <QVBoxLayout>

namespace lathe::widgets {

EmptyState::EmptyState(QWidget* parent) : QWidget(parent) {
    auto* layout = new QVBoxLayout(this);
    layout->addStretch(1);
    title_ = new QLabel(this);
    title_->setAlignment(Qt::AlignCenter);
    title_->setStyleSheet("font-size: 16px; font-weight: 600; color: #444c56;");
    text_ = new QLabel(this);
    text_->setAlignment(Qt::AlignCenter);
    text_->setWordWrap(true);
    setRole(text_, "muted");
    layout->addWidget(title_);
    layout->addWidget(text_);
    layout->addStretch(1);
}

void EmptyState::setContent(const QString& title, const QString& text) {
    title_->setText(title);
    text_->setText(text);
}

QPushButton* EmptyState::setAction(const QString& label) {
    if (!action_) {
        action_ = new QPushButton(this);
        action_->setProperty("accent", true);
        auto* layout = static_cast<QVBoxLayout*>(this->layout());
        layout->insertWidget(3, action_, 0, Qt::AlignHCenter);
    }
    action_->setText(label);
    return action_;
}

} // namespace lathe::widgets
