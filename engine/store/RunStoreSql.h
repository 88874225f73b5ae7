#pragma once
// Internal to the RunStore*.cpp files: row readers, binding helpers and the SQLite → lathe::Error guard.

#include "store/RunRecords.h"
#include "store/SqlError.h"

#include <SQLiteCpp/Column.h>
#include <SQLiteCpp/Exception.h>
#include <SQLiteCpp/Statement.h>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

namespace lathe {

// Runs `body`, turning SQLite exceptions into lathe::Error that names the file and the action.
template <typename Body>
auto sqlGuard(const std::filesystem::path& dbPath, std::string_view doing, Body&& body) -> decltype(body()) {
    try {
        return body();
    } catch (const SQLite::Exception& e) {
        failSql(e, dbPath.string(), doing);
    }
}

inline std::string jsonText(const nlohmann::json& value) {
    return value.is_null() ? "{}" : value.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

// A column written by jsonText; a damaged value reads as a JSON string holding the raw text, rather
// than making the whole run unreadable.
inline nlohmann::json parseJsonColumn(const std::string& text) {
    nlohmann::json value = nlohmann::json::parse(text, nullptr, false);
    return value.is_discarded() ? nlohmann::json(text) : value;
}

inline void bindOptional(SQLite::Statement& statement, int index, const std::optional<int64_t>& value) {
    if (value)
        statement.bind(index, *value);
    else
        statement.bind(index);
}

inline std::optional<int64_t> optionalInt(const SQLite::Column& column) {
    if (column.isNull()) return std::nullopt;
    return column.getInt64();
}

inline constexpr const char* kModelColumns = "SELECT id, path, name, format, architecture, parameter_count, "
                                             "file_bytes, summary, created_at FROM models";

inline ModelRecord readModelRow(SQLite::Statement& row) {
    ModelRecord m;
    m.id = row.getColumn(0).getInt64();
    m.path = row.getColumn(1).getString();
    m.name = row.getColumn(2).getString();
    m.format = row.getColumn(3).getString();
    m.architecture = row.getColumn(4).getString();
    m.parameterCount = uint64_t(row.getColumn(5).getInt64());
    m.fileBytes = uint64_t(row.getColumn(6).getInt64());
    m.summary = parseJsonColumn(row.getColumn(7).getString());
    m.createdMs = row.getColumn(8).getInt64();
    return m;
}

// Columns of readRunRow, from runs r LEFT JOIN models m.
inline constexpr const char* kRunColumns =
    "SELECT r.id, r.kind, r.model_id, r.variant_id, coalesce(m.name, ''), r.status, r.config, r.environment, "
    "r.started_at, r.ended_at, r.error FROM runs r LEFT JOIN models m ON m.id = r.model_id";

inline RunRecord readRunRow(SQLite::Statement& row) {
    RunRecord r;
    r.id = row.getColumn(0).getInt64();
    r.kind = parseRunKind(row.getColumn(1).getString());
    r.modelId = optionalInt(row.getColumn(2));
    r.variantId = optionalInt(row.getColumn(3));
    r.modelName = row.getColumn(4).getString();
    r.status = parseRunStatus(row.getColumn(5).getString());
    r.config = parseJsonColumn(row.getColumn(6).getString());
    r.environment = parseJsonColumn(row.getColumn(7).getString());
    r.startedMs = row.getColumn(8).getInt64();
    r.endedMs = optionalInt(row.getColumn(9));
    r.error = row.getColumn(10).getString();
    return r;
}

inline constexpr const char* kMessageColumns =
    "SELECT id, chat_id, role, content, ttft_ms, tokens_per_s, token_count, accepted_tokens, complete, "
    "created_at, updated_at FROM messages";

inline MessageRecord readMessageRow(SQLite::Statement& row) {
    MessageRecord m;
    m.id = row.getColumn(0).getInt64();
    m.chatId = row.getColumn(1).getInt64();
    m.role = row.getColumn(2).getString();
    m.content = row.getColumn(3).getString();
    m.stats.ttftMs = row.getColumn(4).getDouble();
    m.stats.tokensPerSecond = row.getColumn(5).getDouble();
    m.stats.tokenCount = row.getColumn(6).getInt64();
    m.stats.acceptedTokenCount = row.getColumn(7).getInt64();
    m.complete = row.getColumn(8).getInt() != 0;
    m.createdMs = row.getColumn(9).getInt64();
    m.updatedMs = row.getColumn(10).getInt64();
    return m;
}

inline constexpr const char* kChatColumns =
    "SELECT c.id, c.title, c.model_id, c.created_at, c.updated_at FROM chats c";

inline ChatRecord readChatRow(SQLite::Statement& row) {
    ChatRecord c;
    c.id = row.getColumn(0).getInt64();
    c.title = row.getColumn(1).getString();
    c.modelId = optionalInt(row.getColumn(2));
    c.createdMs = row.getColumn(3).getInt64();
    c.updatedMs = row.getColumn(4).getInt64();
    return c;
}

} // namespace lathe
