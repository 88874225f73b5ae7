#include "store/SqlError.h"

#include "core/Error.h"

#include <SQLiteCpp/Exception.h>
#include <sqlite3.h>

namespace lathe {
namespace {

struct Meaning {
    ErrorCategory category;
    const char* hint;
};

Meaning meaningOf(int primaryCode) {
    switch (primaryCode) {
    case SQLITE_FULL:
        return {ErrorCategory::Io, "the disk (or the database's size limit) is full"};
    case SQLITE_READONLY:
        return {ErrorCategory::Io, "the database is read-only"};
    case SQLITE_IOERR:
        return {ErrorCategory::Io, "the operating system reported an I/O error"};
    case SQLITE_CANTOPEN:
        return {ErrorCategory::Io, "the file cannot be opened"};
    case SQLITE_PERM:
        return {ErrorCategory::Io, "permission denied"};
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
        return {ErrorCategory::Io, "another process held the database locked for too long"};
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
        return {ErrorCategory::InvalidFile, "the file is not a valid Lathe database"};
    case SQLITE_CONSTRAINT:
        return {ErrorCategory::InvalidArgument, "a referenced row does not exist or a value is invalid"};
    default:
        return {ErrorCategory::Internal, "unexpected database error"};
    }
}

} // namespace

void failSql(const SQLite::Exception& e, const std::string& dbPath, std::string_view doing) {
    const int code = e.getErrorCode();
    const Meaning meaning = meaningOf(code & 0xff);
    fail(meaning.category, "run store {}: {} failed: {} ({}; SQLite code {})", dbPath, doing, meaning.hint,
         e.what(), e.getExtendedErrorCode());
}

} // namespace lathe
