#pragma once
// The run store's schema as a list of forward-only migrations. The database's PRAGMA user_version is
// the number of migrations applied; each migration runs in one transaction together with the version
// bump, so a crash leaves the database at the old version or the new one, never between.

#include <span>

namespace SQLite {
class Database;
}

namespace lathe {

struct Migration {
    int version; // user_version after this step
    const char* description;
    const char* sql; // one or more statements
};

// Append new steps at the end; never edit a step that has shipped.
std::span<const Migration> schemaMigrations();
int currentSchemaVersion();

int schemaVersion(SQLite::Database& db);
// Applies the migrations above the database's version up to `targetVersion` (tests open databases at
// every earlier version this way). Throws lathe::Error(InvalidFile) for a database newer than Lathe.
void migrateSchema(SQLite::Database& db, int targetVersion);

} // namespace lathe
