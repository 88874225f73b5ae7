#pragma once
// RAII write transaction: BEGIN IMMEDIATE in the constructor (so a second writer waits for the lock up
// front instead of failing half-way with SQLITE_BUSY), COMMIT in commit(), ROLLBACK in the noexcept
// destructor unless committed. Throws SQLite::Exception; RunStore turns it into lathe::Error.

namespace SQLite {
class Database;
}

namespace lathe {

class Transaction {
public:
    // The busy timeout of the connection already waits; BEGIN is retried on top of it for `retryMs`
    // because SQLite skips the busy handler when waiting could deadlock (WAL recovery, lock upgrades).
    explicit Transaction(SQLite::Database& db, int retryMs = 10000);
    ~Transaction() noexcept;
    Transaction(const Transaction&) = delete;
    Transaction& operator=(const Transaction&) = delete;

    void commit();

private:
    SQLite::Database& db_;
    bool done_ = false;
};

} // namespace lathe
