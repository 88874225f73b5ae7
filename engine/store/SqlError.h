#pragma once
// Turns SQLite failures into lathe::Error with a message that names the database file and says what
// was being done, so that "disk full" or "read-only" reaches the user as such.

#include <string>
#include <string_view>

namespace SQLite {
class Exception;
}

namespace lathe {

// Category by SQLite's error code: FULL, READONLY, IOERR, CANTOPEN, PERM, BUSY → Io; CORRUPT, NOTADB →
// InvalidFile; CONSTRAINT → InvalidArgument; anything else → Internal.
[[noreturn]] void failSql(const SQLite::Exception& e, const std::string& dbPath, std::string_view doing);

} // namespace lathe
