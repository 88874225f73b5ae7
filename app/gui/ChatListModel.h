#pragma once
// Conversations from the store, newest first, with the time of their last message.

#include "store/RunRecords.h"

#include <QAbstractListModel>
#include <vector>

namespace lathe::gui {

class ChatListModel : public QAbstractListModel {
    Q_OBJECT
public:
    enum Role { IdRole = Qt::UserRole + 1, TitleRole };

    explicit ChatListModel(QObject* parent = nullptr);
    void setChats(std::vector<ChatRecord> chats);
    const ChatRecord* chatAt(int row) const;
    int rowOfId(int64_t id) const;

    int rowCount(const QModelIndex& parent = {}) const override;
    QVariant data(const QModelIndex& index, int role) const override;

private:
    std::vector<ChatRecord> chats_;
};

// "14:05" today, "Mon 14:05" this week, else "2024-03-02".
QString shortTime(int64_t epochMs);

} // namespace lathe::gui
