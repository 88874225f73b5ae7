#include "widgets/KeyValueCard.h"

#include "widgets/Theme.h"

#include <QGridLayout>
#include <QLabel>
#include <QVBoxLayout>

namespace lathe::widgets {

KeyValueCard::KeyValueCard(const QString& title, QWidget* parent) : QFrame(parent) {
    makeCard(this);
    auto* layout = new QVBoxLayout(this);
    layout->setContentsMargins(16, 12, 16, 12);
    title_ = new QLabel(title, this);
    title_->setStyleSheet("font-weight: 600; font-size: 14px; color: #1f2328;");
    title_->setVisible(!title.isEmpty());
    layout->addWidget(title_);
    grid_ = new QGridLayout;
    grid_->setHorizontalSpacing(18);
    grid_->setVerticalSpacing(6);
    grid_->setColumnStretch(1, 1);
    layout->addLayout(grid_);
}

void KeyValueCard::setTitle(const QString& title) {
    title_->setText(title);
    title_->setVisible(!title.isEmpty());
}

void KeyValueCard::clear() {
    while (QLayoutItem* item = grid_->takeAt(0)) {
        delete item->widget();
        delete item;
    }
    rows_ = 0;
}

void KeyValueCard::addRow(const QString& key, const QString& value) {
    auto* keyLabel = new QLabel(key, this);
    setRole(keyLabel, "muted");
    keyLabel->setAlignment(Qt::AlignLeft | Qt::AlignTop);
    auto* valueLabel = new QLabel(value, this);
    valueLabel->setObjectName(key);
    valueLabel->setWordWrap(true);
    valueLabel->setTextInteractionFlags(Qt::TextSelectableByMouse);
    grid_->addWidget(keyLabel, rows_, 0);
    grid_->addWidget(valueLabel, rows_, 1);
    ++rows_;
}

QString KeyValueCard::value(const QString& key) const {
    for (int row = 0; row < rows_; ++row) {
        const auto* keyLabel = qobject_cast<QLabel*>(grid_->itemAtPosition(row, 0)->widget());
        if (keyLabel && keyLabel->text() == key)
            return qobject_cast<QLabel*>(grid_->itemAtPosition(row, 1)->widget())->text();
    }
    return {};
}

} // namespace lathe::widgets
