// lathe-cli runs: list, show, compare and export the runs recorded in the run store.

#include "Verbs.h"
#include "core/Error.h"
#include "core/Paths.h"
#include "store/RunStore.h"

#include <cstdio>
#include <fmt/chrono.h>
#include <fmt/format.h>
#include <fstream>
#include <iostream>
#include <map>
#include <set>

namespace lathe::cli {
namespace {

struct RunsFlags {
    // list / export
    std::string kind, status, sort = "started";
    int64_t modelId = 0;
    int64_t limit = 50, offset = 0;
    bool ascending = false;
    // show / compare
    int64_t id = 0, other = 0;
    // export
    std::string format = "csv", output;
};

std::string timeText(std::optional<int64_t> epochMs) {
    if (!epochMs) return "";
    const std::time_t seconds = std::time_t(*epochMs / 1000);
    return fmt::format("{:%Y-%m-%d %H:%M:%S}", fmt::gmtime(seconds));
}

std::string durationText(const RunRecord& r) {
    if (!r.endedMs) return "";
    return fmt::format("{:.1f} s", double(*r.endedMs - r.startedMs) / 1000.0);
}

RunSortColumn parseSort(const std::string& name) {
    static const std::map<std::string, RunSortColumn> columns = {
        {"id", RunSortColumn::Id},     {"started", RunSortColumn::Started}, {"ended", RunSortColumn::Ended},
        {"kind", RunSortColumn::Kind}, {"status", RunSortColumn::Status},   {"model", RunSortColumn::Model}};
    const auto it = columns.find(name);
    if (it == columns.end())
        fail(ErrorCategory::InvalidArgument, "--sort {}: expected id, started, ended, kind, status or model",
             name);
    return it->second;
}

RunFilter filterOf(const RunsFlags& f) {
    RunFilter filter;
    if (!f.kind.empty()) filter.kind = parseRunKind(f.kind);
    if (!f.status.empty()) filter.status = parseRunStatus(f.status);
    if (f.modelId > 0) filter.modelId = f.modelId;
    return filter;
}

nlohmann::json runJson(const RunRecord& r, const std::vector<RunMetric>& metrics) {
    nlohmann::json m = nlohmann::json::object();
    for (const RunMetric& metric : metrics)
        m[metric.name] = {{"value", metric.value}, {"unit", metric.unit}};
    return {{"id", r.id},
            {"kind", runKindName(r.kind)},
            {"status", runStatusName(r.status)},
            {"model_id", r.modelId ? nlohmann::json(*r.modelId) : nlohmann::json()},
            {"variant_id", r.variantId ? nlohmann::json(*r.variantId) : nlohmann::json()},
            {"model", r.modelName},
            {"started_ms", r.startedMs},
            {"ended_ms", r.endedMs ? nlohmann::json(*r.endedMs) : nlohmann::json()},
            {"error", r.error},
            {"config", r.config},
            {"environment", r.environment},
            {"metrics", m}};
}

std::string valueText(const std::optional<nlohmann::json>& v) {
    return v ? v->dump() : "—";
}
std::string metricText(const std::optional<double>& v) {
    return v ? fmt::format("{:.4g}", *v) : "—";
}

RunRecord requireRun(RunStore& store, int64_t id) {
    auto run = store.getRun(id);
    if (!run) fail(ErrorCategory::InvalidArgument, "run {} does not exist in {}", id, store.path().string());
    return *run;
}

int listRuns(RunStore& store, const RunsFlags& f, const CommonFlags& common) {
    RunQuery query;
    query.filter = filterOf(f);
    query.sortBy = parseSort(f.sort);
    query.descending = !f.ascending;
    query.offset = f.offset;
    query.limit = f.limit;
    const std::vector<RunRecord> runs = store.listRuns(query);
    const int64_t total = store.countRuns(query.filter);
    if (common.json) {
        nlohmann::json list = nlohmann::json::array();
        for (const RunRecord& r : runs)
            list.push_back(runJson(r, store.metrics(r.id)));
        printJson({{"total", total}, {"offset", f.offset}, {"runs", list}});
        return kExitOk;
    }
    std::cout << fmt::format("{:>6}  {:<9} {:<12} {:<19}  {:>9}  {}\n", "ID", "KIND", "STATUS",
                             "STARTED (UTC)", "DURATION", "MODEL");
    for (const RunRecord& r : runs)
        std::cout << fmt::format("{:>6}  {:<9} {:<12} {:<19}  {:>9}  {}\n", r.id, runKindName(r.kind),
                                 runStatusName(r.status), timeText(r.startedMs), durationText(r),
                                 r.modelName);
    std::cerr << fmt::format("{} of {} runs (offset {})\n", runs.size(), total, f.offset);
    return kExitOk;
}

int showRun(RunStore& store, const RunsFlags& f, const CommonFlags& common) {
    const RunRecord r = requireRun(store, f.id);
    const std::vector<RunMetric> metrics = store.metrics(r.id);
    nlohmann::json series = nlohmann::json::object();
    for (const std::string& name : store.sampleSeries(r.id))
        series[name] = store.countSamples(r.id, name);
    if (common.json) {
        nlohmann::json out = runJson(r, metrics);
        out["sample_series"] = series;
        printJson(out);
        return kExitOk;
    }
    std::cout << fmt::format("run {}: {} — {}\n", r.id, runKindName(r.kind), runStatusName(r.status));
    std::cout << fmt::format("model:       {}\n", r.modelName.empty() ? "—" : r.modelName);
    std::cout << fmt::format("started:     {} UTC\n", timeText(r.startedMs));
    if (r.endedMs)
        std::cout << fmt::format("ended:       {} UTC ({})\n", timeText(r.endedMs), durationText(r));
    if (!r.error.empty()) std::cout << fmt::format("error:       {}\n", r.error);
    std::cout << "config:\n"
              << r.config.dump(2) << "\nenvironment:\n"
              << r.environment.dump(2) << "\nmetrics:\n";
    for (const RunMetric& m : metrics)
        std::cout << fmt::format("  {:<28} {:>14.4f} {}\n", m.name, m.value, m.unit);
    if (!series.empty()) {
        std::cout << "samples:\n";
        for (auto it = series.begin(); it != series.end(); ++it)
            std::cout << fmt::format("  {:<28} {:>8} points\n", it.key(), it.value().get<int64_t>());
    }
    return kExitOk;
}

int compareRuns(RunStore& store, const RunsFlags& f, const CommonFlags& common) {
    const RunComparison c = store.compareRuns(f.id, f.other);
    auto differencesJson = [](const std::vector<ConfigDifference>& differences) {
        nlohmann::json out = nlohmann::json::array();
        for (const ConfigDifference& d : differences)
            out.push_back(
                {{"key", d.key}, {"a", d.a ? *d.a : nlohmann::json()}, {"b", d.b ? *d.b : nlohmann::json()}});
        return out;
    };
    if (common.json) {
        nlohmann::json metrics = nlohmann::json::array();
        for (const MetricPair& m : c.metrics)
            metrics.push_back(
                {{"name", m.name},
                 {"unit", m.unit},
                 {"a", m.a ? nlohmann::json(*m.a) : nlohmann::json()},
                 {"b", m.b ? nlohmann::json(*m.b) : nlohmann::json()},
                 {"ratio", m.a && m.b && *m.a != 0 ? nlohmann::json(*m.b / *m.a) : nlohmann::json()}});
        printJson({{"a", c.a.id},
                   {"b", c.b.id},
                   {"config_differences", differencesJson(c.configDifferences)},
                   {"environment_differences", differencesJson(c.environmentDifferences)},
                   {"metrics", metrics}});
        return kExitOk;
    }
    std::cout << fmt::format("run {} ({}, {}) vs run {} ({}, {})\n", c.a.id, runKindName(c.a.kind),
                             c.a.modelName, c.b.id, runKindName(c.b.kind), c.b.modelName);
    auto printDifferences = [](const char* title, const std::vector<ConfigDifference>& differences) {
        std::cout << title << (differences.empty() ? " none\n" : "\n");
        for (const ConfigDifference& d : differences)
            std::cout << fmt::format("  {:<32} {:>16}  {:>16}\n", d.key, valueText(d.a), valueText(d.b));
    };
    printDifferences("configuration differences:", c.configDifferences);
    printDifferences("environment differences:", c.environmentDifferences);
    std::cout << fmt::format("metrics:\n  {:<32} {:>16}  {:>16}  {:>8}\n", "", fmt::format("run {}", c.a.id),
                             fmt::format("run {}", c.b.id), "b/a");
    for (const MetricPair& m : c.metrics)
        std::cout << fmt::format("  {:<32} {:>16}  {:>16}  {:>8}\n",
                                 m.name + (m.unit.empty() ? "" : " (" + m.unit + ")"), metricText(m.a),
                                 metricText(m.b),
                                 m.a && m.b && *m.a != 0 ? fmt::format("{:.3f}", *m.b / *m.a) : "");
    return kExitOk;
}

std::string csvField(const std::string& text) {
    if (text.find_first_of(",\"\n\r") == std::string::npos) return text;
    std::string quoted = "\"";
    for (char c : text)
        quoted += c == '"' ? std::string("\"\"") : std::string(1, c);
    return quoted + "\"";
}

// Writes every run matching the filters, reading them a page at a time.
int exportRuns(RunStore& store, const RunsFlags& f) {
    if (f.format != "csv" && f.format != "json")
        fail(ErrorCategory::InvalidArgument, "--format {}: expected csv or json", f.format);
    std::ofstream file;
    if (!f.output.empty()) {
        file.open(f.output, std::ios::binary | std::ios::trunc);
        if (!file) fail(ErrorCategory::Io, "cannot write {}", f.output);
    }
    std::ostream& out = f.output.empty() ? std::cout : file;
    RunQuery query;
    query.filter = filterOf(f);
    query.sortBy = RunSortColumn::Id;
    query.descending = false;
    query.limit = 500;
    // CSV columns need every metric name up front: one pass over the metric names first.
    std::set<std::string> metricNames;
    if (f.format == "csv") {
        for (query.offset = 0;; query.offset += query.limit) {
            const auto page = store.listRuns(query);
            for (const RunRecord& r : page)
                for (const RunMetric& m : store.metrics(r.id))
                    metricNames.insert(m.name);
            if (int64_t(page.size()) < query.limit) break;
        }
        out << "id,kind,status,model,started_utc,ended_utc,error,config,environment";
        for (const std::string& name : metricNames)
            out << ',' << csvField(name);
        out << '\n';
    } else {
        out << "[";
    }
    int64_t written = 0;
    for (query.offset = 0;; query.offset += query.limit) {
        const auto page = store.listRuns(query);
        for (const RunRecord& r : page) {
            const auto metrics = store.metrics(r.id);
            if (f.format == "json") {
                out << (written ? ",\n" : "\n")
                    << runJson(r, metrics).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
            } else {
                std::map<std::string, double> values;
                for (const RunMetric& m : metrics)
                    values[m.name] = m.value;
                out << r.id << ',' << runKindName(r.kind) << ',' << runStatusName(r.status) << ','
                    << csvField(r.modelName) << ',' << timeText(r.startedMs) << ',' << timeText(r.endedMs)
                    << ',' << csvField(r.error) << ',' << csvField(r.config.dump()) << ','
                    << csvField(r.environment.dump());
                for (const std::string& name : metricNames) {
                    out << ',';
                    if (auto it = values.find(name); it != values.end()) out << fmt::format("{}", it->second);
                }
                out << '\n';
            }
            ++written;
        }
        if (int64_t(page.size()) < query.limit) break;
    }
    if (f.format == "json") out << (written ? "\n]\n" : "]\n");
    out.flush();
    if (!out)
        fail(ErrorCategory::Io, "writing the export to {} failed", f.output.empty() ? "stdout" : f.output);
    std::cerr << fmt::format("exported {} runs{}\n", written, f.output.empty() ? "" : " to " + f.output);
    return kExitOk;
}

void addFilterOptions(CLI::App* sub, RunsFlags& f) {
    sub->add_option("--kind", f.kind, "Only runs of this kind: chat, bench, eval, compress, train");
    sub->add_option("--status", f.status,
                    "Only runs with this status: running, done, failed, cancelled, interrupted");
    sub->add_option("--model", f.modelId, "Only runs of this model id");
}

} // namespace

VerbRunner addRunsVerb(CLI::App& app, const CommonFlags& flags) {
    auto f = std::make_shared<RunsFlags>();
    CLI::App* runs = app.add_subcommand("runs", "List, show, compare and export recorded runs");
    runs->require_subcommand(1);

    CLI::App* list = runs->add_subcommand("list", "List runs, newest first");
    addFilterOptions(list, *f);
    list->add_option("--sort", f->sort, "Sort by id, started, ended, kind, status or model")
        ->capture_default_str();
    list->add_flag("--asc", f->ascending, "Ascending order");
    list->add_option("--limit", f->limit, "Runs per page")->capture_default_str();
    list->add_option("--offset", f->offset, "Runs to skip")->capture_default_str();

    CLI::App* show = runs->add_subcommand("show", "Show one run: config, environment, metrics, samples");
    show->add_option("ID", f->id, "Run id")->required();

    CLI::App* compare =
        runs->add_subcommand("compare", "Configuration differences and metrics of two runs side by side");
    compare->add_option("A", f->id, "First run id")->required();
    compare->add_option("B", f->other, "Second run id")->required();

    CLI::App* exportCmd = runs->add_subcommand("export", "Export runs with their metrics as CSV or JSON");
    addFilterOptions(exportCmd, *f);
    exportCmd->add_option("--format", f->format, "csv or json")->capture_default_str();
    exportCmd->add_option("-o,--output", f->output, "Output file (default: stdout)");

    return [f, &flags, list, show, compare, exportCmd] {
        auto store = RunStore::open(storePath(flags));
        if (list->parsed()) return listRuns(*store, *f, flags);
        if (show->parsed()) return showRun(*store, *f, flags);
        if (compare->parsed()) return compareRuns(*store, *f, flags);
        if (exportCmd->parsed()) return exportRuns(*store, *f);
        return kExitUserError;
    };
}

} // namespace lathe::cli
