#include "widgets/ErrorBanner.h"

#include <QHBoxLayout>
#include <QLabel>
#include <QToolButton>

namespace lathe::widgets {

ErrorBanner::ErrorBanner(QWidget* parent) : QFrame(parent) {
    setObjectName("errorBanner");
    setStyleSheet(
        "QFrame#errorBanner { background: #fdecea; border: 1px solid #f5c2c0; border-radius: 6px; }");
    auto* layout = new QHBoxLayout(this);
    layout->setContentsMargins(10, 6, 6, 6);
    label_ = new QLabel(this);
    label_->setWordWrap(true);
    label_->setTextInteractionFlags(Qt::TextSelectableByMouse);
    label_->setStyleSheet("color: #8a1c1c; background: transparent; border: none;");
    auto* dismiss = new QToolButton(this);
    dismiss->setText(tr("Dismiss"));
    layout->addWidget(label_, 1);
    layout->addWidget(dismiss, 0, Qt::AlignTop);
    connect(dismiss, &QToolButton::clicked, this, &QWidget::hide);
    setVisible(false);
}

void ErrorBanner::showError(const QString& text) {
    label_->setText(text);
    show();
}

QString ErrorBanner::errorText() const {
    return isHidden() ? QString() : label_->text();
}

} // namespace lathe::widgets
