// RunStore: chats and their messages, written as they happen.

#include "core/Error.h"
#include "store/RunStore.h"
#include "store/RunStoreSql.h"
#include "store/Transaction.h"

#include <SQLiteCpp/Database.h>

namespace lathe {
namespace {

// A LIKE pattern matching `text` literally anywhere (escape character: backslash).
std::string containsPattern(const std::string& text) {
    std::string pattern = "%";
    for (char c : text) {
        if (c == '%' || c == '_' || c == '\\') pattern += '\\';
        pattern += c;
    }
    return pattern + "%";
}

} // namespace

int64_t RunStore::createChat(const std::string& title, std::optional<int64_t> modelId) {
    std::lock_guard lock(mutex_);
    return sqlGuard(path_, "creating a chat", [&] {
        Transaction transaction(*db_);
        SQLite::Statement insert(
            *db_, "INSERT INTO chats (title, model_id, created_at, updated_at) VALUES (?, ?, ?, ?)");
        const int64_t now = nowEpochMs();
        insert.bind(1, title);
        bindOptional(insert, 2, modelId);
        insert.bind(3, now);
        insert.bind(4, now);
        insert.exec();
        const int64_t id = db_->getLastInsertRowid();
        transaction.commit();
        return id;
    });
}

void RunStore::renameChat(int64_t chatId, const std::string& title) {
    std::lock_guard lock(mutex_);
    sqlGuard(path_, fmt::format("renaming chat {}", chatId), [&] {
        Transaction transaction(*db_);
        SQLite::Statement update(*db_, "UPDATE chats SET title = ?, updated_at = ? WHERE id = ?");
        update.bind(1, title);
        update.bind(2, nowEpochMs());
        update.bind(3, chatId);
        if (update.exec() == 0)
            fail(ErrorCategory::InvalidArgument, "run store {}: no chat with id {}", path_.string(), chatId);
        transaction.commit();
    });
}

void RunStore::deleteChat(int64_t chatId) {
    std::lock_guard lock(mutex_);
    sqlGuard(path_, fmt::format("deleting chat {}", chatId), [&] {
        Transaction transaction(*db_);
        SQLite::Statement del(*db_, "DELETE FROM chats WHERE id = ?");
        del.bind(1, chatId);
        del.exec();
        transaction.commit();
    });
}

std::optional<ChatRecord> RunStore::getChat(int64_t chatId) {
    std::lock_guard lock(mutex_);
    return sqlGuard(path_, "reading a chat", [&]() -> std::optional<ChatRecord> {
        SQLite::Statement query(*db_, std::string(kChatColumns) + " WHERE c.id = ?");
        query.bind(1, chatId);
        if (!query.executeStep()) return std::nullopt;
        return readChatRow(query);
    });
}

std::vector<ChatRecord> RunStore::listChats(const std::string& search, int64_t offset, int64_t limit) {
    std::lock_guard lock(mutex_);
    return sqlGuard(path_, "listing chats", [&] {
        std::string sql = kChatColumns;
        if (!search.empty())
            sql += " WHERE c.title LIKE ?1 ESCAPE '\\' OR EXISTS (SELECT 1 FROM messages m WHERE m.chat_id = "
                   "c.id "
                   "AND m.content LIKE ?1 ESCAPE '\\')";
        sql += " ORDER BY c.updated_at DESC, c.id DESC LIMIT ?2 OFFSET ?3";
        SQLite::Statement query(*db_, sql);
        if (!search.empty()) query.bind(1, containsPattern(search));
        query.bind(2, limit < 0 ? int64_t(-1) : limit);
        query.bind(3, std::max<int64_t>(0, offset));
        std::vector<ChatRecord> chats;
        while (query.executeStep())
            chats.push_back(readChatRow(query));
        return chats;
    });
}

int64_t RunStore::addMessage(int64_t chatId, const std::string& role, const std::string& content,
                             const MessageStats& stats, bool complete) {
    std::lock_guard lock(mutex_);
    return sqlGuard(path_, fmt::format("adding a message to chat {}", chatId), [&] {
        Transaction transaction(*db_);
        const int64_t now = nowEpochMs();
        SQLite::Statement insert(*db_, R"sql(
INSERT INTO messages (chat_id, role, content, ttft_ms, tokens_per_s, token_count, accepted_tokens, complete,
                      created_at, updated_at)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?))sql");
        insert.bind(1, chatId);
        insert.bind(2, role);
        insert.bind(3, content);
        insert.bind(4, stats.ttftMs);
        insert.bind(5, stats.tokensPerSecond);
        insert.bind(6, stats.tokenCount);
        insert.bind(7, stats.acceptedTokenCount);
        insert.bind(8, int(complete));
        insert.bind(9, now);
        insert.bind(10, now);
        insert.exec();
        const int64_t id = db_->getLastInsertRowid();
        SQLite::Statement touch(*db_, "UPDATE chats SET updated_at = ? WHERE id = ?");
        touch.bind(1, now);
        touch.bind(2, chatId);
        touch.exec();
        transaction.commit();
        return id;
    });
}

void RunStore::updateMessage(int64_t messageId, const std::string& content, const MessageStats& stats,
                             bool complete) {
    std::lock_guard lock(mutex_);
    sqlGuard(path_, fmt::format("updating message {}", messageId), [&] {
        Transaction transaction(*db_);
        SQLite::Statement update(
            *db_, "UPDATE messages SET content = ?, ttft_ms = ?, tokens_per_s = ?, token_count = ?, "
                  "accepted_tokens = ?, complete = ?, updated_at = ? WHERE id = ?");
        update.bind(1, content);
        update.bind(2, stats.ttftMs);
        update.bind(3, stats.tokensPerSecond);
        update.bind(4, stats.tokenCount);
        update.bind(5, stats.acceptedTokenCount);
        update.bind(6, int(complete));
        update.bind(7, nowEpochMs());
        update.bind(8, messageId);
        if (update.exec() == 0)
            fail(ErrorCategory::InvalidArgument, "run store {}: no message with id {}", path_.string(),
                 messageId);
        transaction.commit();
    });
}

std::vector<MessageRecord> RunStore::messages(int64_t chatId, int64_t offset, int64_t limit) {
    std::lock_guard lock(mutex_);
    return sqlGuard(path_, "reading messages", [&] {
        SQLite::Statement query(*db_, std::string(kMessageColumns) +
                                          " WHERE chat_id = ? ORDER BY id LIMIT ? OFFSET ?");
        query.bind(1, chatId);
        query.bind(2, limit < 0 ? int64_t(-1) : limit);
        query.bind(3, std::max<int64_t>(0, offset));
        std::vector<MessageRecord> result;
        while (query.executeStep())
            result.push_back(readMessageRow(query));
        return result;
    });
}

} // namespace lathe
