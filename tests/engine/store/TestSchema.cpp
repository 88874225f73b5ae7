// Migrations: a database created at every earlier schema version, filled with rows, opens at the
// current version with all its rows intact; a database from a newer Lathe is refused.

#include "TestSupport.h"
#include "core/Error.h"
#include "store/RunStore.h"
#include "store/Schema.h"

#include <QtTest>
#include <SQLiteCpp/Database.h>

using namespace lathe;

namespace {

// Rows written with the SQL of the schema at `version` (as an older Lathe would have written them).
void fillAtVersion(SQLite::Database& db, int version) {
    if (version >= 1) {
        db.exec(R"sql(
INSERT INTO models (path, name, format, architecture, parameter_count, file_bytes, summary, created_at)
VALUES ('/m.gguf', 'old model', 'gguf', 'llama', 135, 1000, '{"layers":30}', 5);
INSERT INTO runs (kind, model_id, status, config, environment, started_at, ended_at, error)
VALUES ('bench', 1, 'done', '{"threads":4}', '{"cpu":{"cores":2}}', 10, 20, '');
INSERT INTO run_metrics (run_id, name, value, unit) VALUES (1, 'tg_tokens_per_s', 33.5, 'tok/s');
INSERT INTO run_samples (run_id, series, t, value) VALUES (1, 'rss', 0.25, 111), (1, 'rss', 0.5, 222);
)sql");
    }
    if (version >= 2) {
        db.exec(R"sql(
INSERT INTO chats (title, model_id, created_at, updated_at) VALUES ('old chat', 1, 30, 40);
INSERT INTO messages (chat_id, role, content, ttft_ms, tokens_per_s, token_count, complete, created_at, updated_at)
VALUES (1, 'user', 'hello', 0, 0, 0, 1, 30, 30), (1, 'assistant', 'hi there', 12.5, 50, 3, 1, 31, 40);
)sql");
    }
}

void checkRowsOf(RunStore& store, int version) {
    if (version >= 1) {
        const auto model = store.getModel(1);
        QVERIFY(model);
        QCOMPARE(model->name, std::string("old model"));
        QCOMPARE(model->summary.at("layers").get<int>(), 30);
        const auto run = store.getRun(1);
        QVERIFY(run);
        QCOMPARE(run->status, RunStatus::Done);
        QCOMPARE(run->config.at("threads").get<int>(), 4);
        QCOMPARE(run->environment.at("cpu").at("cores").get<int>(), 2);
        QCOMPARE(run->startedMs, int64_t(10));
        QCOMPARE(*run->endedMs, int64_t(20));
        QVERIFY(!run->variantId);
        QCOMPARE(store.metrics(1).at(0).value, 33.5);
        const auto samples = store.samples(1, "rss", 0, -1);
        QCOMPARE(samples.size(), size_t(2));
        QCOMPARE(samples[1].value, 222.0);
    }
    if (version >= 2) {
        const auto chat = store.getChat(1);
        QVERIFY(chat);
        QCOMPARE(chat->title, std::string("old chat"));
        const auto messages = store.messages(1);
        QCOMPARE(messages.size(), size_t(2));
        QCOMPARE(messages[1].content, std::string("hi there"));
        QCOMPARE(messages[1].stats.ttftMs, 12.5);
        QCOMPARE(messages[1].stats.tokenCount, int64_t(3));
        QCOMPARE(messages[1].stats.acceptedTokenCount, int64_t(0)); // the column's default
    }
}

} // namespace

class TestSchema : public QObject {
    Q_OBJECT
private slots:
    void versionsAreConsecutive() {
        int expected = 1;
        for (const Migration& m : schemaMigrations())
            QCOMPARE(m.version, expected++);
        QCOMPARE(currentSchemaVersion(), expected - 1);
    }

    void migratesFromEveryEarlierVersionKeepingRows() {
        for (int version = 0; version < currentSchemaVersion(); ++version) {
            test::TempDir dir;
            const auto path = dir.file("old.db");
            {
                SQLite::Database db(path.string(), SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE);
                migrateSchema(db, version);
                QCOMPARE(schemaVersion(db), version);
                fillAtVersion(db, version);
            }
            auto store = RunStore::open(path);
            {
                SQLite::Database db(path.string(), SQLite::OPEN_READONLY);
                QCOMPARE(schemaVersion(db), currentSchemaVersion());
                QCOMPARE(db.execAndGet("PRAGMA integrity_check").getString(), std::string("ok"));
                QCOMPARE(db.execAndGet("SELECT count(*) FROM pragma_foreign_key_check").getInt(), 0);
            }
            checkRowsOf(*store, version);
            // The migrated database takes new rows in the newest columns.
            const int64_t chat = store->createChat("new");
            const int64_t message = store->addMessage(chat, "assistant", "x", {1, 2, 3, 2});
            QCOMPARE(store->messages(chat).at(0).stats.acceptedTokenCount, int64_t(2));
            QVERIFY(message > 0);
        }
    }

    void refusesNewerDatabase() {
        test::TempDir dir;
        const auto path = dir.file("future.db");
        {
            SQLite::Database db(path.string(), SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE);
            db.exec("PRAGMA user_version = " + std::to_string(currentSchemaVersion() + 1));
        }
        try {
            RunStore::open(path);
            QFAIL("a database from a newer Lathe was accepted");
        } catch (const Error& e) {
            QCOMPARE(e.category(), ErrorCategory::InvalidFile);
            QVERIFY(std::string(e.what()).find("newer") != std::string::npos);
        }
    }

    void refusesFileThatIsNotADatabase() {
        test::TempDir dir;
        const auto path = dir.file("notes.txt");
        test::writeFileBytes(path, std::string(4096, 'z'));
        try {
            RunStore::open(path);
            QFAIL("a text file was accepted as a database");
        } catch (const Error& e) {
            QCOMPARE(e.category(), ErrorCategory::InvalidFile);
            QVERIFY(std::string(e.what()).find(path.string()) != std::string::npos);
        }
    }
};

QTEST_APPLESS_MAIN(TestSchema)
#include "TestSchema.moc"
