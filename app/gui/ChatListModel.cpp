#include "ChatListModel.h"

#include <QDateTime>

namespace lathe::gui {

QString shortTime(int64_t epochMs) {
    const QDateTime when = QDateTime::fromMSecsSinceEpoch(epochMs);
    const QDate today = QDate::currentDate();
    if (when.date() == today) return when.toString("HH:mm");
    if (when.date().daysTo(today) < 7) return when.toString("ddd HH:mm");
    return when.toString("yyyy-MM-dd");
}

ChatListModel::ChatListModel(QObject* parent) : QAbstractListModel(parent) {}

void ChatListModel::setChats(std::vector<ChatRecord> chats) {
    beginResetModel();
    chats_ = std::move(chats);
    endResetModel();
}

const ChatRecord* ChatListModel::chatAt(int row) const {
    return row >= 0 && row < int(chats_.size()) ? &chats_[size_t(row)] : nullptr;
}

int ChatListModel::rowOfId(int64_t id) const {
    for (size_t i = 0; i < chats_.size(); ++i)
        if (chats_[i].id == id) return int(i);
    return -1;
}

int ChatListModel::rowCount(const QModelIndex& parent) const {
    return parent.isValid() ? 0 : int(chats_.size());
}

QVariant ChatListModel::data(const QModelIndex& index, int role) const {
    if (!checkIndex(index, CheckIndexOption::IndexIsValid | CheckIndexOption::ParentIsInvalid)) return {};
    const ChatRecord& c = chats_[size_t(index.row())];
    const QString title = c.title.empty() ? tr("Untitled chat") : QString::fromStdString(c.title);
    switch (role) {
    case Qt::DisplayRole:
        return QStringLiteral("%1\n%2").arg(title, shortTime(c.updatedMs));
    case Qt::ToolTipRole:
        return title;
    case IdRole:
        return qlonglong(c.id);
    case TitleRole:
        return title;
    default:
        return {};
    }
}

} // namespace lathe::gui
