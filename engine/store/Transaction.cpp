#include "store/Transaction.h"

#include <SQLiteCpp/Database.h>
#include <SQLiteCpp/Exception.h>
#include <chrono>
#include <sqlite3.h>
#include <thread>

namespace lathe {

Transaction::Transaction(SQLite::Database& db, int retryMs) : db_(db) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(retryMs);
    auto pause = std::chrono::milliseconds(1);
    for (;;) {
        try {
            db_.exec("BEGIN IMMEDIATE");
            return;
        } catch (const SQLite::Exception& e) {
            const int code = e.getErrorCode() & 0xff;
            if ((code != SQLITE_BUSY && code != SQLITE_LOCKED) ||
                std::chrono::steady_clock::now() >= deadline)
                throw;
        }
        std::this_thread::sleep_for(pause);
        pause = std::min(pause * 2, std::chrono::milliseconds(50));
    }
}

Transaction::~Transaction() noexcept {
    // After a failed COMMIT (disk full) SQLite may already have rolled back; tryExec ignores that case.
    if (!done_) db_.tryExec("ROLLBACK");
}

void Transaction::commit() {
    db_.exec("COMMIT");
    done_ = true;
}

} // namespace lathe
