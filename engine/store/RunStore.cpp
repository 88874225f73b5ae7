#include "store/RunStore.h"

#include "core/Error.h"
#include "store/ProcessIdentity.h"
#include "store/RunStoreSql.h"
#include "store/Schema.h"
#include "store/SqlError.h"
#include "store/Transaction.h"

#include <SQLiteCpp/Database.h>
#include <SQLiteCpp/Exception.h>
#include <SQLiteCpp/Statement.h>
#include <sqlite3.h>

namespace lathe {

std::unique_ptr<RunStore> RunStore::open(const std::filesystem::path& path, const RunStoreOptions& options) {
    std::unique_ptr<RunStore> store(new RunStore());
    store->path_ = path;
    const std::string name = path.string();
    if (path.has_parent_path()) {
        std::error_code ec;
        std::filesystem::create_directories(path.parent_path(), ec);
        if (ec)
            fail(ErrorCategory::Io, "run store {}: cannot create folder {}: {}", name,
                 path.parent_path().string(), ec.message());
    }
    try {
        store->db_ = std::make_unique<SQLite::Database>(
            name, SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE | SQLite::OPEN_FULLMUTEX,
            options.busyTimeoutMs);
        SQLite::Database& db = *store->db_;
        store->readOnly_ = sqlite3_db_readonly(db.getHandle(), "main") == 1;
        db.exec("PRAGMA foreign_keys = ON");
        if (options.maxPageCount > 0)
            db.exec("PRAGMA max_page_count = " + std::to_string(options.maxPageCount));
        if (store->readOnly_) {
            if (schemaVersion(db) < currentSchemaVersion())
                fail(ErrorCategory::Io,
                     "run store {} is read-only and has schema version {}: Lathe needs {} to use it", name,
                     schemaVersion(db), currentSchemaVersion());
            return store;
        }
        // WAL lets readers and one writer work at once; FULL syncs each commit so that a power cut,
        // not only a crash, keeps what was committed.
        db.exec("PRAGMA journal_mode = WAL");
        db.exec("PRAGMA synchronous = FULL");
        migrateSchema(db, currentSchemaVersion());
        store->markInterruptedRuns();
    } catch (const SQLite::Exception& e) {
        failSql(e, name, "opening the database");
    }
    return store;
}

RunStore::~RunStore() = default;

void RunStore::markInterruptedRuns() {
    std::vector<std::pair<int64_t, ProcessIdentity>> running;
    SQLite::Statement query(*db_, "SELECT id, owner_pid, owner_start FROM runs WHERE status = 'running'");
    while (query.executeStep())
        running.push_back(
            {query.getColumn(0).getInt64(), {query.getColumn(1).getInt64(), query.getColumn(2).getInt64()}});
    if (running.empty()) return;
    Transaction transaction(*db_);
    SQLite::Statement update(*db_, "UPDATE runs SET status = 'interrupted', ended_at = ?, "
                                   "error = 'the process recording this run ended before the run did' "
                                   "WHERE id = ? AND status = 'running'");
    std::vector<int64_t> marked;
    for (const auto& [id, owner] : running) {
        if (isProcessAlive(owner)) continue; // another Lathe process is still recording it
        update.bind(1, nowEpochMs());
        update.bind(2, id);
        if (update.exec() > 0) marked.push_back(id);
        update.reset();
    }
    transaction.commit();
    interruptedAtOpen_ = std::move(marked);
}

int64_t RunStore::registerModel(const ModelRecord& model) {
    std::lock_guard lock(mutex_);
    return sqlGuard(path_, "registering model " + model.path, [&] {
        Transaction transaction(*db_);
        SQLite::Statement upsert(*db_, R"sql(
INSERT INTO models (path, name, format, architecture, parameter_count, file_bytes, summary, created_at)
VALUES (?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (path) DO UPDATE SET name = excluded.name, format = excluded.format,
    architecture = excluded.architecture, parameter_count = excluded.parameter_count,
    file_bytes = excluded.file_bytes, summary = excluded.summary
RETURNING id)sql");
        upsert.bind(1, model.path);
        upsert.bind(2, model.name);
        upsert.bind(3, model.format);
        upsert.bind(4, model.architecture);
        upsert.bind(5, int64_t(model.parameterCount));
        upsert.bind(6, int64_t(model.fileBytes));
        upsert.bind(7, jsonText(model.summary));
        upsert.bind(8, nowEpochMs());
        upsert.executeStep();
        const int64_t id = upsert.getColumn(0).getInt64();
        upsert.reset();
        transaction.commit();
        return id;
    });
}

std::optional<ModelRecord> RunStore::getModel(int64_t id) {
    std::lock_guard lock(mutex_);
    return sqlGuard(path_, "reading model", [&]() -> std::optional<ModelRecord> {
        SQLite::Statement query(*db_, std::string(kModelColumns) + " WHERE id = ?");
        query.bind(1, id);
        if (!query.executeStep()) return std::nullopt;
        return readModelRow(query);
    });
}

std::vector<ModelRecord> RunStore::listModels() {
    std::lock_guard lock(mutex_);
    return sqlGuard(path_, "listing models", [&] {
        SQLite::Statement query(*db_, std::string(kModelColumns) + " ORDER BY name, id");
        std::vector<ModelRecord> models;
        while (query.executeStep())
            models.push_back(readModelRow(query));
        return models;
    });
}

int64_t RunStore::registerVariant(int64_t modelId, const std::string& path, const nlohmann::json& recipe,
                                  std::optional<int64_t> runId) {
    std::lock_guard lock(mutex_);
    return sqlGuard(path_, fmt::format("registering variant {} of model {}", path, modelId), [&] {
        Transaction transaction(*db_);
        SQLite::Statement insert(
            *db_, "INSERT INTO variants (model_id, path, recipe, created_at) VALUES (?, ?, ?, ?)");
        insert.bind(1, modelId);
        insert.bind(2, path);
        insert.bind(3, jsonText(recipe));
        insert.bind(4, nowEpochMs());
        insert.exec();
        const int64_t id = db_->getLastInsertRowid();
        if (runId) {
            SQLite::Statement link(*db_, "UPDATE runs SET variant_id = ? WHERE id = ?");
            link.bind(1, id);
            link.bind(2, *runId);
            if (link.exec() != 1)
                fail(ErrorCategory::InvalidArgument, "variant {}: run {} does not exist", path, *runId);
        }
        transaction.commit();
        return id;
    });
}

std::optional<VariantRecord> RunStore::getVariant(int64_t id) {
    std::lock_guard lock(mutex_);
    return sqlGuard(path_, "reading variant", [&]() -> std::optional<VariantRecord> {
        SQLite::Statement query(*db_,
                                "SELECT id, model_id, path, recipe, created_at FROM variants WHERE id = ?");
        query.bind(1, id);
        if (!query.executeStep()) return std::nullopt;
        VariantRecord v;
        v.id = query.getColumn(0).getInt64();
        v.modelId = query.getColumn(1).getInt64();
        v.path = query.getColumn(2).getString();
        v.recipe = parseJsonColumn(query.getColumn(3).getString());
        v.createdMs = query.getColumn(4).getInt64();
        return v;
    });
}

int64_t RunStore::beginRun(RunKind kind, std::optional<int64_t> modelId, const nlohmann::json& config,
                           const nlohmann::json& environment, std::optional<int64_t> variantId) {
    std::lock_guard lock(mutex_);
    return sqlGuard(path_, fmt::format("starting a {} run", runKindName(kind)), [&] {
        const ProcessIdentity self = currentProcess();
        Transaction transaction(*db_);
        SQLite::Statement insert(*db_, R"sql(
INSERT INTO runs (kind, model_id, variant_id, status, config, environment, started_at, owner_pid, owner_start)
VALUES (?, ?, ?, 'running', ?, ?, ?, ?, ?))sql");
        insert.bind(1, runKindName(kind));
        bindOptional(insert, 2, modelId);
        bindOptional(insert, 3, variantId);
        insert.bind(4, jsonText(config));
        insert.bind(5, jsonText(environment));
        insert.bind(6, nowEpochMs());
        insert.bind(7, self.pid);
        insert.bind(8, self.startTicks);
        insert.exec();
        const int64_t id = db_->getLastInsertRowid();
        transaction.commit();
        return id;
    });
}

void RunStore::finishRun(int64_t runId, RunStatus status, const std::string& error) {
    std::lock_guard lock(mutex_);
    sqlGuard(path_, fmt::format("finishing run {}", runId), [&] {
        Transaction transaction(*db_);
        SQLite::Statement update(*db_, "UPDATE runs SET status = ?, error = ?, ended_at = ? WHERE id = ?");
        update.bind(1, runStatusName(status));
        update.bind(2, error);
        update.bind(3, nowEpochMs());
        update.bind(4, runId);
        if (update.exec() == 0)
            fail(ErrorCategory::InvalidArgument, "run store {}: no run with id {}", path_.string(), runId);
        transaction.commit();
    });
}

void RunStore::addMetric(int64_t runId, const RunMetric& metric) {
    addMetrics(runId, std::span(&metric, 1));
}

void RunStore::addMetrics(int64_t runId, std::span<const RunMetric> metrics) {
    std::lock_guard lock(mutex_);
    sqlGuard(path_, fmt::format("recording metrics of run {}", runId), [&] {
        Transaction transaction(*db_);
        SQLite::Statement upsert(
            *db_, "INSERT INTO run_metrics (run_id, name, value, unit) VALUES (?, ?, ?, ?) "
                  "ON CONFLICT (run_id, name) DO UPDATE SET value = excluded.value, unit = excluded.unit");
        for (const RunMetric& m : metrics) {
            upsert.bind(1, runId);
            upsert.bind(2, m.name);
            upsert.bind(3, m.value);
            upsert.bind(4, m.unit);
            upsert.exec();
            upsert.reset();
        }
        transaction.commit();
    });
}

void RunStore::appendSamples(int64_t runId, std::span<const RunSample> samples) {
    if (samples.empty()) return;
    std::lock_guard lock(mutex_);
    sqlGuard(path_, fmt::format("recording samples of run {}", runId), [&] {
        Transaction transaction(*db_);
        SQLite::Statement insert(*db_,
                                 "INSERT INTO run_samples (run_id, series, t, value) VALUES (?, ?, ?, ?)");
        for (const RunSample& s : samples) {
            insert.bind(1, runId);
            insert.bind(2, s.series);
            insert.bind(3, s.t);
            insert.bind(4, s.value);
            insert.exec();
            insert.reset();
        }
        transaction.commit();
    });
}

void RunStore::deleteRun(int64_t runId) {
    std::lock_guard lock(mutex_);
    sqlGuard(path_, fmt::format("deleting run {}", runId), [&] {
        Transaction transaction(*db_);
        SQLite::Statement del(*db_, "DELETE FROM runs WHERE id = ?");
        del.bind(1, runId);
        del.exec();
        transaction.commit();
    });
}

} // namespace lathe
