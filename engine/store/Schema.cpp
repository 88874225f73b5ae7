#include "store/Schema.h"

#include "core/Error.h"
#include "store/Transaction.h"

#include <SQLiteCpp/Database.h>

namespace lathe {
namespace {

// Times are epoch milliseconds; JSON columns hold text. CHECKs keep stored enum names honest.
constexpr Migration kMigrations[] = {
    {1, "models, runs, run metrics and samples", R"sql(
CREATE TABLE models (
    id INTEGER PRIMARY KEY,
    path TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    format TEXT NOT NULL DEFAULT '',
    architecture TEXT NOT NULL DEFAULT '',
    parameter_count INTEGER NOT NULL DEFAULT 0,
    file_bytes INTEGER NOT NULL DEFAULT 0,
    summary TEXT NOT NULL DEFAULT '{}',
    created_at INTEGER NOT NULL
);
CREATE TABLE runs (
    id INTEGER PRIMARY KEY,
    kind TEXT NOT NULL CHECK (kind IN ('chat', 'bench', 'eval', 'compress', 'train')),
    model_id INTEGER REFERENCES models(id) ON DELETE SET NULL,
    status TEXT NOT NULL CHECK (status IN ('running', 'done', 'failed', 'cancelled', 'interrupted')),
    config TEXT NOT NULL DEFAULT '{}',
    environment TEXT NOT NULL DEFAULT '{}',
    started_at INTEGER NOT NULL,
    ended_at INTEGER,
    error TEXT NOT NULL DEFAULT '',
    owner_pid INTEGER,
    owner_start INTEGER
);
CREATE INDEX runs_started ON runs(started_at);
CREATE INDEX runs_kind_started ON runs(kind, started_at);
CREATE INDEX runs_model_started ON runs(model_id, started_at);
CREATE INDEX runs_running ON runs(status) WHERE status = 'running';
CREATE TABLE run_metrics (
    run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    value REAL NOT NULL,
    unit TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (run_id, name)
) WITHOUT ROWID;
CREATE TABLE run_samples (
    run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    series TEXT NOT NULL,
    t REAL NOT NULL,
    value REAL NOT NULL
);
CREATE INDEX run_samples_series ON run_samples(run_id, series, t);
)sql"},
    {2, "chats and messages", R"sql(
CREATE TABLE chats (
    id INTEGER PRIMARY KEY,
    title TEXT NOT NULL DEFAULT '',
    model_id INTEGER REFERENCES models(id) ON DELETE SET NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE INDEX chats_updated ON chats(updated_at);
CREATE TABLE messages (
    id INTEGER PRIMARY KEY,
    chat_id INTEGER NOT NULL REFERENCES chats(id) ON DELETE CASCADE,
    role TEXT NOT NULL CHECK (role IN ('system', 'user', 'assistant', 'tool')),
    content TEXT NOT NULL DEFAULT '',
    ttft_ms REAL NOT NULL DEFAULT 0,
    tokens_per_s REAL NOT NULL DEFAULT 0,
    token_count INTEGER NOT NULL DEFAULT 0,
    complete INTEGER NOT NULL DEFAULT 1,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE INDEX messages_chat ON messages(chat_id, id);
)sql"},
    {3, "variants, runs of variants, accepted draft tokens per message", R"sql(
CREATE TABLE variants (
    id INTEGER PRIMARY KEY,
    model_id INTEGER NOT NULL REFERENCES models(id) ON DELETE CASCADE,
    path TEXT NOT NULL,
    recipe TEXT NOT NULL DEFAULT '{}',
    created_at INTEGER NOT NULL
);
CREATE INDEX variants_model ON variants(model_id);
ALTER TABLE runs ADD COLUMN variant_id INTEGER REFERENCES variants(id) ON DELETE SET NULL;
ALTER TABLE messages ADD COLUMN accepted_tokens INTEGER NOT NULL DEFAULT 0;
)sql"},
};

} // namespace

std::span<const Migration> schemaMigrations() {
    return kMigrations;
}

int currentSchemaVersion() {
    return kMigrations[std::size(kMigrations) - 1].version;
}

int schemaVersion(SQLite::Database& db) {
    return db.execAndGet("PRAGMA user_version").getInt();
}

void migrateSchema(SQLite::Database& db, int targetVersion) {
    if (targetVersion < 0 || targetVersion > currentSchemaVersion())
        fail(ErrorCategory::Internal, "schema version {} requested; Lathe knows versions 0 to {}",
             targetVersion, currentSchemaVersion());
    const auto failIfNewer = [&db](int version) {
        if (version > currentSchemaVersion())
            fail(ErrorCategory::InvalidFile,
                 "database {} has schema version {}, newer than this Lathe ({}): update Lathe",
                 db.getFilename(), version, currentSchemaVersion());
    };
    const int found = schemaVersion(db);
    failIfNewer(found);
    if (found >= targetVersion) return; // the common case: no write lock taken at open
    for (const Migration& step : kMigrations) {
        if (step.version > targetVersion) break;
        // The version is read again inside the write lock: another process may have migrated meanwhile.
        Transaction transaction(db);
        const int version = schemaVersion(db);
        failIfNewer(version);
        if (version >= step.version) continue;
        db.exec(step.sql);
        db.exec("PRAGMA user_version = " + std::to_string(step.version));
        transaction.commit();
    }
}

} // namespace lathe
