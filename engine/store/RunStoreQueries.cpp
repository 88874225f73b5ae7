// RunStore: the read side of runs (paging, filters, samples, comparison).

#include "core/Error.h"
#include "store/RunStore.h"
#include "store/RunStoreSql.h"

#include <SQLiteCpp/Database.h>
#include <map>
#include <set>

namespace lathe {
namespace {

const char* sortColumnSql(RunSortColumn column) {
    switch (column) {
    case RunSortColumn::Id:
        return "r.id";
    case RunSortColumn::Started:
        return "r.started_at";
    case RunSortColumn::Ended:
        return "r.ended_at";
    case RunSortColumn::Kind:
        return "r.kind";
    case RunSortColumn::Status:
        return "r.status";
    case RunSortColumn::Model:
        return "m.name";
    }
    return "r.id";
}

// WHERE clause with ?NNN parameters bound by bindFilter (each filter field has its own number).
std::string filterSql(const RunFilter& f) {
    std::string where = " WHERE 1";
    if (f.kind) where += " AND r.kind = ?1";
    if (f.modelId) where += " AND r.model_id = ?2";
    if (f.status) where += " AND r.status = ?3";
    if (f.startedFromMs) where += " AND r.started_at >= ?4";
    if (f.startedToMs) where += " AND r.started_at < ?5";
    return where;
}

void bindFilter(SQLite::Statement& s, const RunFilter& f) {
    if (f.kind) s.bind(1, runKindName(*f.kind));
    if (f.modelId) s.bind(2, *f.modelId);
    if (f.status) s.bind(3, runStatusName(*f.status));
    if (f.startedFromMs) s.bind(4, *f.startedFromMs);
    if (f.startedToMs) s.bind(5, *f.startedToMs);
}

std::vector<ConfigDifference> jsonDifferences(const nlohmann::json& a, const nlohmann::json& b) {
    const nlohmann::json flatA = a.is_object() ? a.flatten() : nlohmann::json::object({{"", a}});
    const nlohmann::json flatB = b.is_object() ? b.flatten() : nlohmann::json::object({{"", b}});
    std::set<std::string> keys;
    for (auto it = flatA.begin(); it != flatA.end(); ++it)
        keys.insert(it.key());
    for (auto it = flatB.begin(); it != flatB.end(); ++it)
        keys.insert(it.key());
    std::vector<ConfigDifference> differences;
    for (const std::string& key : keys) {
        ConfigDifference d{key, {}, {}};
        if (flatA.contains(key)) d.a = flatA.at(key);
        if (flatB.contains(key)) d.b = flatB.at(key);
        if (d.a != d.b) differences.push_back(std::move(d));
    }
    return differences;
}

} // namespace

RunRecord RunStore::readRun(int64_t runId) {
    SQLite::Statement query(*db_, std::string(kRunColumns) + " WHERE r.id = ?");
    query.bind(1, runId);
    if (!query.executeStep())
        fail(ErrorCategory::InvalidArgument, "run store {}: no run with id {}", path_.string(), runId);
    return readRunRow(query);
}

std::optional<RunRecord> RunStore::getRun(int64_t runId) {
    std::lock_guard lock(mutex_);
    return sqlGuard(path_, "reading a run", [&]() -> std::optional<RunRecord> {
        SQLite::Statement query(*db_, std::string(kRunColumns) + " WHERE r.id = ?");
        query.bind(1, runId);
        if (!query.executeStep()) return std::nullopt;
        return readRunRow(query);
    });
}

std::vector<RunRecord> RunStore::listRuns(const RunQuery& q) {
    std::lock_guard lock(mutex_);
    return sqlGuard(path_, "listing runs", [&] {
        const std::string sql = std::string(kRunColumns) + filterSql(q.filter) + " ORDER BY " +
                                sortColumnSql(q.sortBy) + (q.descending ? " DESC" : " ASC") + ", r.id" +
                                (q.descending ? " DESC" : " ASC") + " LIMIT ?6 OFFSET ?7";
        SQLite::Statement query(*db_, sql);
        bindFilter(query, q.filter);
        query.bind(6, q.limit < 0 ? int64_t(-1) : q.limit);
        query.bind(7, std::max<int64_t>(0, q.offset));
        std::vector<RunRecord> runs;
        while (query.executeStep())
            runs.push_back(readRunRow(query));
        return runs;
    });
}

int64_t RunStore::countRuns(const RunFilter& filter) {
    std::lock_guard lock(mutex_);
    return sqlGuard(path_, "counting runs", [&] {
        SQLite::Statement query(*db_, "SELECT count(*) FROM runs r" + filterSql(filter));
        bindFilter(query, filter);
        query.executeStep();
        return query.getColumn(0).getInt64();
    });
}

std::vector<RunMetric> RunStore::metrics(int64_t runId) {
    std::lock_guard lock(mutex_);
    return sqlGuard(path_, "reading metrics", [&] {
        SQLite::Statement query(*db_,
                                "SELECT name, value, unit FROM run_metrics WHERE run_id = ? ORDER BY name");
        query.bind(1, runId);
        std::vector<RunMetric> result;
        while (query.executeStep())
            result.push_back({query.getColumn(0).getString(), query.getColumn(1).getDouble(),
                              query.getColumn(2).getString()});
        return result;
    });
}

std::vector<std::string> RunStore::sampleSeries(int64_t runId) {
    std::lock_guard lock(mutex_);
    return sqlGuard(path_, "listing sample series", [&] {
        SQLite::Statement query(*db_,
                                "SELECT DISTINCT series FROM run_samples WHERE run_id = ? ORDER BY series");
        query.bind(1, runId);
        std::vector<std::string> names;
        while (query.executeStep())
            names.push_back(query.getColumn(0).getString());
        return names;
    });
}

std::vector<RunSample> RunStore::samples(int64_t runId, const std::string& series, int64_t offset,
                                         int64_t limit) {
    std::lock_guard lock(mutex_);
    return sqlGuard(path_, "reading samples", [&] {
        // Both orders follow the (run_id, series, t) index, so a page costs its offset in index steps only.
        const std::string sql =
            series.empty() ? "SELECT series, t, value FROM run_samples WHERE run_id = ?1 "
                             "ORDER BY series, t, rowid LIMIT ?3 OFFSET ?4"
                           : "SELECT series, t, value FROM run_samples WHERE run_id = ?1 AND series = ?2 "
                             "ORDER BY t, rowid LIMIT ?3 OFFSET ?4";
        SQLite::Statement query(*db_, sql);
        query.bind(1, runId);
        if (!series.empty()) query.bind(2, series);
        query.bind(3, limit < 0 ? int64_t(-1) : limit);
        query.bind(4, std::max<int64_t>(0, offset));
        std::vector<RunSample> result;
        while (query.executeStep())
            result.push_back({query.getColumn(0).getString(), query.getColumn(1).getDouble(),
                              query.getColumn(2).getDouble()});
        return result;
    });
}

int64_t RunStore::countSamples(int64_t runId, const std::string& series) {
    std::lock_guard lock(mutex_);
    return sqlGuard(path_, "counting samples", [&] {
        SQLite::Statement query(
            *db_, series.empty() ? "SELECT count(*) FROM run_samples WHERE run_id = ?1"
                                 : "SELECT count(*) FROM run_samples WHERE run_id = ?1 AND series = ?2");
        query.bind(1, runId);
        if (!series.empty()) query.bind(2, series);
        query.executeStep();
        return query.getColumn(0).getInt64();
    });
}

RunComparison RunStore::compareRuns(int64_t a, int64_t b) {
    RunComparison result;
    {
        std::lock_guard lock(mutex_);
        sqlGuard(path_, "comparing runs", [&] {
            result.a = readRun(a);
            result.b = readRun(b);
        });
    }
    result.configDifferences = jsonDifferences(result.a.config, result.b.config);
    result.environmentDifferences = jsonDifferences(result.a.environment, result.b.environment);
    std::map<std::string, MetricPair> byName;
    for (const RunMetric& m : metrics(a))
        byName[m.name] = {m.name, m.unit, m.value, std::nullopt};
    for (const RunMetric& m : metrics(b)) {
        MetricPair& pair = byName[m.name];
        pair.name = m.name;
        if (pair.unit.empty()) pair.unit = m.unit;
        pair.b = m.value;
    }
    for (auto& [name, pair] : byName)
        result.metrics.push_back(std::move(pair));
    return result;
}

} // namespace lathe
