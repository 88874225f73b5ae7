// RunStore on temporary databases: every table round-trips, queries page and filter, foreign keys hold,
// runs cut off by a dead process become 'interrupted'.

#include "TestSupport.h"
#include "core/Error.h"
#include "store/RunStore.h"
#include "store/Transaction.h"

#include <QtTest>
#include <SQLiteCpp/Database.h>
#include <sys/wait.h>
#include <unistd.h>

using namespace lathe;

namespace {

ModelRecord sampleModel(const std::string& path) {
    ModelRecord m;
    m.path = path;
    m.name = "SmolLM2-135M";
    m.format = "gguf";
    m.architecture = "llama";
    m.parameterCount = 134515008;
    m.fileBytes = 98765432;
    m.summary = {{"layers", 30}, {"hidden", 576}};
    return m;
}

ErrorCategory categoryOf(const std::function<void()>& f) {
    try {
        f();
    } catch (const Error& e) {
        return e.category();
    }
    return ErrorCategory(-1);
}

int64_t countRows(const std::filesystem::path& db, const std::string& sql) {
    SQLite::Database raw(db.string(), SQLite::OPEN_READONLY);
    return raw.execAndGet(sql).getInt64();
}

} // namespace

class TestRunStore : public QObject {
    Q_OBJECT
private slots:
    void modelsAndVariantsRoundTrip() {
        test::TempDir dir;
        auto store = RunStore::open(dir.file("sub/folder/lathe.db")); // folders are created
        const int64_t id = store->registerModel(sampleModel("/models/a.gguf"));
        QCOMPARE(store->registerModel(sampleModel("/models/a.gguf")), id); // same path, same id
        const auto m = store->getModel(id);
        QVERIFY(m);
        QCOMPARE(m->path, std::string("/models/a.gguf"));
        QCOMPARE(m->name, std::string("SmolLM2-135M"));
        QCOMPARE(m->architecture, std::string("llama"));
        QCOMPARE(m->parameterCount, uint64_t(134515008));
        QCOMPARE(m->fileBytes, uint64_t(98765432));
        QCOMPARE(m->summary.at("hidden").get<int>(), 576);
        QCOMPARE(store->listModels().size(), size_t(1));

        const int64_t variant =
            store->registerVariant(id, "/out/a-q4.gguf", {{"method", "rtn"}, {"bits", 4}});
        const auto v = store->getVariant(variant);
        QVERIFY(v);
        QCOMPARE(v->modelId, id);
        QCOMPARE(v->path, std::string("/out/a-q4.gguf"));
        QCOMPARE(v->recipe.at("bits").get<int>(), 4);
        QVERIFY(!store->getModel(id + 100));
    }

    void runsMetricsAndSamplesRoundTrip() {
        test::TempDir dir;
        auto store = RunStore::open(dir.file("lathe.db"));
        const int64_t model = store->registerModel(sampleModel("/m.gguf"));
        const int64_t variant = store->registerVariant(model, "/v.gguf", {});
        const nlohmann::json config = {{"threads", 4}, {"sampling", {{"temperature", 0.7}, {"top_k", 40}}}};
        const nlohmann::json env = {{"cpu", {{"model", "Test CPU"}}}};
        const int64_t before = nowEpochMs();
        const int64_t run = store->beginRun(RunKind::Bench, model, config, env, variant);
        auto r = store->getRun(run);
        QVERIFY(r);
        QCOMPARE(r->status, RunStatus::Running);
        QCOMPARE(r->kind, RunKind::Bench);
        QCOMPARE(*r->modelId, model);
        QCOMPARE(*r->variantId, variant);
        QCOMPARE(r->modelName, std::string("SmolLM2-135M"));
        QCOMPARE(r->config, config);
        QCOMPARE(r->environment, env);
        QVERIFY(r->startedMs >= before);
        QVERIFY(!r->endedMs);

        store->addMetric(run, {"decode_tokens_per_s", 41.5, "tok/s"});
        const std::vector<RunMetric> more = {{"ttft_ms", 12.25, "ms"},
                                             {"decode_tokens_per_s", 42.0, "tok/s"}};
        store->addMetrics(run, more); // replaces the metric of the same name
        const auto metrics = store->metrics(run);
        QCOMPARE(metrics.size(), size_t(2));
        QCOMPARE(metrics[0].name, std::string("decode_tokens_per_s"));
        QCOMPARE(metrics[0].value, 42.0);
        QCOMPARE(metrics[1].name, std::string("ttft_ms"));
        QCOMPARE(metrics[1].value, 12.25);
        QCOMPARE(metrics[1].unit, std::string("ms"));

        std::vector<RunSample> samples;
        for (int i = 0; i < 1000; ++i) {
            samples.push_back({"rss", i * 0.25, 1000.0 + i});
            samples.push_back({"cpu", i * 0.25, double(i % 100)});
        }
        store->appendSamples(run, samples);
        QCOMPARE(store->countSamples(run, ""), int64_t(2000));
        QCOMPARE(store->countSamples(run, "rss"), int64_t(1000));
        QCOMPARE(store->sampleSeries(run), (std::vector<std::string>{"cpu", "rss"}));
        const auto page = store->samples(run, "rss", 500, 10);
        QCOMPARE(page.size(), size_t(10));
        for (int i = 0; i < 10; ++i) {
            QCOMPARE(page[i].t, (500 + i) * 0.25);
            QCOMPARE(page[i].value, 1500.0 + i);
        }
        QCOMPARE(store->samples(run, "rss", 995, 100).size(), size_t(5));
        QCOMPARE(store->samples(run, "", 0, -1).front().series, std::string("cpu"));

        store->finishRun(run, RunStatus::Failed, "out of memory at layer 3");
        r = store->getRun(run);
        QCOMPARE(r->status, RunStatus::Failed);
        QCOMPARE(r->error, std::string("out of memory at layer 3"));
        QVERIFY(r->endedMs && *r->endedMs >= r->startedMs);
        QCOMPARE(categoryOf([&] { store->finishRun(run + 99, RunStatus::Done); }),
                 ErrorCategory::InvalidArgument);

        store->deleteRun(run); // samples and metrics go with it
        QVERIFY(!store->getRun(run));
        QCOMPARE(countRows(store->path(), "SELECT count(*) FROM run_samples"), int64_t(0));
        QCOMPARE(countRows(store->path(), "SELECT count(*) FROM run_metrics"), int64_t(0));
    }

    void listRunsFiltersSortsAndPages() {
        test::TempDir dir;
        auto store = RunStore::open(dir.file("lathe.db"));
        const int64_t m1 = store->registerModel(sampleModel("/a.gguf"));
        ModelRecord other = sampleModel("/b.gguf");
        other.name = "Another";
        const int64_t m2 = store->registerModel(other);
        std::vector<int64_t> ids;
        for (int i = 0; i < 300; ++i) {
            const RunKind kind = i % 3 == 0 ? RunKind::Bench : RunKind::Chat;
            ids.push_back(store->beginRun(kind, i % 2 == 0 ? m1 : m2, {{"i", i}}, {}));
            if (i % 5 == 0) store->finishRun(ids.back(), RunStatus::Done);
        }
        QCOMPARE(store->countRuns({}), int64_t(300));
        RunFilter bench;
        bench.kind = RunKind::Bench;
        QCOMPARE(store->countRuns(bench), int64_t(100));
        bench.modelId = m1; // i % 6 == 0
        QCOMPARE(store->countRuns(bench), int64_t(50));
        RunFilter done;
        done.status = RunStatus::Done;
        QCOMPARE(store->countRuns(done), int64_t(60));

        RunQuery q;
        q.sortBy = RunSortColumn::Id;
        q.descending = false;
        q.offset = 100;
        q.limit = 25;
        auto page = store->listRuns(q);
        QCOMPARE(page.size(), size_t(25));
        for (int i = 0; i < 25; ++i)
            QCOMPARE(page[i].id, ids[100 + i]);
        QCOMPARE(page[0].config.at("i").get<int>(), 100);

        q = {};
        q.filter.kind = RunKind::Bench;
        q.filter.modelId = m2; // i % 6 == 3
        q.sortBy = RunSortColumn::Id;
        q.descending = true;
        q.limit = 3;
        page = store->listRuns(q);
        QCOMPARE(page.size(), size_t(3));
        QCOMPARE(page[0].config.at("i").get<int>(), 297);
        QCOMPARE(page[1].config.at("i").get<int>(), 291);
        QCOMPARE(page[0].modelName, std::string("Another"));

        q = {};
        q.sortBy = RunSortColumn::Model;
        q.descending = false;
        q.limit = 1;
        QCOMPARE(store->listRuns(q).front().modelName, std::string("Another"));

        // Date range: everything started up to now, nothing from tomorrow.
        RunFilter range;
        range.startedFromMs = 0;
        range.startedToMs = nowEpochMs() + 1;
        QCOMPARE(store->countRuns(range), int64_t(300));
        range.startedFromMs = nowEpochMs() + 86400000;
        range.startedToMs.reset();
        QCOMPARE(store->countRuns(range), int64_t(0));
    }

    void compareRunsShowsConfigDifferencesAndMetrics() {
        test::TempDir dir;
        auto store = RunStore::open(dir.file("lathe.db"));
        const int64_t a =
            store->beginRun(RunKind::Bench, std::nullopt, {{"threads", 1}, {"n", 128}, {"only_a", true}}, {});
        const int64_t b = store->beginRun(RunKind::Bench, std::nullopt, {{"threads", 2}, {"n", 128}}, {});
        store->addMetrics(a, std::vector<RunMetric>{{"tg_tokens_per_s", 10, "tok/s"}, {"only_a", 1, ""}});
        store->addMetrics(b, std::vector<RunMetric>{{"tg_tokens_per_s", 19, "tok/s"}});
        const RunComparison c = store->compareRuns(a, b);
        QCOMPARE(c.configDifferences.size(), size_t(2));
        QCOMPARE(c.configDifferences[0].key, std::string("/only_a"));
        QVERIFY(!c.configDifferences[0].b);
        QCOMPARE(c.configDifferences[1].key, std::string("/threads"));
        QCOMPARE(c.configDifferences[1].a->get<int>(), 1);
        QCOMPARE(c.configDifferences[1].b->get<int>(), 2);
        QCOMPARE(c.metrics.size(), size_t(2));
        QCOMPARE(c.metrics[0].name, std::string("only_a"));
        QVERIFY(!c.metrics[0].b);
        QCOMPARE(c.metrics[1].name, std::string("tg_tokens_per_s"));
        QCOMPARE(*c.metrics[1].a, 10.0);
        QCOMPARE(*c.metrics[1].b, 19.0);
        QCOMPARE(categoryOf([&] { store->compareRuns(a, b + 50); }), ErrorCategory::InvalidArgument);
    }

    void chatsAndMessagesRoundTrip() {
        test::TempDir dir;
        auto store = RunStore::open(dir.file("lathe.db"));
        const int64_t chat = store->createChat("Pasta recipes");
        const int64_t other = store->createChat("Rust lifetimes");
        const int64_t user = store->addMessage(chat, "user", "How long to boil 100% durum spaghetti?");
        const int64_t reply = store->addMessage(chat, "assistant", "", {}, false);
        store->updateMessage(reply, "About", {35.5, 0, 1, 0}, false);
        store->updateMessage(reply, "About 9 minutes.", {35.5, 42.25, 5, 3}, true);
        auto msgs = store->messages(chat);
        QCOMPARE(msgs.size(), size_t(2));
        QCOMPARE(msgs[0].id, user);
        QCOMPARE(msgs[0].role, std::string("user"));
        QCOMPARE(msgs[1].content, std::string("About 9 minutes."));
        QCOMPARE(msgs[1].stats.ttftMs, 35.5);
        QCOMPARE(msgs[1].stats.tokensPerSecond, 42.25);
        QCOMPARE(msgs[1].stats.tokenCount, int64_t(5));
        QCOMPARE(msgs[1].stats.acceptedTokenCount, int64_t(3));
        QVERIFY(msgs[1].complete);
        QCOMPARE(store->messages(chat, 1, 5).size(), size_t(1));

        store->renameChat(other, "Borrow checker");
        QCOMPARE(store->getChat(other)->title, std::string("Borrow checker"));
        QCOMPARE(store->listChats("", 0, 10).size(), size_t(2));
        auto found = store->listChats("SPAGHETTI", 0, 10); // message text, any case
        QCOMPARE(found.size(), size_t(1));
        QCOMPARE(found[0].id, chat);
        QCOMPARE(store->listChats("borrow", 0, 10).front().id, other);
        QCOMPARE(store->listChats("100%", 0, 10).size(), size_t(1)); // % is literal
        QCOMPARE(store->listChats("1_0", 0, 10).size(), size_t(0));  // _ is literal
        QCOMPARE(store->listChats("", 1, 10).size(), size_t(1));

        store->deleteChat(chat); // cascades to its messages
        QVERIFY(!store->getChat(chat));
        QCOMPARE(countRows(store->path(), "SELECT count(*) FROM messages"), int64_t(0));
        QCOMPARE(categoryOf([&] { store->updateMessage(reply, "x", {}, true); }),
                 ErrorCategory::InvalidArgument);
    }

    void foreignKeysHold() {
        test::TempDir dir;
        auto store = RunStore::open(dir.file("lathe.db"));
        QCOMPARE(categoryOf([&] { store->beginRun(RunKind::Eval, 12345, {}, {}); }),
                 ErrorCategory::InvalidArgument);
        QCOMPARE(categoryOf([&] { store->addMessage(777, "user", "hi"); }), ErrorCategory::InvalidArgument);
        QCOMPARE(categoryOf([&] { store->registerVariant(99, "/v", {}); }), ErrorCategory::InvalidArgument);
        QCOMPARE(categoryOf([&] { store->addMetric(555, {"x", 1, ""}); }), ErrorCategory::InvalidArgument);
        QCOMPARE(store->countRuns({}), int64_t(0));
        // The store is still usable after the rejected writes.
        const int64_t model = store->registerModel(sampleModel("/m.gguf"));
        QVERIFY(store->beginRun(RunKind::Eval, model, {}, {}) > 0);
    }

    void runOfDeadProcessBecomesInterrupted() {
        test::TempDir dir;
        const auto path = dir.file("lathe.db");
        int64_t mine = 0;
        {
            auto store = RunStore::open(path);
            mine = store->beginRun(RunKind::Chat, std::nullopt, {}, {});
        }
        // A child records a run and exits without finishing it.
        const pid_t child = fork();
        if (child == 0) {
            auto store = RunStore::open(path);
            store->beginRun(RunKind::Bench, std::nullopt, {}, {});
            _exit(0);
        }
        int status = 0;
        waitpid(child, &status, 0);
        QVERIFY(WIFEXITED(status) && WEXITSTATUS(status) == 0);

        auto store = RunStore::open(path);
        QCOMPARE(store->interruptedAtOpen().size(), size_t(1));
        const auto cut = store->getRun(store->interruptedAtOpen().front());
        QCOMPARE(cut->status, RunStatus::Interrupted);
        QCOMPARE(cut->kind, RunKind::Bench);
        QVERIFY(cut->endedMs);
        QVERIFY(!cut->error.empty());
        // This process is alive: its own run is left running.
        QCOMPARE(store->getRun(mine)->status, RunStatus::Running);
    }

    void transactionRollsBackUnlessCommitted() {
        test::TempDir dir;
        SQLite::Database db(dir.file("t.db").string(), SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE);
        db.exec("CREATE TABLE t (x INTEGER)");
        {
            Transaction t(db);
            db.exec("INSERT INTO t VALUES (1)");
        }
        QCOMPARE(db.execAndGet("SELECT count(*) FROM t").getInt(), 0);
        {
            Transaction t(db);
            db.exec("INSERT INTO t VALUES (2)");
            t.commit();
        }
        QCOMPARE(db.execAndGet("SELECT sum(x) FROM t").getInt(), 2);
    }
};

QTEST_APPLESS_MAIN(TestRunStore)
#include "TestRunStore.moc"
