#pragma once
// Runs exported for spreadsheets (CSV: one row per run, one column per metric seen in any run) and
// for scripts (JSON: every field, config, environment and metrics).

#include "RunTableModel.h"

#include <string>
#include <vector>

namespace lathe::gui {

std::string runsToCsv(const std::vector<RunRow>& rows);
std::string runsToJson(const std::vector<RunRow>& rows);
// RFC 4180 quoting: fields with a comma, quote or line break are quoted, quotes doubled.
std::string csvField(const std::string& text);

} // namespace lathe::gui
