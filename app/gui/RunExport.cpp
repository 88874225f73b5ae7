#include "RunExport.h"

#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <set>

namespace lathe::gui {

std::string csvField(const std::string& text) {
    if (text.find_first_of(",\"\r\n") == std::string::npos) return text;
    std::string quoted = "\"";
    for (char c : text) {
        if (c == '"') quoted += '"';
        quoted += c;
    }
    return quoted + "\"";
}

std::string runsToCsv(const std::vector<RunRow>& rows) {
    std::set<std::string> metricNames;
    for (const RunRow& row : rows)
        for (const auto& [name, metric] : row.metrics)
            metricNames.insert(name);
    std::string out = "id,kind,model,status,started_ms,ended_ms,error";
    for (const std::string& name : metricNames) {
        out += ',';
        out += csvField(name);
    }
    out += "\n";
    for (const RunRow& row : rows) {
        const RunRecord& r = row.run;
        out += fmt::format("{},{},{},{},{},{},{}", r.id, runKindName(r.kind), csvField(r.modelName),
                           runStatusName(r.status), r.startedMs, r.endedMs ? std::to_string(*r.endedMs) : "",
                           csvField(r.error));
        for (const std::string& name : metricNames) {
            const RunMetric* metric = row.metric(name);
            out += metric ? fmt::format(",{}", metric->value) : ",";
        }
        out += "\n";
    }
    return out;
}

std::string runsToJson(const std::vector<RunRow>& rows) {
    nlohmann::json runs = nlohmann::json::array();
    for (const RunRow& row : rows) {
        const RunRecord& r = row.run;
        nlohmann::json metrics = nlohmann::json::object();
        for (const auto& [name, metric] : row.metrics)
            metrics[name] = {{"value", metric.value}, {"unit", metric.unit}};
        runs.push_back({{"id", r.id},
                        {"kind", runKindName(r.kind)},
                        {"model", r.modelName},
                        {"model_id", r.modelId ? nlohmann::json(*r.modelId) : nlohmann::json()},
                        {"status", runStatusName(r.status)},
                        {"started_ms", r.startedMs},
                        {"ended_ms", r.endedMs ? nlohmann::json(*r.endedMs) : nlohmann::json()},
                        {"error", r.error},
                        {"config", r.config},
                        {"environment", r.environment},
                        {"metrics", metrics}});
    }
    return nlohmann::json{{"runs", runs}}.dump(2);
}

} // namespace lathe::gui
